"""Creatives, their review and the review queue."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.access import TenantQuerySet
from accounts.models import Advertiser
from campaigns import creative_specs, imagehash
from campaigns.models import creative_upload_to
from campaigns.models.base import Switchable, http_url_validator
from campaigns.models.campaign import AdGroup
from campaigns.targeting import INTEREST_SEGMENTS

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
