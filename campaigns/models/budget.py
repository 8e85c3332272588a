"""The spend ledger and each campaign's budget day: what advertisers pay, and how their day is paced.

The ledger is the authority on money. Each billable event (a valid impression of an ad group billed
per impression, a valid click of one billed per click) is one `charge` entry whose `event_id` is the
event's own (the decision's UUIDv7): the unique constraint on it, not a check in Python, makes a
charge written twice one entry. Whatever was charged over a cap anyway (the hot counters in Redis
lost, a budget change racing a charge) becomes a `credit` entry with an id of its own, shown to the
advertiser. Entries are only ever added; amounts are positive integer micros of the account
currency, and `day` is the advertiser's local day of the event.

`CampaignDay` keeps, per campaign and advertiser day, the highest daily budget in force that day (a
day costs at most that: lowering a budget stops delivery but does not make earlier spend free) and
the pacing controller's state (delivery.pacing): its plan, what was spent, and the pass-through rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from django.db import models
from django.db.models import Q, Sum
from django.db.models.functions import Now

from accounts.access import TenantQuerySet
from accounts.models import Advertiser
from accounts.money import MAX_MICROS
from campaigns.models.campaign import Campaign


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        CREDIT = "credit", "Credit"

    class Reason(models.TextChoices):
        IMPRESSION = "impression", "Impression"
        CLICK = "click", "Click"
        OVER_DAILY_BUDGET = "over_daily_budget", "Spent over the daily budget"
        OVER_LIFETIME_BUDGET = "over_lifetime_budget", "Spent over the lifetime budget"

    event_id = models.UUIDField(help_text="The billable event's id (charges), or the credit's own.")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=24, choices=Reason.choices)
    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="ledger_entries")
    ad_group_id = models.BigIntegerField(null=True, blank=True)  # empty for credits
    creative_id = models.BigIntegerField(null=True, blank=True)
    amount_micros = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    day = models.DateField(help_text="The advertiser's local day of the event.")
    at = models.DateTimeField(help_text="When the event happened (the charge's impression or click).")
    decided_at = models.DateTimeField(null=True, blank=True, help_text="The auction's time (charges).")
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["campaign", "day"]),
            models.Index(fields=["advertiser", "day"]),
            models.Index(fields=["at"], name="ledger_entry_at"),  # an hour's rollup (reporting)
        ]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="ledger_entry_one_per_event"),
            models.CheckConstraint(
                condition=Q(amount_micros__gt=0, amount_micros__lte=MAX_MICROS),
                name="ledger_entry_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(kind="charge", reason__in=["impression", "click"])
                | Q(kind="credit", reason__in=["over_daily_budget", "over_lifetime_budget"]),
                name="ledger_entry_reason_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_micros} {self.currency} ({self.event_id})"

    @property
    def signed_micros(self) -> int:
        return self.amount_micros if self.kind == self.Kind.CHARGE else -self.amount_micros


class CampaignDay(models.Model):
    """A campaign's advertiser day: the budget cap it ran under, and its pacing."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    cap_micros = models.BigIntegerField(
        null=True, blank=True, help_text="The highest daily budget in force this day (daily budgets)."
    )
    budget_micros = models.BigIntegerField(
        default=0,
        help_text="What the pacing plan spreads over the day: the daily budget, or the "
        "lifetime budget's share of the remaining days.",
    )
    spent_micros = models.BigIntegerField(default=0, help_text="Charged this day, at the last update.")
    planned_micros = models.BigIntegerField(default=0, help_text="The plan's spend by the last update.")
    rate = models.FloatField(default=1.0, help_text="The pacing pass-through rate (0 to 1).")
    stopped = models.BooleanField(
        default=False, help_text="Serving stopped for the day: the budget left is what is still outstanding."
    )
    hourly_plan = models.JSONField(default=list, blank=True, help_text="Cumulative plan at each hour's end.")
    hourly_spent = models.JSONField(
        default=list, blank=True, help_text="Cumulative spend at each hour's end."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "day"], name="campaign_day_unique"),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lte=1), name="campaign_day_rate_range"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day}"


@dataclass(frozen=True, slots=True)
class Spend:
    """A campaign's money, as the advertiser sees it: what was charged, credited, and is owed."""

    charged_micros: int
    credited_micros: int

    @property
    def net_micros(self) -> int:
        return self.charged_micros - self.credited_micros


def spend_and_today(
    days: Mapping[int, date], *, since: date | None = None, until: date | None = None
) -> dict[int, tuple[Spend, Spend]]:
    """Each campaign's charges and credits over advertiser days [since, until] (both optional: in
    all) and on its `days[campaign id]` (the advertiser's today), in one grouped query.

    The one place spend is summed: the Ads Manager, the API and reconciliation's checks read it."""
    today = Q()
    for day in set(days.values()):
        today |= Q(day=day, campaign_id__in=[cid for cid, d in days.items() if d == day])
    in_range = Q()
    if since is not None:
        in_range &= Q(day__gte=since)
    if until is not None:
        in_range &= Q(day__lte=until)
    charge, credit = Q(kind=LedgerEntry.Kind.CHARGE), Q(kind=LedgerEntry.Kind.CREDIT)
    rows = (
        # Q() | today would be `today` alone: without bounds, every row of the campaigns counts.
        LedgerEntry.objects.filter(Q(campaign_id__in=list(days)) & ((in_range | today) if in_range else Q()))
        .values("campaign_id")
        .annotate(
            charged=Sum("amount_micros", filter=charge & in_range),
            credited=Sum("amount_micros", filter=credit & in_range),
            charged_today=Sum("amount_micros", filter=charge & today),
            credited_today=Sum("amount_micros", filter=credit & today),
        )
    )
    return {
        row["campaign_id"]: (
            Spend(int(row["charged"] or 0), int(row["credited"] or 0)),
            Spend(int(row["charged_today"] or 0), int(row["credited_today"] or 0)),
        )
        for row in rows
    }
