"""The campaign page's budget panel in a real browser: spend against the daily budget, credits, and
today's pacing chart with its table, on a desktop and on a phone; the analyst sees the same."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.money import format_micros
from campaigns.models import Campaign, CampaignDay, LedgerEntry
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_campaigns import log_in
from tests.factories import servable_campaign

pytestmark = pytest.mark.e2e

USD = 1_000_000


@pytest.fixture
def paced_campaign(tenants) -> Campaign:
    """A campaign halfway through a paced day: charges every hour so far, a credit, pacing at 62%."""
    acme = tenants.advertiser
    campaign = servable_campaign(
        advertiser=acme, name="Spring sale", status=Campaign.Status.ACTIVE, budget_micros=150 * USD
    )
    zone = acme.tz
    now = timezone.now().astimezone(zone)
    midnight = datetime.combine(now.date(), time.min, zone)
    hours_so_far = now.hour + 1
    spent = []
    total = 0
    for hour in range(hours_so_far):
        at = min(midnight + timedelta(hours=hour, minutes=30), now)
        amount = (3 + hour % 4) * USD
        total += amount
        spent.append(total)
        LedgerEntry.objects.create(
            event_id=uuid.uuid4(), kind="charge", reason="impression", advertiser=acme, campaign=campaign,
            ad_group_id=1, amount_micros=amount, currency=acme.currency, day=now.date(), at=at,
        )  # fmt: skip
    LedgerEntry.objects.create(
        event_id=uuid.uuid4(), kind="credit", reason="over_daily_budget", advertiser=acme, campaign=campaign,
        amount_micros=1_250_000, currency=acme.currency, day=now.date() - timedelta(days=1),
        at=now - timedelta(days=1),
    )  # fmt: skip
    plan = [(hour + 1) * 150 * USD // 24 for hour in range(24)]
    # Saving the campaign recorded today's cap already; the pacing controller fills in the rest.
    CampaignDay.objects.update_or_create(
        campaign=campaign, day=now.date(),
        defaults={
            "cap_micros": 150 * USD, "budget_micros": 150 * USD, "spent_micros": total,
            "planned_micros": plan[now.hour], "rate": 0.62, "hourly_plan": plan, "hourly_spent": spent,
        },
    )  # fmt: skip
    campaign.spent_today = format_micros(total, acme.currency)  # type: ignore[attr-defined]
    return campaign


def test_the_budget_panel_shows_spend_credits_and_pacing(page: Page, live_server, paced_campaign) -> None:
    log_in(page, live_server, "owner@acme.test")
    page.goto(f"{live_server.url}/a/{paced_campaign.advertiser_id}/campaigns/{paced_campaign.pk}/")

    panel = page.get_by_role("region", name="Budget and pacing")
    expect(panel).to_contain_text("spent today of $150.00 daily budget")
    expect(panel).to_contain_text("Remaining today")
    expect(panel).to_contain_text("Credited: $1.25 — spend over your budget is never charged.")
    expect(panel).to_contain_text("Spent over the daily budget")
    expect(panel).to_contain_text("62% of auctions")
    expect(panel).to_contain_text("Limited by budget")
    chart = panel.get_by_role("img", name="Today's pacing: planned and actual spend by hour")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 150

    panel.get_by_text("Hour by hour").click()
    expect(panel.get_by_role("row", name="00:00\N{EN DASH}01:00")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "campaign-budget.png"), full_page=True)

    # On a phone the panel comes above the settings, full width, its chart still readable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    panel = page.get_by_role("region", name="Budget and pacing")
    expect(panel).to_be_visible()
    box = panel.get_by_role("img").bounding_box()
    assert box is not None and 300 < box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
    panel.screenshot(path=str(SCREENSHOTS / "campaign-budget-phone.png"))

    # The list says the same: spend today from the ledger, and the state with its reason.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/a/{paced_campaign.advertiser_id}/campaigns/?range=today")
    row = page.locator(f"#campaign-{paced_campaign.pk}")
    expect(row).to_contain_text("Limited by budget")
    expect(row).to_contain_text("Pacing is holding back 38%")
    expect(row).to_contain_text(paced_campaign.spent_today)  # type: ignore[attr-defined]
    page.screenshot(path=str(SCREENSHOTS / "campaign-budget-list.png"), full_page=True)


def test_the_analyst_sees_the_panel(page: Page, live_server, paced_campaign) -> None:
    log_in(page, live_server, "analyst@acme.test")
    page.goto(f"{live_server.url}/a/{paced_campaign.advertiser_id}/campaigns/{paced_campaign.pk}/")
    panel = page.get_by_role("region", name="Budget and pacing")
    expect(panel).to_contain_text("Credited: $1.25")
    expect(panel.get_by_role("img", name="Today's pacing: planned and actual spend by hour")).to_be_visible()
    expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
