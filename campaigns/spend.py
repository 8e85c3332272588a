"""A campaign's money as the Ads Manager and the API show it: spent today and in all, credited,
the budget left, and today's pacing.

The sums come from the ledger (campaigns.models.budget.spend_and_today: one grouped query for
a whole page, "today" being each advertiser's own) and pacing from the campaign's budget day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from campaigns.models import Campaign, CampaignDay
from campaigns.models.budget import Spend, spend_and_today

NOTHING = Spend(0, 0)


@dataclass(frozen=True, slots=True)
class CampaignMoney:
    campaign: Campaign
    today: Spend  # on the advertiser's today
    total: Spend  # since the campaign began
    day: CampaignDay | None  # today's budget day, if its cap or pacing was recorded today

    @property
    def pacing(self) -> CampaignDay | None:
        """Today's budget day once pacing has run (a saved budget records the day's cap before)."""
        return self.day if self.day is not None and self.day.hourly_plan else None

    @property
    def remaining_micros(self) -> int:
        """What the budget still allows: today's (daily budget) or in all (lifetime), never below 0."""
        spent = self.total if self.campaign.budget_type == Campaign.BudgetType.LIFETIME else self.today
        return max(0, self.campaign.budget_micros - spent.net_micros)

    @property
    def spent_share_percent(self) -> int:
        """How much of the budget is spent, in whole percent (0 to 100), for the progress bar."""
        spent = self.total if self.campaign.budget_type == Campaign.BudgetType.LIFETIME else self.today
        if self.campaign.budget_micros <= 0:
            return 0
        return max(0, min(100, spent.net_micros * 100 // self.campaign.budget_micros))


def campaign_money(campaigns: Iterable[Campaign], *, at: datetime | None = None) -> dict[int, CampaignMoney]:
    """Each campaign's money at `at` (now). The campaigns' advertisers must be loaded (their time
    zone says which day is today); prefetch `recent_days_prefetch()` for the budget days of a list."""
    at = at or timezone.now()
    campaigns = list(campaigns)
    if not campaigns:
        return {}
    sums = spend_and_today({c.pk: c.local_day(at) for c in campaigns})
    money = {}
    for c in campaigns:
        in_all, today = sums.get(c.pk, (NOTHING, NOTHING))
        money[c.pk] = CampaignMoney(c, today, in_all, c.budget_day(at))
    return money
