"""/api/v1/creatives: images uploaded by multipart or as data URIs, the review fields the client cannot
set, content edits that send a creative back to review, lists, and the status actions."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from campaigns.creative_specs import MAX_IMAGE_BYTES
from campaigns.models import AdGroup, Creative
from tests.campaigns.test_api_campaigns import (
    Callers,
    audit_entries,
    error_of,
    ids,
    key_caller,
    make_callers,
)
from tests.conftest import Tenants
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    CreativeFactory,
    approved_creative,
    image_bytes,
    png_file,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def callers(tenants: Tenants, redis_client: Any) -> Callers:
    return make_callers(tenants)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


URL = "/api/v1/creatives"
VAST = '<?xml version="1.0"?><VAST version="4.2"><Ad id="1"><InLine></InLine></Ad></VAST>'


def data_uri(content: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


@pytest.fixture
def ad_group(callers: Callers) -> AdGroup:
    return AdGroupFactory(campaign__advertiser=callers.advertiser)


def banner(ad_group: AdGroup, **fields: Any) -> dict[str, Any]:
    return {"ad_group": ad_group.pk, "name": "Spring banner", "format": "banner",
            "landing_url": "https://example.com/spring", **fields}  # fmt: skip


def upload(callers: Callers, body: dict[str, Any], who: str = "owner") -> Any:
    return getattr(callers, who).client.post(URL, body)  # multipart/form-data


# Upload ----------------------------------------------------------------------------------------------


def test_a_banner_uploaded_by_multipart(callers: Callers, ad_group: AdGroup) -> None:
    response = upload(callers, banner(ad_group, image=png_file(728, 90)))

    assert response.status_code == 201, response.content
    body = response.json()
    creative = Creative.objects.get(pk=body["id"])
    assert (body["width"], body["height"], body["review_status"]) == (728, 90, "pending")
    assert (body["advertiser"], body["campaign"]) == (callers.advertiser.pk, ad_group.campaign_id)
    assert body["image"].startswith("http://testserver/") and body["image"].endswith(".png")
    assert creative.image.name.startswith(f"creatives/{callers.advertiser.pk}/")
    assert [e.action for e in audit_entries(creative)] == ["create"]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (png_file(301, 250), "A banner of 301x250 is not an IAB size."),
        (png_file(300, 250, fmt="BMP"), "BMP images are not accepted."),
    ],
)
def test_an_image_the_specs_refuse_is_a_400_naming_image(
    callers: Callers, ad_group: AdGroup, image: Any, message: str
) -> None:
    error = error_of(upload(callers, banner(ad_group, image=image)), 400)

    assert list(error["fields"]) == ["image"]
    assert error["fields"]["image"][0].startswith(message)
    assert not Creative.objects.exists()


def test_a_file_that_is_not_an_image(callers: Callers, ad_group: AdGroup) -> None:
    fake = SimpleUploadedFile("banner.png", b"not an image at all", content_type="image/png")

    error = error_of(upload(callers, banner(ad_group, image=fake)), 400)

    assert list(error["fields"]) == ["image"]


def test_an_image_as_a_data_uri_in_json(callers: Callers, ad_group: AdGroup) -> None:
    body = banner(ad_group, image=data_uri(image_bytes(300, 250)))

    response = callers.owner.post(URL, body)

    assert response.status_code == 201, response.content
    assert (response.json()["width"], response.json()["height"]) == (300, 250)
    assert Creative.objects.get().image.name.endswith(".png")


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("https://example.com/banner.png", "Send the image as a file (multipart) or as a data URI"),
        ("data:image/png;base64,@@@not base64@@@", "The data URI's base64 content is not valid."),
        (
            "data:image/bmp;base64," + base64.b64encode(image_bytes(300, 250, "BMP")).decode(),
            "PNG, JPEG, GIF",
        ),
        (data_uri(image_bytes(301, 250)), "A banner of 301x250 is not an IAB size."),
        (data_uri(b"x" * (MAX_IMAGE_BYTES + 10)), "The image is 1024 KB; the limit is 1024 KB."),
    ],
)
def test_bad_data_uris_are_refused_naming_image(
    callers: Callers, ad_group: AdGroup, image: str, message: str
) -> None:
    error = error_of(callers.owner.post(URL, banner(ad_group, image=image)), 400)

    assert list(error["fields"]) == ["image"]
    assert message in error["fields"]["image"][0]


def test_native_and_video_need_their_parts(callers: Callers, ad_group: AdGroup) -> None:
    native = callers.owner.post(
        URL, banner(ad_group, format="native", image=data_uri(image_bytes(1200, 628)))
    )
    video = callers.owner.post(URL, banner(ad_group, format="video"))
    good_video = callers.owner.post(URL, banner(ad_group, format="video", vast_xml=VAST))

    assert set(error_of(native, 400)["fields"]) == {"headline", "body", "call_to_action"}
    assert set(error_of(video, 400)["fields"]) == {"vast_url"}
    assert good_video.status_code == 201, good_video.content


def test_review_fields_cannot_be_set(callers: Callers, ad_group: AdGroup) -> None:
    body = banner(
        ad_group,
        image=data_uri(image_bytes(300, 250)),
        review_status="approved",
        rejection_reasons=["other"],
        review_note="self-approved",
        reviewed_at="2025-01-01T00:00:00Z",
        width=1,
        advertiser=callers.tenants.other_advertiser.pk,
        status="archived",
    )

    response = callers.owner.post(URL, body)

    assert response.status_code == 201, response.content
    creative = Creative.objects.get()
    assert (creative.review_status, creative.rejection_reasons, creative.review_note) == ("pending", [], "")
    assert (creative.reviewed_at, creative.width, creative.status) == (None, 300, "active")
    assert creative.advertiser == callers.advertiser


def test_an_ad_group_of_another_tenant_is_unknown(callers: Callers) -> None:
    foreign = AdGroupFactory(campaign__advertiser=callers.tenants.other_advertiser)

    error = error_of(callers.owner.post(URL, banner(foreign, image=data_uri(image_bytes(300, 250)))), 400)

    assert list(error["fields"]) == ["ad_group"]
    assert not Creative.objects.exists()


@pytest.mark.parametrize("who", ["analyst", "analyst_session"])
def test_an_analyst_cannot_create(callers: Callers, ad_group: AdGroup, who: str) -> None:
    error_of(upload(callers, banner(ad_group, image=png_file()), who), 403)

    assert not Creative.objects.exists()


# Update ---------------------------------------------------------------------------------------------


def test_a_content_edit_sends_an_approved_creative_back_to_review(callers: Callers) -> None:
    creative = approved_creative(ad_group__campaign__advertiser=callers.advertiser)

    renamed = callers.owner.patch(f"{URL}/{creative.pk}", {"name": "Renamed"})
    edited = callers.owner.patch(f"{URL}/{creative.pk}", {"landing_url": "https://example.com/other"})

    assert renamed.json()["review_status"] == "approved"
    assert edited.json()["review_status"] == "pending"
    assert audit_entries(creative)[-1].after["review_status"] == "pending"


def test_a_new_image_by_multipart_patch(callers: Callers) -> None:
    creative = approved_creative(ad_group__campaign__advertiser=callers.advertiser)
    body = encode_multipart(BOUNDARY, {"image": png_file(320, 50)})

    response = callers.owner.client.patch(f"{URL}/{creative.pk}", body, content_type=MULTIPART_CONTENT)

    assert response.status_code == 200, response.content
    assert (response.json()["width"], response.json()["height"]) == (320, 50)
    assert response.json()["review_status"] == "pending"


def test_a_creative_cannot_move_to_another_ad_group(callers: Callers) -> None:
    creative = CreativeFactory(ad_group__campaign__advertiser=callers.advertiser)
    other = AdGroupFactory(campaign=creative.ad_group.campaign)

    error = error_of(callers.owner.patch(f"{URL}/{creative.pk}", {"ad_group": other.pk}), 400)

    assert list(error["fields"]) == ["ad_group"]


def test_foreign_creatives_are_not_found(callers: Callers) -> None:
    creative = CreativeFactory(ad_group__campaign__advertiser=callers.advertiser)

    for response in (
        callers.outsider.get(f"{URL}/{creative.pk}"),
        callers.outsider.patch(f"{URL}/{creative.pk}", {"name": "x"}),
        callers.outsider.post(f"{URL}/{creative.pk}/archive"),
    ):
        error_of(response, 404)
    assert Creative.objects.get().status == "active"


def test_an_analyst_reads_but_cannot_update(callers: Callers) -> None:
    creative = CreativeFactory(ad_group__campaign__advertiser=callers.advertiser, name="Before")

    assert callers.analyst.get(f"{URL}/{creative.pk}").json()["name"] == "Before"
    error_of(callers.analyst.patch(f"{URL}/{creative.pk}", {"name": "After"}), 403)
    assert Creative.objects.get().name == "Before"


# List -----------------------------------------------------------------------------------------------


def test_filters(callers: Callers) -> None:
    agency_key = key_caller(agency=callers.advertiser.agency)
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    approved = approved_creative(ad_group=group)
    pending = CreativeFactory(ad_group=group, status=Creative.Status.PAUSED)
    sister = AdvertiserFactory(agency=callers.advertiser.agency)
    video = CreativeFactory(ad_group__campaign__advertiser=sister, format="video", image=None, vast_xml=VAST)
    CreativeFactory(ad_group__campaign__advertiser=callers.tenants.other_advertiser)

    def listed(**params: Any) -> set[int]:
        return set(ids(agency_key.get(URL, params)))

    assert listed() == {approved.pk, pending.pk, video.pk}
    assert listed(ad_group=group.pk) == {approved.pk, pending.pk}
    assert listed(campaign=video.ad_group.campaign_id) == {video.pk}
    assert listed(advertiser=sister.pk) == {video.pk}
    assert listed(review_status="approved") == {approved.pk}
    assert listed(status="paused") == {pending.pk}
    assert listed(format="video") == {video.pk}


def test_listing_takes_the_same_queries_for_one_or_many(
    callers: Callers, django_assert_num_queries: Any
) -> None:
    group = AdGroupFactory(campaign__advertiser=callers.advertiser)
    CreativeFactory(ad_group=group)
    callers.owner.get(URL)
    with django_assert_num_queries(2) as one:
        callers.owner.get(URL)
    for _ in range(3):
        approved_creative(ad_group=AdGroupFactory(campaign__advertiser=callers.advertiser))
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(callers.owner.get(URL).json()["results"]) == 4


# Actions ---------------------------------------------------------------------------------------------


def test_pause_activate_archive(callers: Callers) -> None:
    creative = CreativeFactory(ad_group__campaign__advertiser=callers.advertiser)

    statuses = [callers.owner.post(f"{URL}/{creative.pk}/{name}").json()["status"]
                for name in ("pause", "activate", "archive")]  # fmt: skip

    assert statuses == ["paused", "active", "archived"]
    assert [e.action for e in audit_entries(creative)] == ["pause", "activate", "archive"]


@pytest.mark.parametrize("action", ["activate", "pause"])
def test_an_archived_creative_stays_archived(callers: Callers, action: str) -> None:
    creative = CreativeFactory(ad_group__campaign__advertiser=callers.advertiser)
    creative.archive()

    error = error_of(callers.owner.post(f"{URL}/{creative.pk}/{action}"), 409)

    assert "An archived creative cannot be" in error["message"]


def test_actions_honour_if_match_and_roles(callers: Callers) -> None:
    creative = CreativeFactory(ad_group__campaign__advertiser=callers.advertiser)

    error_of(callers.owner.post(f"{URL}/{creative.pk}/pause", **{"If-Match": '"stale"'}), 412)
    error_of(callers.analyst.post(f"{URL}/{creative.pk}/pause"), 403)

    assert Creative.objects.get().status == "active"
