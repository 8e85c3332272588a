"""Log in, see the ad accounts with their campaigns, switch account, log out: in a real browser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from campaigns.models import Campaign
from tests.factories import (
    PASSWORD,
    AdvertiserFactory,
    CampaignFactory,
    MembershipFactory,
    servable_campaign,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_accounts(tenants):
    """The owner of Acme Shoes is also an analyst of Zenith Bikes (direct, EUR); both have campaigns.

    Returns Zenith Bikes."""
    acme = tenants.advertiser
    zenith = AdvertiserFactory.create(
        name="Zenith Bikes", agency=None, currency="EUR", time_zone="Europe/Berlin"
    )
    MembershipFactory.create(user=tenants.owner, advertiser=zenith, role=Role.ANALYST)
    active, paused = Campaign.Status.ACTIVE, Campaign.Status.PAUSED
    in_60_days, in_7_days = timezone.now() + timedelta(days=60), timezone.now() + timedelta(days=7)

    servable_campaign(advertiser=acme, name="Spring sale", status=active, budget_micros=150_000_000)
    CampaignFactory.create(advertiser=acme, name="Retargeting: cart abandoners", objective="traffic")
    CampaignFactory.create(
        advertiser=acme, name="Summer teaser", status=paused, budget_micros=2_500_000_000,
        budget_type=Campaign.BudgetType.LIFETIME, ends_at=in_60_days,
    )  # fmt: skip
    servable_campaign(
        advertiser=zenith, name="Gravel bikes launch", status=active, budget_micros=80_000_000,
        starts_at=in_7_days,
    )  # fmt: skip
    CampaignFactory.create(advertiser=tenants.other_advertiser, name="Globex launch")
    return zenith


def test_log_in_see_accounts_switch_and_log_out(page: Page, live_server, screenshot, two_accounts):
    zenith = two_accounts

    # Logged out, home sends us to the login page.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    expect(page.get_by_role("heading", name="Log in to Adwright")).to_be_visible()
    expect(page.get_by_label("Email address")).to_be_focused()
    screenshot("1-login")

    # A wrong password is refused with a clear error; the email is kept.
    page.get_by_label("Email address").fill("owner@acme.test")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    expect(page.get_by_label("Email address")).to_have_value("owner@acme.test")
    screenshot("2-login-error")

    # The email matches in any case.
    page.get_by_label("Email address").fill("Owner@Acme.TEST")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Ad accounts", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Your account")).to_contain_text("owner@acme.test")

    acme = page.get_by_role("region", name="Acme Shoes", exact=True)
    expect(acme).to_contain_text("Current account")
    expect(acme.get_by_role("row", name="Spring sale")).to_contain_text("Delivering")
    expect(acme.get_by_role("row", name="Spring sale")).to_contain_text("$150.00")
    expect(acme.get_by_role("row", name="Retargeting: cart abandoners")).to_contain_text("Not published yet.")
    expect(acme.get_by_role("row", name="Summer teaser")).to_contain_text("lifetime")
    expect(page.get_by_role("region", name="Zenith Bikes", exact=True)).to_contain_text("Gravel bikes launch")
    expect(page.get_by_text("Globex launch")).to_have_count(0)
    screenshot("3-home")

    # Switch to the other account: it becomes the current one, listed first.
    page.get_by_label("Ad account", exact=True).select_option(label="Zenith Bikes")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_label("Ad account", exact=True)).to_have_value(str(zenith.pk))
    zenith_section = page.get_by_role("region", name="Zenith Bikes", exact=True)
    expect(zenith_section).to_contain_text("Current account")
    expect(zenith_section).to_contain_text("Direct")
    expect(zenith_section).to_contain_text("€80.00")
    expect(zenith_section).to_contain_text("Scheduled")
    expect(page.locator("section.account").first).to_have_attribute(
        "aria-labelledby", f"account-{zenith.pk}-name"
    )
    screenshot("4-switched")

    # Narrow screens keep everything reachable.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    screenshot("5-mobile")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Log out (a POST form), and home is closed again.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")


def test_a_user_without_accounts_sees_the_empty_state(page: Page, live_server, screenshot, django_user_model):
    django_user_model.objects.create_user("new@example.com", PASSWORD)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email address").fill("new@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="You have no ad accounts yet")).to_be_visible()
    expect(page.get_by_label("Ad account", exact=True)).to_have_count(0)
    screenshot("empty")
