"""The ad group and creative editors in a real browser: targeting with a live estimate, an uploaded
banner with its preview, and the creative waiting for review on the campaign page."""

from __future__ import annotations

import base64
import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from campaigns.models import AdGroup, Creative, Objective
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import PASSWORD, CampaignFactory, PlacementFactory, image_bytes

pytestmark = pytest.mark.e2e


# Drops a PNG (base64) on the creative's drop zone, as a user dragging a file from their desktop.
DROP_FILE = """(encoded) => {
  const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
  const zone = document.querySelector("[data-dropzone]");
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


def log_in(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def audience(page: Page) -> int:
    return int(page.get_by_test_id("audience-size").get_attribute("data-value") or 0)


def test_create_an_ad_group_and_a_banner_in_a_draft_campaign(page: Page, live_server, screenshot, tenants):
    campaign = CampaignFactory(advertiser=tenants.advertiser, name="Spring sale", objective=Objective.TRAFFIC)
    PlacementFactory(name="News homepage top", daily_requests=400_000)
    sports = PlacementFactory(name="Sports sidebar", daily_requests=250_000)
    log_in(page, live_server, "owner@acme.test")

    # Step 3 of the wizard: the ad group.
    page.goto(
        f"{live_server.url}{reverse('ad_group_new', args=[tenants.advertiser.pk, campaign.pk])}?wizard=1"
    )
    expect(page.get_by_role("list", name="Campaign setup")).to_contain_text("Ad group")
    expect(page.locator("[aria-current=step]")).to_contain_text("Ad group")
    everyone = audience(page)
    assert everyone > 0

    # Live validation: an emptied name says so, the untouched bid does not complain yet.
    page.get_by_label("Ad group name").fill("x")
    page.get_by_label("Ad group name").fill("")
    expect(page.locator("#errors-name")).to_contain_text("This field is required.")
    expect(page.locator("#errors-bid")).to_be_empty()
    page.get_by_label("Ad group name").fill("Runners in North America")
    expect(page.locator("#errors-name")).to_be_empty()
    page.get_by_label("Manual CPC").check()
    page.get_by_label("Bid", exact=True).fill("0.75")

    # Countries: a searchable list; the estimate follows.
    page.get_by_label("Search countries").fill("united states")
    page.locator(".msel__option", has_text="United States (US)").click()
    expect(page.get_by_role("button", name="Remove United States (US)")).to_be_visible()
    expect(page.get_by_test_id("audience-size")).not_to_have_attribute("data-value", str(everyone))
    us_only = audience(page)
    assert 0 < us_only < everyone

    page.get_by_label("Search countries").fill("canada")
    page.get_by_label("Search countries").press("Enter")
    expect(page.get_by_test_id("audience-size")).not_to_have_attribute("data-value", str(us_only))
    us_and_canada = audience(page)
    assert us_only < us_and_canada

    # Excluding a placement lowers it.
    page.get_by_label("Search never these placements").fill("sports")
    page.get_by_role("group", name="Never these placements").locator(
        ".msel__option", has_text=sports.name
    ).click()
    expect(page.get_by_test_id("audience-size")).not_to_have_attribute("data-value", str(us_and_canada))
    assert audience(page) < us_and_canada

    page.get_by_label("25-34").check()
    page.get_by_label("Mobile").check()
    page.get_by_label("Fitness").check()
    page.get_by_role("textbox", name="Keywords").fill("running shoes\ntrail running")

    # A schedule: the 7 x 24 grid appears; weekend hours are painted off by dragging.
    page.get_by_label("Run on a schedule").check()
    grid = page.locator("[data-daypart]")
    expect(grid).to_be_visible()
    page.get_by_label("Sat 0:00").hover()
    page.mouse.down()
    page.get_by_label("Sat 5:00").hover()
    page.mouse.up()
    expect(page.get_by_label("Sat 3:00")).not_to_be_checked()
    expect(page.get_by_label("Sun 3:00")).to_be_checked()

    # A wrong bid is named next to the field as the user goes.
    page.get_by_label("Bid", exact=True).fill("0.755")
    expect(page.locator("#errors-bid")).to_contain_text("at most 2 decimal places")
    screenshot("1-ad-group-error")
    page.get_by_label("Bid", exact=True).fill("0.75")
    expect(page.locator("#errors-bid")).to_be_empty()
    screenshot("2-ad-group")

    page.get_by_role("button", name="Save and continue").click()

    # Step 4: the creative.
    ad_group = AdGroup.objects.get(campaign=campaign)
    assert sorted(ad_group.parsed_targeting.countries) == ["CA", "US"]
    assert ad_group.parsed_targeting.placements_exclude == [sports.pk]
    assert ad_group.parsed_targeting.dayparting[5][3] is False
    assert ad_group.bid_micros == 750_000
    expect(page.locator("[aria-current=step]")).to_contain_text("Creative")
    expect(page.get_by_role("status").first).to_contain_text("created")

    page.get_by_label("Creative name").fill("Spring banner 300x250")
    page.get_by_label("Landing page URL").fill("https://acme.example/spring")
    expect(page.get_by_role("heading", name="Text")).to_be_hidden()  # banners need no text

    # A wrong size, dropped on the drop zone, is refused with the message, before saving.
    page.evaluate(DROP_FILE, base64.b64encode(image_bytes(400, 400)).decode())
    expect(page.locator("#errors-image")).to_contain_text("A banner of 400x400 is not an IAB size")
    screenshot("3-creative-wrong-size")

    page.get_by_label("Image file").set_input_files(
        {"name": "spring.png", "mimeType": "image/png", "buffer": image_bytes(300, 250)}
    )
    preview = page.get_by_test_id("banner-preview")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("width", "300")
    expect(page.locator("#errors-image")).to_be_empty()
    expect(page.locator("#preview")).to_contain_text("300\u00d7250")
    screenshot("4-creative-preview")

    # The native preview follows the text typed.
    page.get_by_label("Native").check()
    expect(page.get_by_test_id("native-preview")).to_be_visible()
    page.get_by_label("Headline").fill("Run further this spring")
    expect(page.get_by_test_id("native-preview")).to_contain_text("Run further this spring")
    screenshot("5-creative-native-preview")
    page.get_by_label("Banner (image)").check()
    expect(page.get_by_test_id("banner-preview")).to_be_visible()

    page.get_by_role("button", name="Save and continue").click()
    creative = Creative.objects.get(ad_group=ad_group)
    assert creative.review_status == Creative.ReviewStatus.PENDING
    assert (creative.width, creative.height) == (300, 250)

    # The campaign page (where the user publishes) shows it waiting for review.
    expect(page).to_have_url(
        f"{live_server.url}{reverse('campaign_detail', args=[tenants.advertiser.pk, campaign.pk])}"
    )
    expect(page.get_by_role("link", name="Spring banner 300x250")).to_be_visible()
    expect(page.get_by_text(re.compile("In review", re.IGNORECASE)).first).to_be_visible()
    screenshot("6-after-creative")

    # The creative page: status, review state and the stored image in the preview.
    page.goto(f"{live_server.url}{reverse('creative_edit', args=[tenants.advertiser.pk, creative.pk])}")
    expect(page.get_by_test_id("review-status")).to_have_text("In review")
    expect(page.get_by_test_id("banner-preview")).to_be_visible()
    assert page.get_by_test_id("banner-preview").evaluate("img => img.naturalWidth") == 300
    screenshot("7-creative-edit")

    # Once approved, the page warns that an edit goes back to review, and says so after saving.
    creative.approve(by=None)
    page.reload()
    expect(page.get_by_test_id("review-status")).to_have_text("Approved")
    expect(page.get_by_test_id("approved-warning")).to_contain_text("sends it back to review")
    page.get_by_label("Landing page URL").fill("https://acme.example/spring-sale")
    page.get_by_role("button", name="Save creative").click()
    expect(page.get_by_text("sent back to review").first).to_be_visible()
    expect(page.get_by_test_id("review-status")).to_have_text("In review")
    screenshot("7b-creative-back-to-review")
    creative.refresh_from_db()
    assert creative.review_status == Creative.ReviewStatus.PENDING

    # A phone-sized screen keeps the editor usable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{reverse('ad_group_edit', args=[tenants.advertiser.pk, ad_group.pk])}")
    expect(page.get_by_role("button", name="Save ad group")).to_be_visible()
    screenshot("8-ad-group-mobile")


def test_an_analyst_sees_the_editors_read_only(page: Page, live_server, screenshot, tenants):
    campaign = CampaignFactory(advertiser=tenants.advertiser, name="Spring sale")
    from tests.factories import AdGroupFactory, CreativeFactory

    ad_group = AdGroupFactory(campaign=campaign, name="Everyone")
    creative = CreativeFactory(ad_group=ad_group, name="Banner")
    log_in(page, live_server, "analyst@acme.test")
    page.goto(f"{live_server.url}{reverse('ad_group_edit', args=[tenants.advertiser.pk, ad_group.pk])}")
    expect(page.get_by_text("read only").first).to_be_visible()
    expect(page.get_by_label("Ad group name")).to_be_disabled()
    expect(page.get_by_role("button", name="Save ad group")).to_have_count(0)
    screenshot("ad-group")
    page.goto(f"{live_server.url}{reverse('creative_edit', args=[tenants.advertiser.pk, creative.pk])}")
    expect(page.get_by_label("Creative name")).to_be_disabled()
    expect(page.get_by_role("button", name="Pause creative")).to_have_count(0)
    screenshot("creative")


def test_the_ad_group_editor_works_without_javascript(browser, live_server, tenants):
    """Plain multi-selects, every section visible, a normal form post."""
    campaign = CampaignFactory(advertiser=tenants.advertiser, name="Spring sale")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        log_in(page, live_server, "owner@acme.test")
        page.goto(f"{live_server.url}{reverse('ad_group_new', args=[tenants.advertiser.pk, campaign.pk])}")
        page.get_by_label("Ad group name").fill("No script")
        page.get_by_label("Bid", exact=True).fill("2.00")
        page.get_by_label("Countries").select_option(["DE", "FR"])
        page.get_by_label("Run on a schedule").check()
        page.get_by_label("Sun 23:00").uncheck()
        page.screenshot(
            path=str(SCREENSHOTS / "test_the_ad_group_editor_works_without_javascript.png"), full_page=True
        )
        page.get_by_role("button", name="Create ad group").click()
        expect(page.get_by_role("heading", name="No script")).to_be_visible()
        ad_group = AdGroup.objects.get(campaign=campaign)
        assert sorted(ad_group.parsed_targeting.countries) == ["DE", "FR"]
        assert ad_group.parsed_targeting.dayparting is not None
        assert ad_group.parsed_targeting.dayparting[6][23] is False
    finally:
        context.close()
