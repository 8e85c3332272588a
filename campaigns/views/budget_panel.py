"""The campaign page's budget panel: spend against the budget, what is left, credits, and today's
pacing (figures and an SVG chart of plan against spend), all in the account's currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from accounts.models import Advertiser
from accounts.money import format_micros
from campaigns.charts import PacingChart, pacing_chart
from campaigns.models import Campaign, CampaignDay, LedgerEntry
from campaigns.spend import CampaignMoney, campaign_money

CREDITS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class CreditLine:
    day: date
    reason: str
    amount: str


@dataclass(frozen=True, slots=True)
class Pacing:
    """Today's pacing, as the controller last left it."""

    day: CampaignDay
    budget: str  # what today may spend (a lifetime budget's share for today)
    planned: str  # by the last update
    spent: str  # by the last update (charged; credits come later, in the ledger)
    rate_percent: int  # the share of the auctions it could enter that the campaign enters
    updated_at: datetime
    chart: PacingChart


@dataclass(frozen=True, slots=True)
class BudgetPanel:
    lifetime: bool
    budget: str
    spent: str  # today's net (daily) or the campaign's (lifetime)
    spent_today: str
    spent_total: str  # since the campaign began
    remaining: str
    percent: int  # of the budget spent, 0 to 100
    credited: str  # "" when nothing was ever credited
    credits: tuple[CreditLine, ...]
    more_credits: bool
    pacing: Pacing | None  # None until pacing has run today
    lowered_note: str  # when the daily budget was lowered today: what still stands
    accelerated: bool


def budget_panel(advertiser: Advertiser, campaign: Campaign, *, now: datetime | None = None) -> BudgetPanel:
    """The panel of `campaign`, whose advertiser is loaded (and its budget days prefetched, or read here)."""
    now = now or timezone.now()
    money: CampaignMoney = campaign_money([campaign], at=now)[campaign.pk]
    currency = advertiser.currency
    lifetime = campaign.budget_type == Campaign.BudgetType.LIFETIME
    credits: list[LedgerEntry] = []
    if money.total.credited_micros:
        credits = list(
            LedgerEntry.objects.filter(campaign=campaign, kind=LedgerEntry.Kind.CREDIT).order_by(
                "-day", "-at", "-id"
            )[: CREDITS_SHOWN + 1]
        )
    return BudgetPanel(
        lifetime=lifetime,
        budget=format_micros(campaign.budget_micros, currency),
        spent=format_micros((money.total if lifetime else money.today).net_micros, currency),
        spent_today=format_micros(money.today.net_micros, currency),
        spent_total=format_micros(money.total.net_micros, currency),
        remaining=format_micros(money.remaining_micros, currency),
        percent=money.spent_share_percent,
        credited=format_micros(money.total.credited_micros, currency) if money.total.credited_micros else "",
        credits=tuple(
            CreditLine(entry.day, entry.get_reason_display(), format_micros(entry.amount_micros, currency))
            for entry in credits[:CREDITS_SHOWN]
        ),
        more_credits=len(credits) > CREDITS_SHOWN,
        pacing=_pacing(advertiser, money.pacing, now) if money.pacing is not None else None,
        lowered_note=_lowered_note(campaign, money.day, currency),
        accelerated=campaign.pacing == Campaign.Pacing.ACCELERATED,
    )


def _lowered_note(campaign: Campaign, day: CampaignDay | None, currency: str) -> str:
    cap = day.cap_micros if day is not None else None
    if campaign.budget_type != Campaign.BudgetType.DAILY or cap is None or cap <= campaign.budget_micros:
        return ""
    return (
        f"The daily budget was lowered today from {format_micros(cap, currency)}: delivery stops at "
        "the new budget, and what was spent before the change, up to that amount, stays charged."
    )


def _pacing(advertiser: Advertiser, day: CampaignDay, now: datetime) -> Pacing:
    currency = advertiser.currency
    return Pacing(
        day=day,
        budget=format_micros(day.budget_micros, currency),
        planned=format_micros(day.planned_micros, currency),
        spent=format_micros(day.spent_micros, currency),
        # A share to show, not money: the controller's rate in whole percent.
        rate_percent=round(min(1.0, max(0.0, day.rate)) * 100),
        updated_at=day.updated_at,
        chart=pacing_chart(day, currency, advertiser.tz, now=now),
    )
