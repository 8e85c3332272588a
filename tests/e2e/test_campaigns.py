"""The Ads Manager's campaign journeys in a real browser: create a campaign through the steps, find
it in the list, pause with the switch, edit a budget in its cell (a wrong value refused in place),
bulk-archive two campaigns; an analyst sees everything and can change nothing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import Campaign
from tests.factories import PASSWORD, CampaignFactory, png_file, servable_campaign

pytestmark = pytest.mark.e2e


def log_in(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Ad accounts", level=1)).to_be_visible()


@pytest.fixture
def account(tenants):
    acme = tenants.advertiser
    servable_campaign(
        advertiser=acme, name="Spring sale", status=Campaign.Status.ACTIVE, budget_micros=150_000_000
    )
    CampaignFactory(advertiser=acme, name="Old banner test")
    CampaignFactory(advertiser=acme, name="Old video test", objective="traffic")
    return acme


def row(page: Page, name: str):
    return page.locator("#campaign-table tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )


def test_create_a_campaign_and_manage_it_in_the_list(page: Page, live_server, screenshot, account, tmp_path):
    log_in(page, live_server, "owner@acme.test")

    # Home links each account to its Ads Manager.
    page.get_by_role("link", name="Open Acme Shoes").click()
    expect(page.get_by_role("heading", name="Acme Shoes", level=1)).to_be_visible()
    expect(page.get_by_text("No delivery yet")).to_be_visible()
    screenshot("1-overview")

    page.get_by_role("navigation", name="Acme Shoes").get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="Campaigns", level=1)).to_be_visible()
    expect(row(page, "Spring sale")).to_contain_text("Delivering")
    screenshot("2-list")

    # Step 1: the objective.
    page.get_by_role("link", name="+ New campaign").click()
    expect(page.get_by_role("heading", name="New campaign", level=1)).to_be_visible()
    page.get_by_text("Traffic", exact=True).click()
    screenshot("3-step-1")
    page.get_by_role("button", name="Continue").click()

    # Step 2: budget and schedule, validated as the user types.
    expect(page.get_by_role("heading", name="Budget and schedule")).to_be_visible()
    page.get_by_label("Campaign name").fill("Autumn launch")
    page.get_by_label("Budget amount").fill("12.345")
    expect(page.locator("#id_budget-error")).to_contain_text("at most 2 decimal places")
    page.get_by_text("Lifetime", exact=True).click()
    expect(page.locator("#id_ends_at-error")).to_contain_text("A lifetime budget needs an end date.")
    screenshot("4-step-2-errors")
    page.get_by_label("Budget amount").fill("40")
    expect(page.locator("#id_budget-error")).to_be_empty()
    page.get_by_text("Daily", exact=True).click()
    page.get_by_role("button", name="Save draft and continue").click()

    campaign = Campaign.objects.get(name="Autumn launch")
    assert (campaign.status, campaign.objective, campaign.budget_micros) == ("draft", "traffic", 40_000_000)
    screenshot("5-after-step-2")
    if "/ad-groups/new/" in page.url:
        # Steps 3 and 4 are the ad group and creative editors' pages.
        go_through_ad_group_and_creative(page, screenshot, tmp_path)
        expect(page.get_by_role("heading", name="Autumn launch", level=1)).to_be_visible()
        expect(page.get_by_role("button", name="Publish")).to_be_visible()
        screenshot("6-publish")

    # The list: the new draft is there.
    page.get_by_role("navigation", name="Acme Shoes").get_by_role("link", name="Campaigns").click()
    expect(row(page, "Autumn launch")).to_contain_text("Draft")

    # The switch: pause a delivering campaign.
    switch = row(page, "Spring sale").get_by_role("switch")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(row(page, "Spring sale").get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(row(page, "Spring sale")).to_contain_text("Paused")
    assert Campaign.objects.get(name="Spring sale").status == Campaign.Status.PAUSED

    # A draft without a creative cannot be switched on: the reason is shown in the row.
    row(page, "Old banner test").get_by_role("switch").click()
    expect(row(page, "Old banner test").get_by_role("alert")).to_contain_text("approved, active creative")
    screenshot("7-switch-refused")

    # The budget, edited in its cell: a wrong value is refused in place and kept.
    row(page, "Spring sale").get_by_role("link", name="Edit budget of Spring sale").click()
    budget = page.get_by_label("Budget of Spring sale (USD)")
    expect(budget).to_be_focused()
    budget.fill("12.345")
    budget.press("Enter")
    expect(row(page, "Spring sale").get_by_role("alert")).to_contain_text("at most 2 decimal places")
    expect(page.get_by_label("Budget of Spring sale (USD)")).to_have_value("12.345")
    screenshot("8-budget-error")
    page.get_by_label("Budget of Spring sale (USD)").fill("99.50")
    row(page, "Spring sale").get_by_role("button", name="Save").click()
    expect(row(page, "Spring sale")).to_contain_text("$99.50")
    assert Campaign.objects.get(name="Spring sale").budget_micros == 99_500_000

    # Bulk: archive two campaigns in one go.
    page.get_by_label("Select Old banner test").check()
    page.get_by_label("Select Old video test").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#bulk-form").get_by_role("button", name="Archive").click()
    expect(page.locator("#toasts")).to_contain_text("Archived 2 campaigns")
    expect(row(page, "Old banner test")).to_have_count(0)
    expect(row(page, "Old video test")).to_have_count(0)
    archived = Campaign.objects.filter(name__startswith="Old", status=Campaign.Status.ARCHIVED)
    assert archived.count() == 2
    screenshot("9-bulk-archived")

    # Search and filters live in the URL.
    page.get_by_label("Search").fill("spring")
    expect(page).to_have_url(re.compile(r"q=spring"))
    expect(row(page, "Autumn launch")).to_have_count(0)
    expect(row(page, "Spring sale")).to_have_count(1)
    page.get_by_label("Status").select_option("archived")
    expect(page).to_have_url(re.compile(r"status=archived"))
    page.get_by_label("Search").fill("")
    expect(row(page, "Old video test")).to_have_count(1)
    page.go_back()
    page.get_by_label("Status").select_option("")

    # The campaign's page.
    page.get_by_role("link", name="Autumn launch", exact=True).click()
    expect(page.get_by_role("heading", name="Autumn launch", level=1)).to_be_visible()
    screenshot("10-campaign-page")

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("navigation", name="Acme Shoes").get_by_role("link", name="Campaigns").click()
    expect(row(page, "Spring sale")).to_be_visible()
    screenshot("11-list-mobile")


def go_through_ad_group_and_creative(page: Page, screenshot, tmp_path) -> None:
    screenshot("5a-ad-group")
    page.get_by_label("Ad group name").fill("US adults")
    page.get_by_text("Manual CPC", exact=True).click()
    page.get_by_label("Bid", exact=True).fill("1.50")
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/creatives/new/"))
    screenshot("5b-creative")
    page.get_by_label("Creative name").fill("Autumn banner")
    image = tmp_path / "banner.png"
    image.write_bytes(png_file(300, 250).read())
    page.locator("input[type=file]").first.set_input_files(str(image))
    page.get_by_label("Landing page URL").fill("https://example.com/autumn")
    page.get_by_role("button", name="Save and continue").click()


def test_an_analyst_sees_the_pages_but_cannot_edit(page: Page, live_server, screenshot, account):
    log_in(page, live_server, "analyst@acme.test")
    page.get_by_role("link", name="Open Acme Shoes").click()
    expect(page.get_by_text("Read only")).to_be_visible()
    page.get_by_role("navigation", name="Acme Shoes").get_by_role("link", name="Campaigns").click()
    expect(row(page, "Spring sale")).to_contain_text("On")
    expect(page.get_by_role("switch")).to_have_count(0)
    expect(page.get_by_role("link", name="+ New campaign")).to_have_count(0)
    expect(page.locator("#bulk-form")).to_have_count(0)
    screenshot("1-list")

    page.get_by_role("link", name="Spring sale", exact=True).click()
    expect(page.get_by_text("Your role on this account is read only.")).to_be_visible()
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
    screenshot("2-campaign")

    # A forged POST (with the page's own CSRF token) is refused, and nothing changes.
    campaign = Campaign.objects.get(name="Spring sale")
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
    response = page.request.post(
        f"{live_server.url}/a/{account.pk}/campaigns/{campaign.pk}/status/",
        form={"action": "pause"},
        headers={"X-CSRFToken": token, "Referer": live_server.url + "/"},
    )
    status = response.status
    assert status == 403
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.ACTIVE
