"""In a real browser: an account admin sets up a conversion event (copies its postback URL, sends a
test event, sees a postback from their server arrive), adds a member and changes their role, creates
an API key (its token shown once), and reads all of it in the change history."""

from __future__ import annotations

import re
import urllib.request
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from accounts.models import ApiKey, Membership, Role
from campaigns.models import Conversion, ConversionEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]


def log_in(page: Page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Ad accounts", level=1)).to_be_visible()


def test_admin_sets_up_conversions_members_keys_and_reads_the_history(
    page: Page, live_server, screenshot, tenants
):
    acme = tenants.advertiser
    UserFactory(email="newcomer@acme.test")
    base = f"{live_server.url}/a/{acme.pk}"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server, "owner@acme.test")

    # Conversion events: the empty state says what to do.
    page.goto(f"{base}/conversions/")
    expect(page.get_by_role("heading", name="No conversion events yet")).to_be_visible()
    screenshot("1-conversions-empty")
    page.get_by_role("link", name="New conversion event").first.click()

    # A wrong value is refused next to its field, keeping everything typed.
    page.get_by_label("Name").fill("Checkout completed")
    page.get_by_label("Category").select_option(label="Purchase")
    page.get_by_label("Click-through window (days)").fill("30")
    page.get_by_label("Default value (USD)").fill("12.505")
    page.get_by_role("button", name="Create event").click()
    expect(page.get_by_text("USD amounts have at most 2 decimal places.")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Checkout completed")
    expect(page.get_by_label("Click-through window (days)")).to_have_value("30")
    screenshot("2-conversion-error")
    page.get_by_label("Default value (USD)").fill("12.50")
    page.get_by_role("button", name="Create event").click()

    # The event's page: postback URL and pixel to copy, with the parameters documented.
    expect(page.get_by_role("heading", name=re.compile("Checkout completed"), level=1)).to_be_visible()
    expect(page.get_by_text("Conversion event “Checkout completed” created.")).to_be_visible()
    event = ConversionEvent.objects.get(advertiser=acme)
    postback = (
        f"{live_server.url}/t/conversions?token={event.token}"
        "&event_id={event_id}&click_id={click_id}&value={value}"
    )
    expect(page.get_by_label("Server-to-server postback (GET or POST)")).to_have_value(postback)
    page.get_by_role("button", name="Copy URL").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == postback
    page.get_by_role("button", name="Copy snippet").click()
    assert page.evaluate("navigator.clipboard.readText()").startswith(
        f'<img src="{live_server.url}/t/px/{event.token}?event_id='
    )

    # Send a test event: it is listed with its time, without a page load.
    expect(page.get_by_text("No conversions yet.")).to_be_visible()
    page.get_by_role("button", name="Send test event").click()
    recent = page.locator("#recent-conversions")
    expect(recent.get_by_text("Test event sent")).to_be_visible()
    rows = recent.locator("tbody tr")
    expect(rows).to_have_count(1)
    test = Conversion.objects.get()
    expect(rows.first).to_contain_text(test.event_id)
    expect(rows.first).to_contain_text("$12.50")
    expect(rows.first).to_contain_text("Not counted (test)")

    # The advertiser's server sends a real postback: it appears by itself within the refresh.
    query = urlencode({"token": event.token, "event_id": "order-1001", "value": "59.90"})
    with urllib.request.urlopen(f"{live_server.url}/t/conversions?{query}", timeout=10) as sent:  # noqa: S310
        assert sent.status == 201
    expect(rows).to_have_count(2, timeout=12_000)
    expect(rows.first).to_contain_text("order-1001")
    expect(rows.first).to_contain_text("$59.90")
    expect(rows.first).to_contain_text("Not attributed")
    screenshot("3-conversion-event")

    # Settings: add a member by email, then change their role in place.
    page.goto(f"{base}/settings/")
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    page.get_by_label("Email address").fill("newcomer@acme.test")
    page.get_by_role("form", name="Add a member").get_by_label("Role").select_option(label="Analyst")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("newcomer@acme.test can now use this account as analyst.")).to_be_visible()
    membership = Membership.objects.get(user__email="newcomer@acme.test", advertiser=acme)
    row = page.locator(f"#member-{membership.pk}")
    row.get_by_label("Role of newcomer@acme.test").select_option(label="Manager")
    row.get_by_role("button", name="Change role").click()
    expect(page.locator(f"#member-{membership.pk}").get_by_text("Saved: manager.")).to_be_visible()
    membership.refresh_from_db()
    assert membership.role == Role.MANAGER
    screenshot("4-members")

    # A wrong email is refused next to the field and kept.
    page.get_by_label("Email address").fill("nobody@acme.test")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("they need one first")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value("nobody@acme.test")

    # An API key: the token is shown once, with a copy button and a warning.
    page.get_by_label("Key name").fill("Reporting script")
    page.get_by_label("Key role").select_option(label="Analyst")
    page.get_by_role("button", name="Create key").click()
    token_input = page.get_by_label("New API key")
    expect(token_input).to_be_visible()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    token = token_input.input_value()
    key = ApiKey.objects.get(advertiser=acme)
    assert token.startswith(f"adw_{key.prefix}_")
    assert ApiKey.authenticate(token) == key
    page.get_by_role("button", name="Copy key").click()
    assert page.evaluate("navigator.clipboard.readText()") == token
    screenshot("5-api-key-created")

    page.reload()
    expect(page.get_by_role("cell", name=f"adw_{key.prefix}_…")).to_be_visible()
    expect(page.get_by_label("New API key")).to_have_count(0)
    assert token not in page.content()

    # Revoke it, after a confirmation.
    page.get_by_role("link", name="Revoke Reporting script").click()
    expect(page.get_by_role("heading", name="Revoke the API key “Reporting script”?")).to_be_visible()
    screenshot("6-revoke-confirm")
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("API key “Reporting script” revoked.")).to_be_visible()
    assert ApiKey.authenticate(token) is None
    screenshot("7-settings-after")

    # The history tells the whole story, newest first.
    page.goto(f"{base}/history/")
    entries = page.locator(".history__entry")
    expect(entries.first).to_contain_text("revoked API key Reporting script")
    expect(page.locator("main")).to_contain_text("created API key Reporting script")
    expect(page.locator("main")).to_contain_text("changed member")
    expect(page.locator("main")).to_contain_text("created member")
    expect(page.locator("main")).to_contain_text("sent a test event for conversion event Checkout completed")
    expect(page.locator("main")).to_contain_text("created conversion event Checkout completed")
    expect(page.locator("main")).to_contain_text("$12.50")
    expect(page.locator("main")).to_contain_text("Ads Manager")
    screenshot("8-history")

    # Filter by object type: the list is replaced in place.
    page.get_by_label("Changes to").select_option(label="Members")
    expect(entries).to_have_count(2)
    expect(page).to_have_url(re.compile(r"type=accounts.Membership"))
    expect(entries.first).to_contain_text("Analyst")
    expect(entries.first).to_contain_text("Manager")
    screenshot("9-history-members")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/history/")
    screenshot("10-history-mobile")
    page.goto(f"{base}/conversions/{event.pk}/")
    screenshot("11-conversion-mobile")
    page.goto(f"{base}/settings/")
    screenshot("12-settings-mobile")


def test_analyst_reads_conversions_and_history_without_edit_controls(
    page: Page, live_server, screenshot, tenants
):
    event = ConversionEvent.objects.create(advertiser=tenants.advertiser, name="Sign-up", category="sign_up")
    base = f"{live_server.url}/a/{tenants.advertiser.pk}"
    log_in(page, live_server, "analyst@acme.test")

    page.goto(f"{base}/conversions/{event.pk}/")
    expect(page.get_by_role("heading", name=re.compile("Sign-up"), level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Send test event")).to_have_count(0)
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
    expect(page.get_by_text("Your role on this account is read only.")).to_be_visible()
    screenshot("conversion-read-only")

    # No way to the settings (admins only; a request for them gets 403, see the view tests).
    expect(page.get_by_role("link", name="Settings", exact=True)).to_have_count(0)
