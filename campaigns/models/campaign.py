"""Campaigns and their ad groups."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Prefetch, Q
from django.utils import timezone

from accounts.access import TenantQuerySet
from accounts.models import Advertiser
from campaigns.models import _this_second
from campaigns.models.base import (
    GOAL_BY_OBJECTIVE,
    STRATEGIES_BY_OBJECTIVE,
    BidStrategy,
    BillingEvent,
    Delivery,
    DeliveryState,
    Objective,
    OptimizationGoal,
    Switchable,
    TransitionError,
    _positive_micros,
    micros_validators,
)
from campaigns.targeting import Targeting

if TYPE_CHECKING:
    from campaigns.models.budget import CampaignDay

# ---------------------------------------------------------------------------------------------------
# Campaign


class CampaignQuerySet(TenantQuerySet["Campaign"]):
    def not_archived(self) -> CampaignQuerySet:
        return self.exclude(status=Campaign.Status.ARCHIVED)

    def active(self) -> CampaignQuerySet:
        return self.filter(status=Campaign.Status.ACTIVE)

    def in_schedule(self, at: datetime | None = None) -> CampaignQuerySet:
        at = at or timezone.now()
        return self.filter(Q(starts_at__lte=at), Q(ends_at__isnull=True) | Q(ends_at__gt=at))


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    class BudgetType(models.TextChoices):
        DAILY = "daily", "Daily"
        LIFETIME = "lifetime", "Lifetime"

    class Pacing(models.TextChoices):
        STANDARD = "standard", "Standard (even through the day)"
        ACCELERATED = "accelerated", "Accelerated (as fast as possible)"

    class FrequencyPeriod(models.TextChoices):
        HOUR = "hour", "per hour"
        DAY = "day", "per day"
        WEEK = "week", "per week"

    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    objective = models.CharField(max_length=16, choices=Objective.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    budget_type = models.CharField(max_length=16, choices=BudgetType.choices, default=BudgetType.DAILY)
    budget_micros = models.BigIntegerField(
        validators=micros_validators, help_text="Daily or lifetime budget, in micros of the account currency."
    )
    pacing = models.CharField(max_length=16, choices=Pacing.choices, default=Pacing.STANDARD)
    starts_at = models.DateTimeField(default=_this_second)
    ends_at = models.DateTimeField(null=True, blank=True)
    frequency_cap_impressions = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    frequency_cap_period = models.CharField(max_length=8, choices=FrequencyPeriod.choices, blank=True)
    conversion_event = models.ForeignKey(
        "ConversionEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="The event a conversions campaign optimises for.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["advertiser", "status"])]
        constraints = [
            _positive_micros("budget_micros"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="campaign_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(budget_type="lifetime") | Q(ends_at__isnull=False),
                name="campaign_lifetime_budget_has_end",
            ),
            models.CheckConstraint(
                # Spelled out with isnull: "impressions >= 1" is NULL for a NULL count, and a CHECK
                # passes on NULL, so the comparison alone would let a period without a count in.
                condition=(Q(frequency_cap_impressions__isnull=True) & Q(frequency_cap_period=""))
                | (
                    Q(frequency_cap_impressions__isnull=False)
                    & Q(frequency_cap_impressions__gte=1)
                    & ~Q(frequency_cap_period="")
                ),
                name="campaign_frequency_cap_complete",
            ),
            models.UniqueConstraint(
                fields=["advertiser", "name"],
                condition=~Q(status="archived"),
                name="campaign_name_unique_per_advertiser",
                violation_error_message="A campaign with this name already exists in this account.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            errors.setdefault("ends_at", []).append("The end must be after the start.")
        if self.budget_type == self.BudgetType.LIFETIME and not self.ends_at:
            errors.setdefault("ends_at", []).append("A lifetime budget needs an end date.")
        if bool(self.frequency_cap_impressions) != bool(self.frequency_cap_period):
            errors.setdefault("frequency_cap_period", []).append(
                "A frequency cap needs both a number of impressions and a period."
            )
        event = self.conversion_event if self.conversion_event_id else None
        if event is not None and not event.is_active and self.objective == Objective.CONVERSIONS:
            errors.setdefault("conversion_event", []).append("This conversion event is turned off.")
        if event is not None and event.advertiser_id != self.advertiser_id:
            errors.setdefault("conversion_event", []).append(
                "The conversion event belongs to another account."
            )
        if self.objective != Objective.CONVERSIONS and self.conversion_event_id:
            self.conversion_event = None
        if not self._state.adding and self.pk and self.ad_groups.exists():
            stored = Campaign.objects.filter(pk=self.pk).values_list("objective", flat=True).first()
            if stored is not None and stored != self.objective:
                # Ad groups' bid strategies and goals follow from the objective: as in Meta and Google
                # Ads, the objective is fixed once there are ad groups (duplicate to change it).
                errors.setdefault("objective", []).append(
                    "The objective cannot change once the campaign has ad groups; "
                    "duplicate the campaign instead."
                )
        if errors:
            raise ValidationError(errors)

    # State changes --------------------------------------------------------------------------------

    def activate(self) -> None:
        if self.status == self.Status.ACTIVE:
            return
        if self.status == self.Status.ARCHIVED:
            raise TransitionError("An archived campaign cannot be activated; duplicate it instead.")
        if not self.advertiser.is_active:
            raise TransitionError("The account is not active.")
        if self.ends_at and self.ends_at <= timezone.now():
            raise TransitionError("The campaign's end date has passed; move it before activating.")
        if self.objective == Objective.CONVERSIONS and self.conversion_event_id is None:
            raise TransitionError(
                "A conversions campaign needs a conversion event before it can be activated."
            )
        event = self.conversion_event if self.conversion_event_id else None
        if self.objective == Objective.CONVERSIONS and event is not None and not event.is_active:
            raise TransitionError(f"The conversion event {event} is turned off.")
        if not self.ad_groups.servable().exists():
            raise TransitionError(
                "The campaign needs at least one active ad group with an approved, active creative."
            )
        self._set_status(self.Status.ACTIVE)

    def pause(self) -> None:
        if self.status == self.Status.PAUSED:
            return
        if self.status != self.Status.ACTIVE:
            raise TransitionError(
                f"Only an active campaign can be paused; this one is {self.get_status_display()}."
            )
        self._set_status(self.Status.PAUSED)

    def archive(self) -> None:
        if self.status == self.Status.ARCHIVED:
            return
        self._set_status(self.Status.ARCHIVED)

    def _set_status(self, status: str) -> None:
        self.status = status
        self.save(update_fields=["status", "updated_at"])

    # Derived --------------------------------------------------------------------------------------

    def delivery(self, at: datetime | None = None) -> Delivery:
        """Why this campaign is or is not delivering right now, budget and pacing included.

        Lists read it without a query per row by prefetching delivery's ad groups and creatives, and
        `recent_days_prefetch()` for the budget day."""
        at = at or timezone.now()
        if self.status == self.Status.DRAFT:
            return Delivery(DeliveryState.DRAFT, "Not published yet.")
        if self.status == self.Status.ARCHIVED:
            return Delivery(DeliveryState.ARCHIVED, "Archived.")
        if self.status == self.Status.PAUSED:
            return Delivery(DeliveryState.PAUSED, "Paused by you.")
        if not self.advertiser.is_active:
            return Delivery(
                DeliveryState.ACCOUNT_INACTIVE, f"The account is {self.advertiser.get_status_display()}."
            )
        tz = self.advertiser.tz
        if self.starts_at > at:
            return Delivery(
                DeliveryState.NOT_STARTED, f"Starts {self.starts_at.astimezone(tz):%Y-%m-%d %H:%M %Z}."
            )
        if self.ends_at and self.ends_at <= at:
            return Delivery(DeliveryState.ENDED, f"Ended {self.ends_at.astimezone(tz):%Y-%m-%d %H:%M %Z}.")
        # Read through .all() so that prefetch_related("ad_groups__creatives") makes lists query-free.
        ad_groups = [group for group in self.ad_groups.all() if group.status == AdGroup.Status.ACTIVE]
        if not ad_groups:
            return Delivery(DeliveryState.NO_AD_GROUPS, "No ad group is active.")
        servable = [group for group in ad_groups if any(c.is_servable for c in group.creatives.all())]
        if not servable:
            return Delivery(DeliveryState.NO_APPROVED_CREATIVES, "No active creative has been approved yet.")
        local = at.astimezone(tz)
        if not any(group.runs_at_local(local) for group in servable):
            return Delivery(DeliveryState.OUTSIDE_DAYPARTING, "Outside the ad groups' scheduled hours.")
        return self._budget_delivery(self.budget_day(at))

    def _budget_delivery(self, day: CampaignDay | None) -> Delivery:
        """A campaign that may serve, as its budget day (the pacing controller's last minute) has it."""
        if day is not None and day.stopped:
            if self.budget_type == self.BudgetType.LIFETIME:
                return Delivery(
                    DeliveryState.BUDGET_SPENT, "Lifetime budget spent: raise the budget to deliver again."
                )
            return Delivery(
                DeliveryState.BUDGET_SPENT,
                f"Daily budget spent: delivery resumes at midnight ({self.advertiser.time_zone}).",
            )
        if day is not None and self.pacing == self.Pacing.STANDARD and day.rate <= 0:
            return Delivery(
                DeliveryState.LIMITED_BY_BUDGET,
                "Ahead of today's plan: pacing holds back every auction until the plan catches up.",
            )
        if day is not None and self.pacing == self.Pacing.STANDARD and day.rate < 1:
            return Delivery(
                DeliveryState.LIMITED_BY_BUDGET,
                f"Pacing is holding back {held_back(day.rate)} of the auctions it could enter, to "
                "spread the budget over the day.",
            )
        return Delivery(DeliveryState.DELIVERING, "Delivering.")

    def local_day(self, at: datetime | None = None) -> date:
        return (at or timezone.now()).astimezone(self.advertiser.tz).date()

    def budget_day(self, at: datetime | None = None) -> CampaignDay | None:
        """The campaign's budget day for the advertiser's today (None before its budget was first
        recorded or paced today): from `recent_days_prefetch()` when a list prefetched it, else one
        query."""
        from campaigns.models.budget import CampaignDay  # budget.py imports this module

        today = self.local_day(at)
        recent: list[CampaignDay] | None = getattr(self, RECENT_DAYS, None)
        if recent is not None:
            return next((day for day in recent if day.day == today), None)
        return CampaignDay.objects.filter(campaign_id=self.pk, day=today).first()


RECENT_DAYS = "recent_days"


def recent_days_prefetch(at: datetime | None = None) -> Prefetch:
    """The budget days that may be some advertiser's today at `at` (the UTC date, give or take one:
    time zones run from UTC-12 to UTC+14), as `campaign.recent_days`; Campaign.budget_day() picks
    the advertiser's own."""
    from campaigns.models.budget import CampaignDay  # budget.py imports this module

    utc_day = (at or timezone.now()).astimezone(UTC).date()
    days = CampaignDay.objects.filter(
        day__gte=utc_day - timedelta(days=1), day__lte=utc_day + timedelta(days=1)
    )
    return Prefetch("days", queryset=days, to_attr=RECENT_DAYS)


def held_back(rate: float) -> str:
    """The share of auctions a pacing rate keeps a campaign out of, in words ("38%")."""
    share = 1 - min(1.0, max(0.0, rate))
    if 0 < share < 0.01:
        return "less than 1%"
    return f"{math.floor(share * 100 + 0.5)}%"


# ---------------------------------------------------------------------------------------------------
# Ad group


class AdGroupQuerySet(TenantQuerySet["AdGroup"]):
    def servable(self) -> AdGroupQuerySet:
        """Active ad groups with at least one approved, active creative."""
        from campaigns.models.creative import Creative  # creative.py imports this module

        return self.filter(
            status=AdGroup.Status.ACTIVE,
            creatives__status=Creative.Status.ACTIVE,
            creatives__review_status=Creative.ReviewStatus.APPROVED,
        ).distinct()


class AdGroup(Switchable):
    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="+", editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="ad_groups")
    name = models.CharField(max_length=200)
    bid_strategy = models.CharField(max_length=16, choices=BidStrategy.choices)
    bid_micros = models.BigIntegerField(
        null=True,
        blank=True,
        validators=micros_validators,
        help_text="CPM, CPC or target CPA in micros; empty for lowest cost.",
    )
    targeting = models.JSONField(default=dict, blank=True)  # validated and normalised in clean()
    optimization_goal = models.CharField(max_length=16, choices=OptimizationGoal.choices, editable=False)
    billing_event = models.CharField(max_length=16, choices=BillingEvent.choices, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AdGroupQuerySet.as_manager()

    class Meta:
        ordering = ["campaign_id", "id"]
        constraints = [
            _positive_micros("bid_micros"),
            models.CheckConstraint(
                condition=Q(bid_strategy="lowest_cost", bid_micros__isnull=True)
                | (~Q(bid_strategy="lowest_cost") & Q(bid_micros__isnull=False)),
                name="ad_group_bid_matches_strategy",
            ),
            models.UniqueConstraint(
                fields=["campaign", "name"],
                condition=~Q(status="archived"),
                name="ad_group_name_unique_per_campaign",
                violation_error_message="An ad group with this name already exists in this campaign.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.advertiser_id = self.campaign.advertiser_id
        self.optimization_goal = GOAL_BY_OBJECTIVE[Objective(self.campaign.objective)]
        self.billing_event = (
            BillingEvent.CLICK if self.bid_strategy == BidStrategy.MANUAL_CPC else BillingEvent.IMPRESSION
        )
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {
                *kwargs["update_fields"],
                "advertiser",
                "optimization_goal",
                "billing_event",
            }
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        campaign = self.campaign if self.campaign_id else None
        if campaign is not None and self._state.adding and campaign.status == Campaign.Status.ARCHIVED:
            errors.setdefault("campaign", []).append("The campaign is archived.")
        if campaign is not None:
            allowed = STRATEGIES_BY_OBJECTIVE[campaign.objective]
            if self.bid_strategy not in allowed:
                labels = ", ".join(BidStrategy(s).label for s in allowed)
                errors.setdefault("bid_strategy", []).append(
                    f"A {campaign.get_objective_display()} campaign bids with: {labels}."
                )
        if self.bid_strategy == BidStrategy.LOWEST_COST and self.bid_micros is not None:
            errors.setdefault("bid_micros", []).append(
                "Lowest cost sets the bid automatically; leave it empty."
            )
        if self.bid_strategy and self.bid_strategy != BidStrategy.LOWEST_COST and self.bid_micros is None:
            errors.setdefault("bid_micros", []).append(f"{BidStrategy(self.bid_strategy).label} needs a bid.")
        try:
            self.targeting = Targeting.from_json(self.targeting).to_json()
        except ValidationError as exc:
            errors.setdefault("targeting", []).extend(
                f"{path}: {msg}" for path, msgs in exc.message_dict.items() for msg in msgs
            )
        if errors:
            raise ValidationError(errors)

    @property
    def parsed_targeting(self) -> Targeting:
        return Targeting.from_json(self.targeting)

    def runs_at_local(self, local: datetime) -> bool:
        grid = (self.targeting or {}).get("dayparting")
        return grid is None or bool(grid[local.weekday()][local.hour])

    def check_can_activate(self) -> None:
        if self.campaign.status == Campaign.Status.ARCHIVED:
            raise TransitionError("The campaign is archived.")
