"""Conversion events (the actions advertisers count) and the conversions reported for them.

A conversion arrives by server-to-server postback or pixel (delivery.conversions takes it in) and is
kept once: the constraints below, not checks in Python, make a postback sent twice, or twenty times
at once, one row. Each is attributed when it arrives to the ad that earned it (the last click within
the event's click window, else the last impression within its view window) and carries that ad's
campaign, ad group and creative, so that CPA, ROAS and the pCVR model's labels read one table.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Self

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.access import TenantQuerySet
from accounts.models import Advertiser
from accounts.money import MAX_MICROS
from campaigns.models.campaign import Campaign


def new_event_token() -> str:
    """An event's public token for its postback and pixel URLs: 192 random bits, so that nobody can
    report conversions to another account's event by guessing."""
    return secrets.token_urlsafe(24)


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
    token = models.CharField(
        max_length=64,
        unique=True,
        default=new_event_token,
        editable=False,
        help_text="Names the event in its postback and pixel URLs.",
    )
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


# ---------------------------------------------------------------------------------------------------
# Conversions


class ConversionQuerySet(TenantQuerySet["Conversion"]):
    def counted(self) -> Self:
        """What reports, CPA, ROAS and the models count: attributed to an ad, and not a test."""
        return self.filter(test=False).exclude(attribution=Conversion.Attribution.NONE)

    def occurred_between(self, since: datetime, until: datetime) -> Self:
        """Conversions that happened in [since, until)."""
        return self.filter(occurred_at__gte=since, occurred_at__lt=until)

    def converted_clicks(self) -> models.QuerySet[Conversion, Any]:
        """The decision event ids of the clicks that led to a counted conversion: the pCVR model's
        positive labels (every other valid click is a negative once its click window has passed)."""
        return (
            self.counted()
            .filter(attribution=Conversion.Attribution.CLICK)
            .values_list("attributed_event_id", flat=True)
            .distinct()
        )


class Conversion(models.Model):
    """One conversion the advertiser reported: their own id for it, when it happened, its value, and
    the ad it is attributed to (if any), fixed when it arrives."""

    class Source(models.TextChoices):
        POSTBACK = "postback", "Postback"
        PIXEL = "pixel", "Pixel"
        TEST = "test", "Test from Ads Manager"

    class Attribution(models.TextChoices):
        CLICK = "click", "Click"
        VIEW = "view", "View"
        NONE = "none", "Not attributed"

    advertiser = models.ForeignKey(Advertiser, on_delete=models.PROTECT, related_name="conversions")
    conversion_event = models.ForeignKey(
        ConversionEvent, on_delete=models.PROTECT, related_name="conversions"
    )
    event_id = models.CharField(
        max_length=128, help_text="The advertiser's own id for it, such as an order number."
    )
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    value_micros = models.BigIntegerField(
        null=True, blank=True, help_text="As reported, else the event's default value; empty when neither."
    )
    currency = models.CharField(max_length=3)
    click_id = models.UUIDField(
        null=True, blank=True, help_text="The click id the advertiser sent back (awclid)."
    )
    user_key = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    test = models.BooleanField(default=False, help_text="Shown, never attributed nor counted.")
    ip = models.GenericIPAddressField(null=True, blank=True)

    attribution = models.CharField(max_length=8, choices=Attribution.choices, default=Attribution.NONE)
    attributed_event_id = models.UUIDField(
        null=True, blank=True, help_text="The decision event id of the click or impression credited."
    )
    # A reference for joins only: attribution must never fail, nor block a campaign's deletion.
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="conversions",
    )
    ad_group_id = models.BigIntegerField(null=True, blank=True)
    creative_id = models.BigIntegerField(null=True, blank=True)
    touch_at = models.DateTimeField(
        null=True, blank=True, help_text="When the credited click or impression happened."
    )
    # For events counted once per click: the ad (decision event id) this conversion is counted for,
    # else empty. Its unique constraint keeps a second conversion on the same ad out, even when both
    # arrive at once.
    one_per_click_key = models.UUIDField(null=True, blank=True, editable=False)

    objects = ConversionQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["conversion_event", "-received_at"], name="conversion_event_recent"),
            models.Index(
                fields=["campaign", "occurred_at"],
                name="conversion_campaign_time",
                condition=Q(campaign__isnull=False),
            ),
            # An hour's rollup reads the conversions credited to the hour's clicks and impressions.
            models.Index(
                fields=["touch_at"], name="conversion_touch_time", condition=Q(touch_at__isnull=False)
            ),
        ]
        constraints = [
            # De-duplication: one conversion per event id of an event, however often it is sent.
            models.UniqueConstraint(
                fields=["conversion_event", "event_id"], name="conversion_event_id_unique"
            ),
            # The same click converting at the same instant is the same conversion sent twice.
            models.UniqueConstraint(
                fields=["conversion_event", "click_id", "occurred_at"],
                condition=Q(click_id__isnull=False),
                name="conversion_click_time_unique",
            ),
            models.UniqueConstraint(
                fields=["conversion_event", "one_per_click_key"],
                condition=Q(one_per_click_key__isnull=False),
                name="conversion_one_per_click_unique",
            ),
            models.CheckConstraint(
                condition=Q(value_micros__isnull=True) | Q(value_micros__gte=0, value_micros__lte=MAX_MICROS),
                name="conversion_value_range",
            ),
            models.CheckConstraint(
                condition=Q(attribution="none", attributed_event_id__isnull=True, campaign__isnull=True)
                | (
                    Q(attribution__in=["click", "view"], test=False)
                    & Q(attributed_event_id__isnull=False, campaign__isnull=False, touch_at__isnull=False)
                ),
                name="conversion_attribution_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversion_event_id}:{self.event_id}"
