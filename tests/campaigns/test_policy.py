"""Automatic policy checks on creatives: each check, and what the decisions do (campaigns.policy)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.audit import Actor
from accounts.models import Advertiser, AuditLog
from campaigns import imagehash, policy, services
from campaigns.creative_specs import MAX_IMAGE_BYTES
from campaigns.models import AdGroup, Creative, CreativeReview, DeniedDomain, ProhibitedTerm, RejectionReason
from campaigns.reviewers import reviewers_group
from tests.factories import AdGroupFactory, AdvertiserFactory, CreativeFactory, UserFactory, png_file

pytestmark = pytest.mark.django_db

VAST = '<VAST version="4.2"><Ad><InLine><AdTitle><![CDATA[Win at the Casino]]></AdTitle></InLine></Ad></VAST>'


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def pattern_bytes(
    seed: int, *, fmt: str = "PNG", size: tuple[int, int] = (300, 250), shift: int = 0, touch: int = 0
) -> bytes:
    """An image with coarse structure (a 9x8 grid of random colours), so its dHash is not flat.
    `shift` brightens it all; `touch` reverses the brightness step of that many cells of the top
    row against their right neighbour (a small local edit: a few bits of the hash)."""
    grid = np.random.default_rng(seed).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    luma = np.asarray(Image.fromarray(grid).convert("L"), dtype=np.int16)
    for col in range(0, 2 * touch, 2):
        grid[0, col] = 0 if luma[0, col] > luma[0, col + 1] else 255
    grid = np.clip(grid.astype(np.int16) + shift, 0, 255).astype(np.uint8)
    image = Image.fromarray(grid).resize(size, Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def flat_png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 250), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(data: bytes, name: str = "ad.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg" if name.endswith(".jpg") else "image/png")


def ad_group_of(advertiser: Advertiser | None = None, **advertiser_fields: Any) -> AdGroup:
    advertiser = advertiser or AdvertiserFactory(domains=["shop.test"], **advertiser_fields)
    return AdGroupFactory(campaign__advertiser=advertiser)


def create(ad_group: AdGroup | None = None, **fields: Any) -> Creative:
    values = {
        "name": "Spring banner",
        "format": Creative.Format.BANNER,
        "landing_url": "https://shop.test/spring",
        "image": upload(pattern_bytes(1)),
    } | fields
    owner = UserFactory()
    return services.create_creative(
        ad_group=ad_group or ad_group_of(), actor=Actor(source=AuditLog.Source.WEB, user=owner), **values
    )


def result(creative: Creative, check: str) -> dict[str, Any]:
    return next(item for item in creative.policy_checks if item["check"] == check)


def reject_by_reviewer(creative: Creative, reasons: list[str]) -> None:
    reviewer = UserFactory(is_staff=True)
    services.review_creative(
        creative=creative,
        actor=Actor(source=AuditLog.Source.ADMIN, user=reviewer),
        approve=False,
        reasons=reasons,
    )


# The perceptual hash ------------------------------------------------------------------------------


def test_dhash_survives_reencoding_and_tells_images_apart() -> None:
    original = imagehash.dhash(io.BytesIO(pattern_bytes(7)))
    recompressed = imagehash.dhash(io.BytesIO(pattern_bytes(7, fmt="JPEG", shift=8, touch=1)))
    other = imagehash.dhash(io.BytesIO(pattern_bytes(8)))
    assert len(original) == 16
    assert 0 < imagehash.distance(original, recompressed) <= policy.DEFAULT_NEAR_DUPLICATE_MAX_DISTANCE
    assert imagehash.distance(original, other) > 16
    assert imagehash.dhash(io.BytesIO(b"not an image")) == ""


def test_image_hash_is_computed_on_save_and_follows_the_image() -> None:
    creative = CreativeFactory(image=upload(pattern_bytes(1)))
    first = creative.image_hash
    assert first == imagehash.dhash(io.BytesIO(pattern_bytes(1)))
    content_hash = creative.content_hash

    creative = Creative.objects.get(pk=creative.pk)
    creative.name = "Renamed"
    creative.save()
    assert creative.image_hash == first  # same image: not re-read

    creative.image = upload(pattern_bytes(2))
    creative.save()
    creative.refresh_from_db()
    assert creative.image_hash == imagehash.dhash(io.BytesIO(pattern_bytes(2)))
    assert creative.content_hash != content_hash  # the image is content; its hash alone is not
    assert "image_hash" not in Creative.CONTENT_FIELDS


# Prohibited words ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"format": Creative.Format.NATIVE, "headline": "Best CASINO in town", "body": "Play.",
          "call_to_action": "learn_more", "image": upload(pattern_bytes(3, size=(1200, 628)))}, "headline"),
        ({"format": Creative.Format.NATIVE, "headline": "Fun", "body": "Visit our casino tonight",
          "call_to_action": "learn_more", "image": upload(pattern_bytes(3, size=(1200, 628)))}, "body"),
        ({"landing_url": "https://shop.test/online-casino/offer"}, "landing URL"),
        ({"format": Creative.Format.VIDEO, "image": "", "vast_xml": VAST}, "VAST XML"),
    ],
)  # fmt: skip
def test_a_blocking_prohibited_term_rejects_automatically(fields: dict[str, Any], where: str) -> None:
    ProhibitedTerm.objects.create(term="casino", reason=RejectionReason.PROHIBITED_PRODUCT)
    creative = create(**fields)
    check = result(creative, "prohibited_terms")
    assert check["passed"] is False
    assert check["blocking"] is True
    assert check["matched"] == ["casino"]
    assert where in check["detail"]
    assert creative.review_status == Creative.ReviewStatus.REJECTED
    assert creative.rejection_reasons == [RejectionReason.PROHIBITED_PRODUCT]
    assert '"casino"' in creative.review_note


def test_terms_match_whole_words_and_phrases_in_any_case() -> None:
    terms = [ProhibitedTerm(term="casino"), ProhibitedTerm(term="miracle cure"), ProhibitedTerm(term="café")]
    ad = CreativeFactory.build(
        ad_group=AdGroupFactory(),
        headline="Occasional casinos",  # neither is the word "casino"
        body="A Miracle\n  Cure from the CAFÉ, not cafés",
    )
    check = policy.check_prohibited_terms(ad, terms)
    assert check.matched == ("miracle cure", "café")
    clean = CreativeFactory.build(
        ad_group=AdGroupFactory(), headline="Occasional casinos", body="Fresh bread"
    )
    assert policy.check_prohibited_terms(clean, terms).passed


def test_a_non_blocking_term_is_shown_but_left_to_a_reviewer() -> None:
    ProhibitedTerm.objects.create(term="guaranteed", reason=RejectionReason.MISLEADING_CLAIMS, blocking=False)
    creative = create(landing_url="https://shop.test/guaranteed-results")
    check = result(creative, "prohibited_terms")
    assert (check["passed"], check["blocking"], check["matched"]) == (False, False, ["guaranteed"])
    assert check["reason"] == RejectionReason.MISLEADING_CLAIMS
    assert creative.review_status == Creative.ReviewStatus.PENDING
    assert creative.policy_checked_at is not None


def test_terms_are_stored_normalised_and_unique() -> None:
    term = ProhibitedTerm(term="  Miracle   CURE ")
    term.full_clean()
    term.save()
    assert term.term == "miracle cure"
    with pytest.raises(ValidationError) as exc:
        ProhibitedTerm(term="MIRACLE cure").full_clean()
    assert "term" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        ProhibitedTerm(term="   ").full_clean()
    assert "term" in exc.value.message_dict


# Landing page -------------------------------------------------------------------------------------


def test_a_plain_http_landing_page_is_rejected() -> None:
    creative = create(landing_url="http://shop.test/spring")
    check = result(creative, "landing_https")
    assert (check["passed"], check["blocking"]) == (False, True)
    assert creative.review_status == Creative.ReviewStatus.REJECTED
    assert creative.rejection_reasons == [RejectionReason.OTHER]
    assert "https" in creative.review_note
    assert result(create(), "landing_https")["passed"] is True


def test_denied_domains_and_their_subdomains_are_rejected() -> None:
    DeniedDomain.objects.create(domain="scam.test", note="Phishing")
    denied = create(landing_url="https://login.scam.test/x")
    check = result(denied, "landing_domain_denied")
    assert (check["passed"], check["matched"]) == (False, ["scam.test"])
    assert "Phishing" in check["detail"]
    assert denied.review_status == Creative.ReviewStatus.REJECTED
    # Only the domain and what is under it: a name that merely ends the same way is another domain.
    assert result(create(landing_url="https://notscam.test/x"), "landing_domain_denied")["passed"] is True


def test_denied_domains_are_normalised_and_validated() -> None:
    entry = DeniedDomain(domain=" Scam.TEST. ")
    entry.full_clean()
    assert entry.domain == "scam.test"
    with pytest.raises(ValidationError) as exc:
        DeniedDomain(domain="https://scam.test/path").full_clean()
    assert "domain" in exc.value.message_dict


def test_a_landing_page_off_the_declared_domains_waits_for_a_reviewer() -> None:
    ad_group = ad_group_of(trusted=True)
    own = create(ad_group, landing_url="https://www.shop.test/spring")
    assert result(own, "landing_domain_declared")["passed"] is True

    elsewhere = create(ad_group, landing_url="https://marketplace.test/shop")
    check = result(elsewhere, "landing_domain_declared")
    assert (check["passed"], check["blocking"]) == (False, False)
    assert check["reason"] == RejectionReason.LANDING_PAGE_MISMATCH
    assert "shop.test" in check["detail"]
    # Not blocking, and not everything passed: even a trusted advertiser's creative waits.
    assert elsewhere.review_status == Creative.ReviewStatus.PENDING


# Image --------------------------------------------------------------------------------------------


def test_image_dimensions_must_fit_the_format() -> None:
    banner = CreativeFactory(image=png_file(300, 250))
    assert policy.check_image_dimensions(banner).passed
    odd = CreativeFactory(image=png_file(301, 250))  # saved directly: the form would have refused it
    check = policy.check_image_dimensions(odd)
    assert (check.passed, check.blocking, check.reason) == (False, True, RejectionReason.LOW_IMAGE_QUALITY)
    assert "301x250" in check.detail
    native = CreativeFactory(format=Creative.Format.NATIVE, image=png_file(1200, 628))
    assert policy.check_image_dimensions(native).passed
    video = CreativeFactory(format=Creative.Format.VIDEO, image="", vast_xml=VAST)
    assert policy.check_image_dimensions(video).detail == "No image."


def test_image_file_size_limit() -> None:
    assert policy.check_image_size(CreativeFactory()).passed
    noise = np.random.default_rng(5).integers(0, 256, (1050, 300, 4), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise, "RGBA").save(buffer, format="PNG")
    assert buffer.tell() > MAX_IMAGE_BYTES
    heavy = CreativeFactory(image=upload(buffer.getvalue()))
    check = policy.check_image_size(heavy)
    assert (check.passed, check.blocking, check.reason) == (False, True, RejectionReason.LOW_IMAGE_QUALITY)
    assert "KB" in check.detail


def test_a_rejected_image_uploaded_again_by_another_advertiser_is_rejected() -> None:
    first = create(image=upload(pattern_bytes(11)))
    reject_by_reviewer(first, [RejectionReason.TRADEMARK, RejectionReason.MISLEADING_CLAIMS])

    again = create(image=upload(pattern_bytes(11, fmt="JPEG", shift=8, touch=1), "again.jpg"))
    assert again.image_hash != first.image_hash
    assert again.advertiser_id != first.advertiser_id
    check = result(again, "near_duplicate_of_rejected")
    assert (check["passed"], check["matched"]) == (False, [f"#{first.pk}"])
    assert f"#{first.pk}" in check["detail"]
    assert again.review_status == Creative.ReviewStatus.REJECTED
    assert again.rejection_reasons == [RejectionReason.TRADEMARK]

    different = create(image=upload(pattern_bytes(12)))
    assert result(different, "near_duplicate_of_rejected")["passed"] is True
    assert different.review_status == Creative.ReviewStatus.PENDING


def test_near_duplicate_distance_is_configurable(settings: Any) -> None:
    first = create(image=upload(pattern_bytes(11)))
    reject_by_reviewer(first, [RejectionReason.TRADEMARK])
    settings.REVIEW_NEAR_DUPLICATE_MAX_DISTANCE = 0
    edited = create(image=upload(pattern_bytes(11, touch=1)))
    assert imagehash.distance(edited.image_hash, first.image_hash) > 0
    assert result(edited, "near_duplicate_of_rejected")["passed"] is True
    exact = create(image=upload(pattern_bytes(11)))
    assert result(exact, "near_duplicate_of_rejected")["passed"] is False


def test_an_automatic_rejection_does_not_condemn_its_image() -> None:
    ProhibitedTerm.objects.create(term="lottery")
    rejected = create(landing_url="https://shop.test/lottery", image=upload(pattern_bytes(31)))
    assert rejected.review_status == Creative.ReviewStatus.REJECTED
    same_picture = create(image=upload(pattern_bytes(31)))
    assert result(same_picture, "near_duplicate_of_rejected")["passed"] is True
    assert same_picture.review_status == Creative.ReviewStatus.PENDING


def test_plain_images_are_not_compared() -> None:
    flat = create(image=png_file(300, 250))
    reject_by_reviewer(flat, [RejectionReason.LOW_IMAGE_QUALITY])
    other_flat = create(image=upload(flat_png((250, 250, 250))))
    check = result(other_flat, "near_duplicate_of_rejected")
    assert check["passed"] is True
    assert "plain" in check["detail"]


# Decisions ----------------------------------------------------------------------------------------


def test_an_automatic_rejection_is_audited_as_the_system() -> None:
    ProhibitedTerm.objects.create(term="casino")
    creative = create(landing_url="http://shop.test/casino")
    assert creative.rejection_reasons == [RejectionReason.PROHIBITED_PRODUCT, RejectionReason.OTHER]
    assert creative.reviewed_by is None
    entry = AuditLog.objects.get(
        object_type="campaigns.Creative", object_id=str(creative.pk), action="reject"
    )
    assert (entry.source, entry.actor_label, entry.actor_user_id) == (AuditLog.Source.SYSTEM, "system", None)
    assert entry.after is not None
    note = entry.after["review_note"]
    assert '"casino" in landing URL' in note
    assert "Landing page uses https" in note


def test_a_trusted_advertisers_clean_creative_is_approved_automatically() -> None:
    creative = create(ad_group_of(trusted=True))
    assert all(item["passed"] for item in creative.policy_checks)
    assert creative.review_status == Creative.ReviewStatus.APPROVED
    assert creative.approved_content_hash == creative.content_hash
    entry = AuditLog.objects.get(object_id=str(creative.pk), action="approve")
    assert entry.source == AuditLog.Source.SYSTEM


def test_no_automatic_approval_when_turned_off_or_not_trusted(settings: Any) -> None:
    assert create(ad_group_of(trusted=False)).review_status == Creative.ReviewStatus.PENDING
    settings.REVIEW_AUTO_APPROVE_TRUSTED = False
    creative = create(ad_group_of(trusted=True))
    assert all(item["passed"] for item in creative.policy_checks)
    assert creative.review_status == Creative.ReviewStatus.PENDING
    assert not AuditLog.objects.filter(object_id=str(creative.pk), action="approve").exists()


def test_an_edited_rejected_creative_is_checked_again() -> None:
    creative = create()
    reject_by_reviewer(creative, [RejectionReason.MISLEADING_CLAIMS])
    ProhibitedTerm.objects.create(term="free money", reason=RejectionReason.MISLEADING_CLAIMS)
    actor = Actor(source=AuditLog.Source.WEB, user=UserFactory())

    edited = services.update_creative(
        creative=creative, actor=actor, landing_url="https://shop.test/free-money"
    )
    assert edited.review_status == Creative.ReviewStatus.REJECTED
    assert result(edited, "prohibited_terms")["matched"] == ["free money"]
    assert AuditLog.objects.filter(object_id=str(creative.pk), action="reject", source="system").count() == 1

    fixed = services.update_creative(
        creative=edited, actor=actor, landing_url="https://shop.test/spring-sale"
    )
    assert fixed.review_status == Creative.ReviewStatus.PENDING
    assert result(fixed, "prohibited_terms")["passed"] is True


def test_a_duplicated_ad_group_copy_in_review_is_checked() -> None:
    creative = create()
    ProhibitedTerm.objects.create(term="spring")  # added after the original was checked
    copy_group = services.duplicate_ad_group(
        ad_group=creative.ad_group, actor=Actor(source=AuditLog.Source.WEB, user=UserFactory())
    )
    copy = copy_group.creatives.get()
    assert copy.image_hash == creative.image_hash
    assert copy.review_status == Creative.ReviewStatus.REJECTED
    assert Creative.objects.get(pk=creative.pk).review_status == Creative.ReviewStatus.PENDING


def test_recheck_pending_applies_a_new_term_to_the_queue() -> None:
    caught = create(landing_url="https://shop.test/lottery", image=upload(pattern_bytes(21)))
    clean = create(image=upload(pattern_bytes(22)))
    decided = create(ad_group_of(trusted=True))  # approved: not in the queue
    ProhibitedTerm.objects.create(term="lottery")
    counts = policy.recheck_pending(
        actor=Actor(source=AuditLog.Source.ADMIN, user=UserFactory(is_staff=True))
    )
    assert counts == {"checked": 2, "rejected": 1, "approved": 0}
    assert Creative.objects.get(pk=caught.pk).review_status == Creative.ReviewStatus.REJECTED
    assert Creative.objects.get(pk=clean.pk).review_status == Creative.ReviewStatus.PENDING
    assert Creative.objects.get(pk=decided.pk).review_status == Creative.ReviewStatus.APPROVED


def test_check_results_are_json_with_every_field() -> None:
    creative = create()
    stored = Creative.objects.get(pk=creative.pk).policy_checks
    assert [item["check"] for item in stored] == [
        "prohibited_terms",
        "landing_https",
        "landing_domain_denied",
        "landing_domain_declared",
        "image_dimensions",
        "image_size",
        "near_duplicate_of_rejected",
    ]
    assert set(stored[0]) == {"check", "label", "passed", "blocking", "detail", "matched", "reason"}


# The review queue and its group -------------------------------------------------------------------


def test_the_review_queue_is_pending_creatives_oldest_first() -> None:
    newer, older = create(), create()
    Creative.objects.filter(pk=older.pk).update(submitted_at=newer.submitted_at.replace(year=2020))
    archived = create()
    Creative.objects.filter(pk=archived.pk).update(status=Creative.Status.ARCHIVED)
    create(ad_group_of(trusted=True))  # approved
    assert list(CreativeReview.objects.values_list("pk", flat=True)) == [older.pk, newer.pk]


def test_the_reviewers_group_has_exactly_what_a_reviewer_needs() -> None:
    # Made by migration 0005; made again here because a live-server test (tests/e2e) empties every
    # table when it ends, and a reused test database keeps that.
    group = reviewers_group()
    granted = {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }
    assert granted == {
        "campaigns.view_creativereview",
        "campaigns.review_creative",
        "campaigns.view_creative",
        "campaigns.view_adgroup",
        "campaigns.view_campaign",
        "accounts.view_advertiser",
        "campaigns.view_prohibitedterm",
        "campaigns.view_denieddomain",
    }
    reviewer = UserFactory(is_staff=True)
    reviewer.groups.add(group)
    assert reviewer.has_perm("campaigns.review_creative")
    assert not reviewer.has_perm("campaigns.change_creative")
    assert not reviewer.has_perm("campaigns.change_prohibitedterm")
