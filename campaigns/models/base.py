"""Shared by the campaigns app's models: validators, enums, status transitions, delivery states."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q

from accounts.money import MAX_MICROS

http_url_validator = URLValidator(schemes=["http", "https"], message="Enter a full http(s):// URL.")
micros_validators = [
    MinValueValidator(1, "Must be greater than zero."),
    MaxValueValidator(MAX_MICROS, "Too large."),
]


def _positive_micros(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gt": 0, f"{field}__lte": MAX_MICROS}) | Q(**{f"{field}__isnull": True}),
        name=f"%(class)s_{field}_in_range",
    )


class TransitionError(ValidationError):
    """A status change that the rules do not allow; its message says why, for the user."""


class Objective(models.TextChoices):
    AWARENESS = "awareness", "Awareness"  # paid per thousand impressions (CPM)
    TRAFFIC = "traffic", "Traffic"  # paid per click (CPC)
    CONVERSIONS = "conversions", "Conversions"  # optimised CPM towards a target cost per action


class BidStrategy(models.TextChoices):
    MANUAL_CPM = "manual_cpm", "Manual CPM"
    MANUAL_CPC = "manual_cpc", "Manual CPC"
    TARGET_CPA = "target_cpa", "Target CPA"
    LOWEST_COST = "lowest_cost", "Lowest cost (automatic bid)"


class OptimizationGoal(models.TextChoices):
    IMPRESSIONS = "impressions", "Impressions"
    CLICKS = "clicks", "Link clicks"
    CONVERSIONS = "conversions", "Conversions"


class BillingEvent(models.TextChoices):
    IMPRESSION = "impression", "Impression"
    CLICK = "click", "Click"


# What each objective allows, and what the ad group then optimises for.
STRATEGIES_BY_OBJECTIVE: dict[str, tuple[str, ...]] = {
    Objective.AWARENESS: (BidStrategy.MANUAL_CPM, BidStrategy.LOWEST_COST),
    Objective.TRAFFIC: (BidStrategy.MANUAL_CPC, BidStrategy.MANUAL_CPM, BidStrategy.LOWEST_COST),
    Objective.CONVERSIONS: (BidStrategy.TARGET_CPA, BidStrategy.LOWEST_COST),
}
GOAL_BY_OBJECTIVE = {
    Objective.AWARENESS: OptimizationGoal.IMPRESSIONS,
    Objective.TRAFFIC: OptimizationGoal.CLICKS,
    Objective.CONVERSIONS: OptimizationGoal.CONVERSIONS,
}


class DeliveryState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"
    ACCOUNT_INACTIVE = "account_inactive", "Account not active"
    NOT_STARTED = "not_started", "Scheduled"
    ENDED = "ended", "Ended"
    NO_AD_GROUPS = "no_ad_groups", "No active ad groups"
    NO_APPROVED_CREATIVES = "no_approved_creatives", "No approved creatives"
    OUTSIDE_DAYPARTING = "outside_dayparting", "Outside scheduled hours"
    # Serving stopped for the day (daily budget) or for good (lifetime budget): the budget is used up.
    BUDGET_SPENT = "budget_spent", "Budget spent"
    # Serving, but pacing lets the campaign into only part of the auctions it could enter.
    LIMITED_BY_BUDGET = "limited_by_budget", "Limited by budget"
    DELIVERING = "delivering", "Delivering"


@dataclass(frozen=True, slots=True)
class Delivery:
    state: DeliveryState
    reason: str

    @property
    def is_delivering(self) -> bool:
        """Whether ads of the campaign are being served now (a paced campaign is, in part)."""
        return self.state in (DeliveryState.DELIVERING, DeliveryState.LIMITED_BY_BUDGET)


class Switchable(models.Model):
    """Ad groups and creatives: switched between active and paused; archived is final."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        abstract = True

    def pause(self) -> None:
        if self.status == self.Status.ARCHIVED:
            raise TransitionError(f"An archived {self._meta.verbose_name} cannot be paused.")
        self._set_status(self.Status.PAUSED)

    def activate(self) -> None:
        if self.status == self.Status.ARCHIVED:
            raise TransitionError(
                f"An archived {self._meta.verbose_name} cannot be activated; duplicate it instead."
            )
        self.check_can_activate()
        self._set_status(self.Status.ACTIVE)

    def check_can_activate(self) -> None:
        """Raise TransitionError when the parent forbids activation."""

    def archive(self) -> None:
        self._set_status(self.Status.ARCHIVED)

    def _set_status(self, status: str) -> None:
        if self.status != status:
            self.status = status
            self.save(update_fields=["status", "updated_at"])
