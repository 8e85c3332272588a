"""Conversion events: the actions advertisers count."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.access import TenantQuerySet
from accounts.models import Advertiser
from accounts.money import MAX_MICROS

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
