"""Inventory: publishers and their placements (where ads are shown), with formats, sizes and floors."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.models import domain_validator
from accounts.money import MAX_MICROS
from campaigns.creative_specs import IAB_BANNER_SIZES, parse_size
from campaigns.models import Creative
from delivery.request import PlacementInfo


class Publisher(models.Model):
    name = models.CharField(max_length=200, unique=True)
    domain = models.CharField(max_length=253, unique=True, validators=[domain_validator])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlacementQuerySet(models.QuerySet["Placement"]):
    def active(self) -> PlacementQuerySet:
        return self.filter(is_active=True, publisher__is_active=True)


class Placement(models.Model):
    """A slot on a publisher's site or app. `key` is what ad requests name it by."""

    publisher = models.ForeignKey(Publisher, on_delete=models.PROTECT, related_name="placements")
    name = models.CharField(max_length=200)
    key = models.SlugField(max_length=100, unique=True)
    format = models.CharField(max_length=16, choices=Creative.Format.choices)
    sizes = ArrayField(
        models.CharField(max_length=16),
        default=list,
        blank=True,
        help_text='Accepted banner sizes as "WxH"; empty for native and video.',
    )
    floor_cpm_micros = models.BigIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_MICROS)],
        help_text="Reserve price per thousand impressions, in micros of USD.",
    )
    daily_requests = models.PositiveIntegerField(
        default=0,
        help_text="Ad requests on a typical day; used for reach estimates until traffic is measured.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PlacementQuerySet.as_manager()

    class Meta:
        ordering = ["publisher__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(floor_cpm_micros__gt=0, floor_cpm_micros__lte=MAX_MICROS),
                name="placement_floor_in_range",
            ),
            models.UniqueConstraint(fields=["publisher", "name"], name="placement_name_unique_per_publisher"),
        ]

    def __str__(self) -> str:
        return f"{self.publisher.name} / {self.name}"

    def info(self) -> PlacementInfo:
        """The placement as the serving path holds it (select_related("publisher") first)."""
        return PlacementInfo(
            id=self.pk,
            key=self.key,
            publisher_id=self.publisher_id,
            publisher_domain=self.publisher.domain,
            format=self.format,
            sizes=frozenset(parse_size(size) for size in self.sizes),
            floor_cpm_micros=self.floor_cpm_micros,
        )

    def clean(self) -> None:
        allowed = {f"{w}x{h}" for w, h in IAB_BANNER_SIZES}
        if self.format == Creative.Format.BANNER:
            if not self.sizes:
                raise ValidationError({"sizes": ["A banner placement accepts at least one size."]})
            bad = [size for size in self.sizes if size not in allowed]
            if bad:
                raise ValidationError({"sizes": [f"Not IAB sizes: {', '.join(bad)}."]})
        elif self.sizes:
            raise ValidationError({"sizes": ["Only banner placements have sizes."]})
