"""Campaigns, ad groups, creatives, conversion events and the audit log.

Advertiser -> Campaign -> Ad group -> Creative. Every row carries its advertiser (denormalised on ad
groups and creatives, kept equal to the parent's in save()) so that tenant scoping is one filter.

The status rules, as Ads Manager users expect them:
- A campaign starts as a draft. It can be activated only when its account is active, its schedule
  has not ended, and it has at least one active ad group with an approved, active creative; a
  conversions campaign also needs its conversion event. Active and paused switch freely.
- Archived is final for campaigns, ad groups and creatives (duplicate to start again); archived rows
  are kept for reports.
- Whether an active campaign actually delivers is its *delivery state*, derived, never stored.
- A creative serves only when approved; any change to its content (image, text, landing URL, VAST)
  sends an approved creative back to review.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.access import TenantQuerySet
from accounts.models import Advertiser, domain_validator
from accounts.money import MAX_MICROS
from campaigns import creative_specs, imagehash
from campaigns.targeting import INTEREST_SEGMENTS, Targeting

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


def _this_second() -> datetime:
    # Schedules are edited to the second (the admin's and browsers' widgets have no microseconds).
    return timezone.now().replace(microsecond=0)


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
    DELIVERING = "delivering", "Delivering"


@dataclass(frozen=True, slots=True)
class Delivery:
    state: DeliveryState
    reason: str

    @property
    def is_delivering(self) -> bool:
        return self.state == DeliveryState.DELIVERING


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
        """Why this campaign is or is not delivering right now (budget limits come with the ledger)."""
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
        return Delivery(DeliveryState.DELIVERING, "Delivering.")


# ---------------------------------------------------------------------------------------------------
# Ad group


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


class AdGroupQuerySet(TenantQuerySet["AdGroup"]):
    def servable(self) -> AdGroupQuerySet:
        """Active ad groups with at least one approved, active creative."""
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


# ---------------------------------------------------------------------------------------------------
# Creative


class RejectionReason(models.TextChoices):
    MISLEADING_CLAIMS = "misleading_claims", "Misleading claims"
    PROHIBITED_PRODUCT = "prohibited_product", "Prohibited product or service"
    INAPPROPRIATE_CONTENT = "inappropriate_content", "Inappropriate content"
    LANDING_PAGE_MISMATCH = "landing_page_mismatch", "Landing page does not match the ad"
    LOW_IMAGE_QUALITY = "low_image_quality", "Low image quality"
    TRADEMARK = "trademark", "Trademark infringement"
    OTHER = "other", "Other (see note)"


class CallToAction(models.TextChoices):
    LEARN_MORE = "learn_more", "Learn more"
    SHOP_NOW = "shop_now", "Shop now"
    SIGN_UP = "sign_up", "Sign up"
    DOWNLOAD = "download", "Download"
    BOOK_NOW = "book_now", "Book now"
    CONTACT_US = "contact_us", "Contact us"
    GET_OFFER = "get_offer", "Get offer"
    WATCH_MORE = "watch_more", "Watch more"


CREATIVE_CATEGORIES = [(segment, segment.replace("_", " & ").capitalize()) for segment in INTEREST_SEGMENTS]


class CreativeQuerySet(TenantQuerySet["Creative"]):
    def servable(self) -> CreativeQuerySet:
        return self.filter(status=Creative.Status.ACTIVE, review_status=Creative.ReviewStatus.APPROVED)

    def awaiting_review(self) -> CreativeQuerySet:
        return self.filter(review_status=Creative.ReviewStatus.PENDING).exclude(
            status=Creative.Status.ARCHIVED
        )


def creative_upload_to(instance: Creative, filename: str) -> str:
    return f"creatives/{instance.advertiser_id}/{timezone.now():%Y/%m}/{filename}"


class Creative(Switchable):
    class Format(models.TextChoices):
        BANNER = "banner", "Banner (image)"
        NATIVE = "native", "Native"
        VIDEO = "video", "Video (VAST)"

    class ReviewStatus(models.TextChoices):
        PENDING = "pending", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    HEADLINE_MAX, BODY_MAX = 40, 125
    CONTENT_FIELDS = (
        "format",
        "image",
        "headline",
        "body",
        "call_to_action",
        "landing_url",
        "vast_url",
        "vast_xml",
    )

    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="+", editable=False)
    ad_group = models.ForeignKey(AdGroup, on_delete=models.PROTECT, related_name="creatives")
    name = models.CharField(max_length=200)
    format = models.CharField(max_length=16, choices=Format.choices)
    landing_url = models.URLField(max_length=2048, validators=[http_url_validator])
    image = models.ImageField(
        upload_to=creative_upload_to, blank=True, width_field="width", height_field="height"
    )
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    headline = models.CharField(max_length=HEADLINE_MAX, blank=True)
    body = models.CharField(max_length=BODY_MAX, blank=True)
    call_to_action = models.CharField(max_length=16, choices=CallToAction.choices, blank=True)
    vast_url = models.URLField(max_length=2048, blank=True, validators=[http_url_validator])
    vast_xml = models.TextField(blank=True)
    # What the ad is about, in the interest taxonomy of targeting: publishers block categories of ads
    # (OpenRTB bcat) and people respond to ads about what interests them.
    category = models.CharField(
        max_length=32,
        choices=CREATIVE_CATEGORIES,
        blank=True,
        help_text="What the ad is about; publishers can block categories.",
    )
    review_status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, editable=False
    )
    rejection_reasons = ArrayField(
        models.CharField(max_length=32, choices=RejectionReason.choices),
        default=list,
        blank=True,
        editable=False,
    )
    review_note = models.TextField(blank=True, editable=False)
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    submitted_at = models.DateTimeField(default=timezone.now, editable=False)
    content_hash = models.CharField(max_length=64, editable=False)
    approved_content_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Not content: derived from the image, or the outcome of the automatic checks (campaigns.policy).
    image_hash = models.CharField(max_length=16, blank=True, editable=False, db_index=True)
    policy_checks = models.JSONField(default=list, blank=True, editable=False)
    policy_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CreativeQuerySet.as_manager()

    # The image that image_hash was computed from: another name means a new image to hash.
    _hashed_image_name: str | None = None

    class Meta:
        ordering = ["ad_group_id", "id"]
        indexes = [
            models.Index(
                fields=["submitted_at"], condition=Q(review_status="pending"), name="creative_review_queue"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(review_status="rejected") | Q(rejection_reasons=[]),
                name="creative_reasons_only_if_rejected",
            ),
            models.CheckConstraint(
                condition=~Q(review_status="rejected") | ~Q(rejection_reasons=[]),
                name="creative_rejection_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(landing_url__startswith="https://") | Q(landing_url__startswith="http://"),
                name="creative_landing_url_is_http",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.advertiser_id = self.ad_group.advertiser_id
        if self.image and not self.image._committed:
            # Hash the upload before storing it (storage may move a temporary file away), then store
            # it first: storage may rename it, and the content hash must see the final name.
            self.image_hash = imagehash.dhash(self.image.file)
            self.image.save(self.image.name, self.image.file, save=False)
            self._hashed_image_name = self.image.name
        self._refresh_image_hash()
        self.content_hash = self.compute_content_hash()
        changed_since_approval = (
            self.review_status == self.ReviewStatus.APPROVED
            and self.content_hash != self.approved_content_hash
        )
        if changed_since_approval or (
            self.review_status == self.ReviewStatus.REJECTED and self._content_changed()
        ):
            self._send_to_review()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {
                *kwargs["update_fields"],
                "advertiser",
                "content_hash",
                "review_status",
                "rejection_reasons",
                "review_note",
                "reviewed_at",
                "reviewed_by",
                "submitted_at",
                "approved_content_hash",
                "image_hash",
            }
        super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Creative:
        instance = super().from_db(db, field_names, values)
        if "image" in instance.__dict__:
            instance._hashed_image_name = str(instance.__dict__["image"] or "")
        return instance

    def _refresh_image_hash(self) -> None:
        name = self.image.name if self.image else ""
        if name == self._hashed_image_name and (self.image_hash or not name):
            return
        if not name:
            self.image_hash = ""
        else:
            try:
                with self.image.open("rb") as stored:
                    self.image_hash = imagehash.dhash(stored)
            except OSError:  # the stored file is gone: nothing to compare
                self.image_hash = ""
        self._hashed_image_name = name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def need(field: str, why: str) -> None:
            if not getattr(self, field):
                errors.setdefault(field, []).append(why)

        if self.format in (self.Format.BANNER, self.Format.NATIVE):
            need("image", f"A {self.get_format_display().lower()} creative needs an image.")
            if self.image and not getattr(self.image, "_committed", True):
                try:
                    info = creative_specs.inspect_image(self.image.file)
                    if self.format == self.Format.BANNER:
                        creative_specs.check_banner_dimensions(info.width, info.height)
                    else:
                        creative_specs.check_native_dimensions(info.width, info.height)
                except ValidationError as exc:
                    errors.setdefault("image", []).extend(exc.messages)
        if self.format == self.Format.NATIVE:
            need("headline", "A native creative needs a headline.")
            need("body", "A native creative needs body text.")
            need("call_to_action", "A native creative needs a call to action.")
        if self.format == self.Format.VIDEO:
            if not self.vast_url and not self.vast_xml:
                errors.setdefault("vast_url", []).append("A video creative needs a VAST URL or VAST XML.")
            if self.vast_xml and "<VAST" not in self.vast_xml[:2000]:
                errors.setdefault("vast_xml", []).append("This is not a VAST document (no <VAST> element).")
        if self.ad_group_id and self.ad_group.status == AdGroup.Status.ARCHIVED and self._state.adding:
            errors.setdefault("ad_group", []).append("The ad group is archived.")
        if errors:
            raise ValidationError(errors)

    def compute_content_hash(self) -> str:
        content = {name: str(getattr(self, name) or "") for name in self.CONTENT_FIELDS}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def _content_changed(self) -> bool:
        if self._state.adding or self.pk is None:
            return False
        stored = type(self).objects.filter(pk=self.pk).values_list("content_hash", flat=True).first()
        return stored is not None and stored != self.content_hash

    def _send_to_review(self) -> None:
        """An edited creative is reviewed again before it can serve (so is a rejected one, resubmitted)."""
        self.review_status = self.ReviewStatus.PENDING
        self.rejection_reasons = []
        self.review_note = ""
        self.reviewed_at = None
        self.reviewed_by = None
        self.approved_content_hash = ""
        self.submitted_at = timezone.now()

    # Review decisions -----------------------------------------------------------------------------

    def approve(self, *, by: Any) -> None:
        self.review_status = self.ReviewStatus.APPROVED
        self.rejection_reasons = []
        self.review_note = ""
        self.reviewed_at = timezone.now()
        self.reviewed_by = by
        self.approved_content_hash = self.compute_content_hash()
        self.save()

    def reject(self, *, by: Any, reasons: list[str], note: str = "") -> None:
        if not reasons:
            raise ValidationError({"rejection_reasons": ["Give at least one reason for a rejection."]})
        unknown = [r for r in reasons if r not in RejectionReason.values]
        if unknown:
            raise ValidationError({"rejection_reasons": [f"Unknown reason codes: {', '.join(unknown)}."]})
        if RejectionReason.OTHER in reasons and not note.strip():
            raise ValidationError({"review_note": ["Explain an 'other' rejection in the note."]})
        self.review_status = self.ReviewStatus.REJECTED
        self.rejection_reasons = list(dict.fromkeys(reasons))
        self.review_note = note.strip()
        self.reviewed_at = timezone.now()
        self.reviewed_by = by
        self.approved_content_hash = ""
        self.save()

    @property
    def is_servable(self) -> bool:
        return self.status == self.Status.ACTIVE and self.review_status == self.ReviewStatus.APPROVED


class ReviewQueueManager(models.Manager["CreativeReview"]):
    def get_queryset(self) -> models.QuerySet[CreativeReview]:
        queue = CreativeQuerySet(self.model, using=self._db).awaiting_review()
        return cast("models.QuerySet[CreativeReview]", queue.order_by("submitted_at", "id"))


class CreativeReview(Creative):
    """The review queue in the admin: creatives in review, oldest submission first."""

    objects = ReviewQueueManager()  # type: ignore[assignment,misc]

    class Meta:
        proxy = True
        verbose_name = "creative to review"
        verbose_name_plural = "review queue"
        permissions = [("review_creative", "Can approve or reject creatives")]


def _normalise_term(term: str) -> str:
    return " ".join(term.split()).lower()


class ProhibitedTerm(models.Model):
    """A word or phrase that may not appear in an ad (checked as a whole word, any case)."""

    term = models.CharField(max_length=100, unique=True, help_text="Stored in lower case.")
    reason = models.CharField(
        max_length=32, choices=RejectionReason.choices, default=RejectionReason.PROHIBITED_PRODUCT
    )
    blocking = models.BooleanField(
        default=True, help_text="Reject automatically; otherwise the match is only shown to the reviewer."
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.term = _normalise_term(self.term)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.term = _normalise_term(self.term)
        if not self.term:
            raise ValidationError({"term": ["Enter a word or phrase."]})


class DeniedDomain(models.Model):
    """A domain that landing pages may not point to; its subdomains are denied with it."""

    domain = models.CharField(max_length=253, unique=True, validators=[domain_validator])
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.domain = self.domain.strip().lower().rstrip(".")
        super().save(*args, **kwargs)

    def clean_fields(self, exclude: Any = None) -> None:
        # Before the validator runs, so that "Example.COM." is accepted as example.com.
        self.domain = self.domain.strip().lower().rstrip(".")
        super().clean_fields(exclude=exclude)


# ---------------------------------------------------------------------------------------------------
# Conversion events


class ConversionEvent(models.Model):
    """An action the advertiser counts (purchase, sign-up...), reported by postback or pixel."""

    class Category(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        SIGN_UP = "sign_up", "Sign-up"
        LEAD = "lead", "Lead"
        ADD_TO_CART = "add_to_cart", "Add to cart"
        INSTALL = "install", "App install"
        PAGE_VIEW = "page_view", "Key page view"
        OTHER = "other", "Other"

    class Counting(models.TextChoices):
        EVERY = "every", "Every conversion"  # purchases: each one has value
        ONE = "one", "One per click"  # leads, sign-ups

    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="conversion_events")
    name = models.CharField(max_length=100)
    category = models.CharField(max_length=16, choices=Category.choices)
    click_window_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    view_window_days = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(0), MaxValueValidator(30)]
    )
    counting = models.CharField(max_length=8, choices=Counting.choices, default=Counting.EVERY)
    default_value_micros = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_MICROS)],
        help_text="Value used when a conversion arrives without one.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["advertiser", "name"], name="conversion_event_name_unique"),
            models.CheckConstraint(
                condition=Q(click_window_days__gte=1, click_window_days__lte=90),
                name="conversion_click_window_range",
            ),
            models.CheckConstraint(
                condition=Q(view_window_days__gte=0, view_window_days__lte=30),
                name="conversion_view_window_range",
            ),
            models.CheckConstraint(
                condition=Q(default_value_micros__isnull=True)
                | Q(default_value_micros__gte=0, default_value_micros__lte=MAX_MICROS),
                name="conversion_default_value_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name
