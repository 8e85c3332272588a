"""Creatives: what an upload must be, the review decisions, and what sends a creative back to review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction

from accounts.audit import Actor
from accounts.models import AuditLog
from campaigns import services
from campaigns.creative_specs import IAB_BANNER_SIZES, MAX_IMAGE_BYTES
from campaigns.models import AdGroup, Creative, RejectionReason
from tests.factories import (
    AdGroupFactory,
    CreativeFactory,
    UserFactory,
    approved_creative,
    image_bytes,
    png_file,
)

pytestmark = pytest.mark.django_db

VAST = '<?xml version="1.0"?><VAST version="4.2"><Ad id="1"><InLine></InLine></Ad></VAST>'


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _errors(creative: Creative) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as exc:
        creative.full_clean()
    return exc.value.message_dict


def _native(**kwargs: Any) -> Creative:
    fields = {
        "format": Creative.Format.NATIVE, "image": png_file(1200, 628), "headline": "Fresh roasts",
        "body": "Delivered every week.", "call_to_action": "shop_now",
    }  # fmt: skip
    return CreativeFactory.build(ad_group=AdGroupFactory(), **(fields | kwargs))


# What an upload must be ---------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), IAB_BANNER_SIZES)
def test_every_iab_size_is_a_valid_banner(width: int, height: int) -> None:
    CreativeFactory.build(ad_group=AdGroupFactory(), image=png_file(width, height)).full_clean()


@pytest.mark.parametrize(("width", "height"), [(301, 250), (250, 300), (1200, 628), (1, 1)])
def test_a_banner_of_another_size_is_refused(width: int, height: int) -> None:
    creative = CreativeFactory.build(ad_group=AdGroupFactory(), image=png_file(width, height))
    assert "is not an IAB size" in _errors(creative)["image"][0]


@pytest.mark.parametrize("fmt", ["JPEG", "GIF"])
def test_jpeg_and_gif_banners_are_accepted(fmt: str) -> None:
    image = png_file(300, 250, name=f"banner.{fmt.lower()}", fmt=fmt)
    CreativeFactory.build(ad_group=AdGroupFactory(), image=image).full_clean()


def test_a_bmp_is_refused_whatever_its_name() -> None:
    creative = CreativeFactory.build(
        ad_group=AdGroupFactory(), image=png_file(300, 250, name="banner.png", fmt="BMP")
    )
    assert _errors(creative)["image"] == ["BMP images are not accepted. Upload a PNG, JPEG, GIF or WebP."]


@pytest.mark.parametrize(
    "content", [b"just some text, not an image\n", b"\x89PNG\r\n\x1a\n" + b"truncated", b""]
)  # fmt: skip
def test_a_file_that_is_not_an_image_is_refused(content: bytes) -> None:
    upload = SimpleUploadedFile("banner.png", content, content_type="image/png")
    creative = CreativeFactory.build(ad_group=AdGroupFactory(), image=upload)
    assert "image" in _errors(creative)


def test_an_image_over_1_mb_is_refused() -> None:
    padded = image_bytes(300, 250) + b"\0" * MAX_IMAGE_BYTES
    upload = SimpleUploadedFile("banner.png", padded, content_type="image/png")
    creative = CreativeFactory.build(ad_group=AdGroupFactory(), image=upload)
    assert "the limit is 1024 KB" in _errors(creative)["image"][0]


def test_a_banner_or_native_needs_an_image() -> None:
    assert "image" in _errors(CreativeFactory.build(ad_group=AdGroupFactory(), image=None))
    assert "image" in _errors(_native(image=None))


@pytest.mark.parametrize(("width", "height"), [(1200, 628), (600, 314), (1200, 1200), (600, 600)])
def test_native_images_are_landscape_or_square(width: int, height: int) -> None:
    _native(image=png_file(width, height)).full_clean()


@pytest.mark.parametrize(("width", "height"), [(500, 500), (1200, 900), (628, 1200), (300, 250)])
def test_other_native_images_are_refused(width: int, height: int) -> None:
    assert "does not fit" in _errors(_native(image=png_file(width, height)))["image"][0]


def test_a_native_creative_needs_its_text() -> None:
    errors = _errors(_native(headline="", body="", call_to_action=""))
    assert {"headline", "body", "call_to_action"} <= set(errors)


def test_native_text_has_limits() -> None:
    errors = _errors(_native(headline="h" * 41, body="b" * 126, call_to_action="buy_everything"))
    assert {"headline", "body", "call_to_action"} <= set(errors)


def test_a_video_needs_vast() -> None:
    video = CreativeFactory.build(ad_group=AdGroupFactory(), format=Creative.Format.VIDEO, image=None)
    assert "vast_url" in _errors(video)
    video.vast_xml = "<html>not vast</html>"
    assert "vast_xml" in _errors(video)
    video.vast_xml = VAST
    video.full_clean()
    CreativeFactory.build(
        ad_group=AdGroupFactory(), format="video", image=None, vast_url="https://ads.example.com/vast.xml"
    ).full_clean()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://example.com/landing",
        "example.com/landing",
        "data:text/html,hi",
        "https://",
        "",
    ],
)
def test_the_landing_url_must_be_http_or_https(url: str) -> None:
    creative = CreativeFactory.build(ad_group=AdGroupFactory(), landing_url=url)
    assert "landing_url" in _errors(creative)


@pytest.mark.parametrize("url", ["https://example.com/landing?utm_source=adwright", "http://example.com/"])
def test_http_and_https_landing_urls_are_accepted(url: str) -> None:
    CreativeFactory.build(ad_group=AdGroupFactory(), landing_url=url).full_clean()


def test_a_vast_url_must_be_http_or_https() -> None:
    video = CreativeFactory.build(
        ad_group=AdGroupFactory(), format="video", image=None, vast_url="ftp://ads.example.com/vast.xml"
    )
    assert "vast_url" in _errors(video)


def test_no_new_creative_in_an_archived_ad_group() -> None:
    ad_group = AdGroupFactory(status=AdGroup.Status.ARCHIVED)
    assert _errors(CreativeFactory.build(ad_group=ad_group))["ad_group"] == ["The ad group is archived."]


def test_an_invalid_upload_leaves_no_row_no_audit_entry_and_no_file(media_root: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        services.create_creative(
            ad_group=AdGroupFactory(), actor=Actor.system(), name="Too wide", format="banner",
            landing_url="https://example.com/", image=png_file(301, 250),
        )  # fmt: skip
    assert "image" in exc.value.message_dict
    assert not Creative.objects.exists()
    assert not AuditLog.objects.exists()
    assert not [path for path in media_root.rglob("*") if path.is_file()]


def test_a_valid_upload_is_stored_with_its_dimensions(media_root: Path) -> None:
    creative = services.create_creative(
        ad_group=AdGroupFactory(), actor=Actor.system(), name="MPU", format="banner",
        landing_url="https://example.com/", image=png_file(300, 250),
    )  # fmt: skip
    assert (creative.width, creative.height) == (300, 250)
    assert creative.image.name.startswith(f"creatives/{creative.advertiser_id}/")
    assert (media_root / creative.image.name).is_file()
    assert creative.advertiser_id == creative.ad_group.advertiser_id
    assert creative.review_status == Creative.ReviewStatus.PENDING


# Review decisions ---------------------------------------------------------------------------------


def test_approval_records_who_when_and_the_approved_content() -> None:
    reviewer = UserFactory(is_staff=True)
    creative = CreativeFactory()
    creative.approve(by=reviewer)
    stored = Creative.objects.get(pk=creative.pk)
    assert stored.review_status == Creative.ReviewStatus.APPROVED
    assert stored.reviewed_by == reviewer
    assert stored.reviewed_at is not None
    assert stored.approved_content_hash == stored.content_hash == stored.compute_content_hash()
    assert stored.is_servable
    assert list(Creative.objects.servable()) == [stored]
    assert not Creative.objects.awaiting_review().exists()


def test_a_rejection_needs_a_reason() -> None:
    creative = CreativeFactory()
    with pytest.raises(ValidationError) as exc:
        creative.reject(by=None, reasons=[])
    assert "rejection_reasons" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        creative.reject(by=None, reasons=["ugly"])
    assert "Unknown reason codes: ugly." in exc.value.message_dict["rejection_reasons"]
    assert Creative.objects.get(pk=creative.pk).review_status == Creative.ReviewStatus.PENDING


def test_other_needs_a_note() -> None:
    creative = CreativeFactory()
    with pytest.raises(ValidationError) as exc:
        creative.reject(by=None, reasons=[RejectionReason.OTHER], note="   ")
    assert "review_note" in exc.value.message_dict
    creative.reject(
        by=None, reasons=[RejectionReason.OTHER, RejectionReason.OTHER], note=" Competitor logo. "
    )
    stored = Creative.objects.get(pk=creative.pk)
    assert stored.review_status == Creative.ReviewStatus.REJECTED
    assert stored.rejection_reasons == ["other"]
    assert stored.review_note == "Competitor logo."
    assert not stored.is_servable


def test_rejecting_an_approved_creative_withdraws_the_approval() -> None:
    creative = approved_creative()
    creative.reject(by=None, reasons=[RejectionReason.TRADEMARK])
    stored = Creative.objects.get(pk=creative.pk)
    assert (stored.review_status, stored.approved_content_hash) == (Creative.ReviewStatus.REJECTED, "")


def test_rejecting_a_new_upload_sticks() -> None:
    creative = services.create_creative(
        ad_group=AdGroupFactory(), actor=Actor.system(), name="New", format="banner",
        landing_url="https://example.com/", image=png_file(300, 250),
    )  # fmt: skip
    services.review_creative(
        creative=creative, actor=Actor.system(), approve=False, reasons=[RejectionReason.LOW_IMAGE_QUALITY]
    )
    assert creative.review_status == Creative.ReviewStatus.REJECTED


# Edits and review ---------------------------------------------------------------------------------


def _native_stored(**kwargs: Any) -> Creative:
    return CreativeFactory(
        format="native", image=png_file(1200, 628), headline="Fresh roasts", body="Delivered weekly.",
        call_to_action="shop_now", **kwargs,
    )  # fmt: skip


CONTENT_EDITS = {
    "headline": "Freshest roasts",
    "body": "Delivered every Monday.",
    "call_to_action": "sign_up",
    "landing_url": "https://example.com/other",
    "image": "new image",
}


def _edit(creative: Creative, field: str) -> None:
    value: Any = CONTENT_EDITS[field]
    if field == "image":
        value = png_file(1200, 628, name="other.png")
    setattr(creative, field, value)
    creative.full_clean()
    creative.save()


@pytest.mark.parametrize("field", list(CONTENT_EDITS))
def test_a_content_edit_sends_an_approved_creative_back_to_review(field: str) -> None:
    creative = _native_stored()
    creative.approve(by=UserFactory())
    _edit(creative, field)
    stored = Creative.objects.get(pk=creative.pk)
    assert stored.review_status == Creative.ReviewStatus.PENDING
    assert (stored.reviewed_by, stored.reviewed_at, stored.approved_content_hash) == (None, None, "")
    assert stored.submitted_at > stored.created_at
    assert not stored.is_servable
    assert list(Creative.objects.awaiting_review()) == [stored]


def test_editing_the_vast_of_an_approved_video_sends_it_back_to_review() -> None:
    video = CreativeFactory(format="video", image=None, vast_xml=VAST)
    video.approve(by=None)
    video.vast_xml = VAST.replace('id="1"', 'id="2"')
    video.save()
    assert Creative.objects.get(pk=video.pk).review_status == Creative.ReviewStatus.PENDING


@pytest.mark.parametrize("field", list(CONTENT_EDITS))
def test_editing_a_rejected_creative_resubmits_it(field: str) -> None:
    creative = _native_stored()
    creative.reject(by=None, reasons=[RejectionReason.MISLEADING_CLAIMS, RejectionReason.OTHER], note="Why")
    _edit(creative, field)
    stored = Creative.objects.get(pk=creative.pk)
    assert stored.review_status == Creative.ReviewStatus.PENDING
    assert (stored.rejection_reasons, stored.review_note) == ([], "")


def test_a_non_content_edit_keeps_the_approval() -> None:
    creative = approved_creative()
    creative.name = "Renamed"
    creative.full_clean()
    creative.save()
    creative.pause()
    creative.activate()
    stored = Creative.objects.get(pk=creative.pk)
    assert stored.review_status == Creative.ReviewStatus.APPROVED
    assert stored.name == "Renamed"
    assert stored.is_servable


def test_a_non_content_edit_keeps_a_rejection() -> None:
    creative = CreativeFactory()
    creative.reject(by=None, reasons=[RejectionReason.LOW_IMAGE_QUALITY])
    creative.name = "Renamed"
    creative.save()
    creative.pause()
    stored = Creative.objects.get(pk=creative.pk)
    assert (stored.review_status, stored.rejection_reasons) == ("rejected", ["low_image_quality"])


def test_review_creative_records_the_reviewer_and_the_decision() -> None:
    reviewer = UserFactory(is_staff=True)
    creative = CreativeFactory()
    services.review_creative(
        creative=creative, actor=Actor(source=AuditLog.Source.ADMIN, user=reviewer), approve=False,
        reasons=["landing_page_mismatch"],
    )  # fmt: skip
    assert creative.review_status == Creative.ReviewStatus.REJECTED  # refreshed in place
    entry = AuditLog.objects.get(action="reject")
    assert (entry.actor_user, entry.source, entry.object_id) == (reviewer, "admin", str(creative.pk))
    assert entry.before["review_status"] == "pending"
    assert entry.after["review_status"] == "rejected"
    assert entry.after["rejection_reasons"] == ["landing_page_mismatch"]
    assert "name" not in entry.after


# Database constraints -----------------------------------------------------------------------------


def test_db_refuses_a_rejection_without_reason() -> None:
    creative = CreativeFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Creative.objects.filter(pk=creative.pk).update(review_status=Creative.ReviewStatus.REJECTED)


def test_db_refuses_reasons_on_a_creative_that_is_not_rejected() -> None:
    creative = CreativeFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Creative.objects.filter(pk=creative.pk).update(rejection_reasons=["trademark"])


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.com/", "example.com"])
def test_db_refuses_a_landing_url_that_is_not_http(url: str) -> None:
    creative = CreativeFactory()
    with transaction.atomic(), pytest.raises(IntegrityError):
        Creative.objects.filter(pk=creative.pk).update(landing_url=url)
