"""The creative editor (new, edit, live preview, status buttons, stored image), tried by an owner, an
analyst and an outsider."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditLog
from campaigns.models import AdGroup, Creative, RejectionReason
from tests.conftest import client_for
from tests.factories import AdGroupFactory, CampaignFactory, CreativeFactory, approved_creative, png_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def ad_group(tenants) -> AdGroup:
    return AdGroupFactory(campaign=CampaignFactory(advertiser=tenants.advertiser), name="US runners")


def new_url(ad_group: AdGroup) -> str:
    return reverse("creative_new", args=[ad_group.advertiser_id, ad_group.pk])


def edit_url(creative: Creative) -> str:
    return reverse("creative_edit", args=[creative.advertiser_id, creative.pk])


def image_url(creative: Creative) -> str:
    return reverse("creative_image", args=[creative.advertiser_id, creative.pk])


def banner_data(**overrides) -> dict:
    data = {
        "name": "Spring banner",
        "format": "banner",
        "landing_url": "https://example.com/spring",
        "image": png_file(300, 250),
        "headline": "",
        "body": "",
        "call_to_action": "",
        "vast_url": "",
        "vast_xml": "",
    }
    data.update(overrides)
    return data


# Pages ---------------------------------------------------------------------------------------------


def test_owner_sees_the_new_creative_page(tenants, ad_group):
    response = client_for(tenants.owner).get(new_url(ad_group))
    assert response.status_code == 200
    html = response.content.decode()
    assert "New creative" in html and "Preview" in html
    assert 'type="file"' in html and "Drag and drop" in html
    assert 'enctype="multipart/form-data"' in html


def test_wizard_mode_shows_step_four(tenants, ad_group):
    html = client_for(tenants.owner).get(new_url(ad_group) + "?wizard=1").content.decode()
    assert "Save and continue" in html and 'aria-label="Campaign setup"' in html


def test_analyst_sees_read_only_pages(tenants, ad_group):
    creative = CreativeFactory(ad_group=ad_group)
    for url in (new_url(ad_group), edit_url(creative)):
        response = client_for(tenants.analyst).get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "read only" in html and "hx-post" not in html
        assert "Create creative" not in html and "Save creative" not in html and "Pause creative" not in html
    image = client_for(tenants.analyst).get(
        reverse("creative_image", args=[creative.advertiser_id, creative.pk])
    )
    assert image.status_code == 200


def test_analyst_posts_are_403_and_change_nothing(tenants, ad_group):
    creative = CreativeFactory(ad_group=ad_group, name="Before")
    client = client_for(tenants.analyst)
    assert client.post(new_url(ad_group), banner_data()).status_code == 403
    assert client.post(edit_url(creative), banner_data(name="After")).status_code == 403
    status_url = reverse("creative_status", args=[creative.advertiser_id, creative.pk])
    assert client.post(status_url, {"action": "pause"}).status_code == 403
    creative.refresh_from_db()
    assert (creative.name, creative.status) == ("Before", Creative.Status.ACTIVE)
    assert Creative.objects.count() == 1


def test_outsider_gets_404_everywhere(tenants, ad_group):
    creative = CreativeFactory(ad_group=ad_group)
    client = client_for(tenants.outsider)
    for url in (
        new_url(ad_group),
        edit_url(creative),
        reverse("creative_image", args=[creative.advertiser_id, creative.pk]),
    ):
        assert client.get(url).status_code == 404
    assert client.post(new_url(ad_group), banner_data()).status_code == 404
    assert client.post(edit_url(creative), banner_data(name="x")).status_code == 404
    status_url = reverse("creative_status", args=[creative.advertiser_id, creative.pk])
    assert client.post(status_url, {"action": "pause"}).status_code == 404
    assert Creative.objects.count() == 1


def test_another_accounts_ad_group_in_my_url_is_404(tenants):
    theirs = AdGroupFactory(campaign=CampaignFactory(advertiser=tenants.other_advertiser))
    url = reverse("creative_new", args=[tenants.advertiser.pk, theirs.pk])
    assert client_for(tenants.owner).post(url, banner_data()).status_code == 404
    assert not Creative.objects.exists()


def test_a_tampered_ad_group_field_is_ignored(tenants, ad_group):
    theirs = AdGroupFactory(campaign=CampaignFactory(advertiser=tenants.other_advertiser))
    client_for(tenants.owner).post(new_url(ad_group), banner_data(ad_group=str(theirs.pk), advertiser="9"))
    creative = Creative.objects.get()
    assert creative.ad_group_id == ad_group.pk and creative.advertiser_id == tenants.advertiser.pk
    assert not theirs.creatives.exists()


# Creating --------------------------------------------------------------------------------------------


def test_owner_creates_a_banner_that_goes_to_review(tenants, ad_group):
    response = client_for(tenants.owner).post(new_url(ad_group), banner_data())
    creative = Creative.objects.get()
    assert response.status_code == 302 and response["Location"] == edit_url(creative)
    assert (creative.width, creative.height) == (300, 250)
    assert creative.review_status == Creative.ReviewStatus.PENDING
    assert AuditLog.objects.filter(object_type="campaigns.Creative", action="create").exists()
    html = client_for(tenants.owner).get(edit_url(creative)).content.decode()
    assert "In review" in html
    assert reverse("creative_image", args=[creative.advertiser_id, creative.pk]) in html


def test_wizard_creative_goes_to_the_campaign(tenants, ad_group):
    response = client_for(tenants.owner).post(new_url(ad_group) + "?wizard=1", banner_data())
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "campaign_detail", args=[ad_group.advertiser_id, ad_group.campaign_id]
    )


def test_native_and_video_creatives(tenants, ad_group):
    client = client_for(tenants.owner)
    native = banner_data(
        name="Native", format="native", image=png_file(1200, 628), headline="Run further",
        body="Light shoes for long runs.", call_to_action="shop_now",
    )  # fmt: skip
    assert client.post(new_url(ad_group), native).status_code == 302
    video = banner_data(name="Video", format="video", image="", vast_url="https://ads.example.com/vast.xml")
    assert client.post(new_url(ad_group), video).status_code == 302
    assert sorted(Creative.objects.values_list("format", flat=True)) == ["native", "video"]


# Bad input -----------------------------------------------------------------------------------------


def test_an_image_of_the_wrong_size_is_refused_with_the_message(tenants, ad_group):
    response = client_for(tenants.owner).post(new_url(ad_group), banner_data(image=png_file(301, 250)))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["image"][0].startswith("A banner of 301x250 is not an IAB size. Use one of: 300x250")
    html = response.content.decode()
    assert 'value="Spring banner"' in html and 'value="https://example.com/spring"' in html
    assert "is not an IAB size" in html.split('id="field-image"')[1]
    assert not Creative.objects.exists()


def test_a_file_that_is_not_an_image_is_refused(tenants, ad_group):
    text = SimpleUploadedFile("banner.png", b"not an image at all", content_type="image/png")
    response = client_for(tenants.owner).post(new_url(ad_group), banner_data(image=text))
    assert response.context["form"].errors["image"] == [
        "The file is not a readable image. Upload a PNG, JPEG, GIF or WebP."
    ]
    bmp = png_file(300, 250, name="banner.bmp", fmt="BMP")
    response = client_for(tenants.owner).post(new_url(ad_group), banner_data(image=bmp))
    assert response.context["form"].errors["image"] == [
        "BMP images are not accepted. Upload a PNG, JPEG, GIF or WebP."
    ]
    assert not Creative.objects.exists()


def test_a_too_big_image_is_refused(tenants, ad_group):
    big = SimpleUploadedFile("big.png", b"\x89PNG" + b"0" * (1024 * 1024 + 10), content_type="image/png")
    response = client_for(tenants.owner).post(new_url(ad_group), banner_data(image=big))
    assert "the limit is 1024 KB" in response.context["form"].errors["image"][0]


def test_missing_fields_are_named(tenants, ad_group):
    data = banner_data(format="native", image="", landing_url="ftp://example.com", headline="")
    response = client_for(tenants.owner).post(new_url(ad_group), data)
    errors = response.context["form"].errors
    assert errors["image"] == ["A native creative needs an image."]
    assert errors["headline"] == ["A native creative needs a headline."]
    assert "landing_url" in errors
    video = banner_data(format="video", image="", vast_xml="<xml>nope</xml>")
    errors = client_for(tenants.owner).post(new_url(ad_group), video).context["form"].errors
    assert errors["vast_xml"] == ["This is not a VAST document (no <VAST> element)."]


# Editing -------------------------------------------------------------------------------------------


def test_editing_an_approved_creative_sends_it_back_to_review(tenants, ad_group):
    creative = approved_creative(ad_group=ad_group, name="Spring banner")
    client = client_for(tenants.owner)
    html = client.get(edit_url(creative)).content.decode()
    assert "sends it back to review" in html  # warned before saving
    data = banner_data(image="", landing_url="https://example.com/new")
    response = client.post(edit_url(creative), data, follow=True)
    creative.refresh_from_db()
    assert creative.review_status == Creative.ReviewStatus.PENDING
    assert creative.landing_url == "https://example.com/new"
    assert (creative.width, creative.height) == (300, 250)  # the stored image is kept
    assert "sent back to review" in response.content.decode()  # told after saving


def test_renaming_an_approved_creative_keeps_it_approved(tenants, ad_group):
    creative = approved_creative(ad_group=ad_group, landing_url="https://example.com/landing")
    data = banner_data(image="", name="New name", landing_url="https://example.com/landing")
    client_for(tenants.owner).post(edit_url(creative), data)
    creative.refresh_from_db()
    assert creative.name == "New name" and creative.review_status == Creative.ReviewStatus.APPROVED


def test_a_rejected_creative_shows_the_reasons(tenants, ad_group):
    creative = CreativeFactory(ad_group=ad_group)
    creative.reject(by=None, reasons=[RejectionReason.MISLEADING_CLAIMS], note="Remove 'best in the world'.")
    html = client_for(tenants.owner).get(edit_url(creative)).content.decode()
    assert "Rejected" in html and "Misleading claims" in html and "best in the world" in html


def test_the_wizard_keeps_the_typed_text_as_a_draft(tenants, ad_group):
    client = client_for(tenants.owner)
    url = new_url(ad_group) + "?wizard=1"
    client.post(url, banner_data(_live="1", image="", name="Half typed", landing_url="https://a.example/x"))
    html = client.get(url).content.decode()
    assert 'value="Half typed"' in html and 'value="https://a.example/x"' in html
    client.post(url, banner_data(name="Done"))
    assert 'value="Half typed"' not in client.get(url).content.decode()  # saved: the draft is gone


# Live preview (htmx) ---------------------------------------------------------------------------------


def test_live_preview_shows_each_format(tenants, ad_group):
    client = client_for(tenants.owner)
    response = client.post(new_url(ad_group), banner_data(_live="1"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and 'id="preview"' in html
    assert 'src="data:image/png;base64,' in html and 'width="300" height="250"' in html
    native = banner_data(
        _live="1", format="native", image="", headline="Run further", call_to_action="shop_now"
    )
    html = client.post(new_url(ad_group), native).content.decode()
    assert "Run further" in html and "Shop now" in html and "example.com" in html
    video = banner_data(_live="1", format="video", image="", vast_url="https://ads.example.com/vast.xml")
    assert "Tag URL" in client.post(new_url(ad_group), video).content.decode()
    assert not Creative.objects.exists()


def test_live_validation_names_a_wrong_image(tenants, ad_group):
    response = client_for(tenants.owner).post(
        new_url(ad_group), banner_data(_live="1", image=png_file(100, 100))
    )
    html = response.content.decode()
    assert 'id="errors-image" hx-swap-oob="true"><p class="field__error">A banner of 100x100' in html
    assert "data:image" not in html


# Status ------------------------------------------------------------------------------------------


def test_owner_pauses_activates_and_archives_a_creative(tenants, ad_group):
    creative = CreativeFactory(ad_group=ad_group)
    url = reverse("creative_status", args=[creative.advertiser_id, creative.pk])
    client = client_for(tenants.owner)
    client.post(url, {"action": "pause"})
    creative.refresh_from_db()
    assert creative.status == Creative.Status.PAUSED
    client.post(url, {"action": "activate"})
    creative.refresh_from_db()
    assert creative.status == Creative.Status.ACTIVE
    client.post(url, {"action": "archive"})
    creative.refresh_from_db()
    assert creative.status == Creative.Status.ARCHIVED
    assert AuditLog.objects.filter(object_type="campaigns.Creative", action="archive").exists()
    assert client.get(url).status_code == 405
