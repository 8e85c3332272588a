"""The reports in a real browser: the owner opens the account's report, changes the range and the
chart's metric (htmx swaps parts, the page is never reloaded), opens a campaign's report, breaks it
down by country, sorts, and downloads the table as CSV; on a desktop and on a phone."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import Campaign
from reporting import charts
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_campaigns import log_in
from tests.factories import approved_creative
from tests.reporting.events import Ad, write

pytestmark = pytest.mark.e2e

USD = 1_000_000


@pytest.fixture
def campaigns(tenants) -> dict[str, Campaign]:
    """Two weeks of figures for two campaigns, in three countries, rolled up."""
    acme = tenants.advertiser
    spring = approved_creative(ad_group__campaign__advertiser=acme, ad_group__campaign__name="Spring sale")
    autumn = approved_creative(ad_group__campaign__advertiser=acme, ad_group__campaign__name="Autumn teaser")
    now = timezone.now()
    ads = []
    for days_ago in range(14):
        for n in range(1 + days_ago % 4):
            at = now - timedelta(days=days_ago, hours=1 + n * 3)
            ads.append(
                Ad(
                    spring,
                    at,
                    country=("US", "DE", "FR")[n % 3],
                    device_type=("mobile", "desktop")[n % 2],
                    click="valid" if n % 2 == 0 else None,
                    charge_micros=(2 + n) * USD // 2,
                    conversion_value_micros=12 * USD if n == 0 and days_ago % 3 == 0 else None,
                )
            )
        ads.append(Ad(autumn, now - timedelta(days=days_ago, hours=2), country="GB", charge_micros=USD // 4))
    write(ads)
    return {"spring": spring.ad_group.campaign, "autumn": autumn.ad_group.campaign}


def test_the_owner_reads_and_exports_reports(page: Page, live_server, tenants, campaigns) -> None:
    acme = tenants.advertiser
    log_in(page, live_server, "owner@acme.test")
    page.goto(f"{live_server.url}/a/{acme.pk}/reports/")
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    expect(page.locator(".report-freshness")).to_contain_text("Figures up to")
    chart = page.get_by_role("img", name=re.compile(r"^Spend by day"))
    expect(chart).to_be_visible()
    # Set on the page as it loaded: a full reload would lose both.
    page.evaluate("window.reportMarker = 'before'; document.body.dataset.marker = 'kept'")

    page.get_by_label("Date range").select_option("30d")
    expect(page.locator(".report-period")).to_contain_text("Last 30 days")
    expect(page).to_have_url(re.compile(r"range=30d"))
    assert "start=" not in page.url  # the custom dates stay out of a preset's URL
    series_rows = page.locator("#table-series tbody tr")
    expect(series_rows).to_have_count(30)  # every day, zero or not

    page.get_by_label("Metric").select_option("clicks")
    expect(page.get_by_role("img", name=re.compile(r"^Clicks by day"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"metric=clicks"))
    expect(page).to_have_url(re.compile(r"range=30d"))
    assert page.evaluate("window.reportMarker") == "before"
    assert page.evaluate("document.body.dataset.marker") == "kept"
    page.get_by_role("radio", name="By hour").check()
    expect(page.get_by_role("img", name=re.compile(r"^Clicks by hour"))).to_be_visible()
    today = acme.local_today()
    hours = charts.hour_slots(today - timedelta(days=29), today, acme.tz)  # 719 to 721 across a clock change
    expect(series_rows).to_have_count(len(hours))
    page.get_by_role("radio", name="By day").check()
    expect(page.get_by_role("img", name=re.compile(r"^Clicks by day"))).to_be_visible()
    page.get_by_text("Show as table").click()
    expect(page.locator("#table-series")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "reports-overview.png"), full_page=True)

    # The link to the campaign's report keeps the days.
    page.locator("#table-campaigns").get_by_role("link", name="Spring sale").click()
    expect(page.get_by_role("heading", name="Spring sale", level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/reports/campaigns/\d+/\?range=30d"))
    expect(page.locator(".report-period")).to_contain_text("Last 30 days")
    page.evaluate("window.reportMarker = 'campaign'")

    panel = page.locator("#breakdown-panel")
    panel.get_by_role("link", name="Country").click()
    expect(page.locator("#table-breakdown thead th").first).to_have_text("Country")
    expect(page).to_have_url(re.compile(r"breakdown=country"))
    countries = page.locator("#table-breakdown tbody th")
    expect(countries).to_have_count(3)

    page.locator("#table-breakdown thead").get_by_role("link", name=re.compile(r"^Impressions")).click()
    header = page.locator("#table-breakdown thead th", has_text=re.compile(r"^\s*Impressions\s*$"))
    expect(header).to_have_attribute("aria-sort", "descending")
    most_first = countries.all_inner_texts()
    page.locator("#table-breakdown thead").get_by_role("link", name=re.compile(r"^Impressions")).click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"sort=impressions&dir=asc"))
    assert countries.all_inner_texts() == list(reversed(most_first))
    assert page.evaluate("window.reportMarker") == "campaign"
    shown = [
        [cell.strip() for cell in row.locator("th, td").all_inner_texts()]
        for row in page.locator("#table-breakdown tbody tr").all()
    ]
    page.screenshot(path=str(SCREENSHOTS / "reports-campaign.png"), full_page=True)

    with page.expect_download() as download_info:
        panel.get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    records = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert records[0][:3] == ["Country", "Spend (USD)", "Impressions"]
    assert [record[0] for record in records[1:-1]] == [row[0] for row in shown]
    assert [record[2] for record in records[1:-1]] == [row[2] for row in shown]  # impressions, as shown

    # Reloading the pushed URL shows the same table: the view can be shared by its link.
    page.reload()
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert countries.all_inner_texts() == list(reversed(most_first))

    # On a phone: nothing wider than the screen but the tables, which scroll in their own box.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("img", name=re.compile(r"^Spend by day"))).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator(".report-chart__svg").bounding_box()
    assert box is not None and box["width"] > 250
    page.screenshot(path=str(SCREENSHOTS / "reports-campaign-phone.png"), full_page=True)


def test_the_analyst_reads_today_by_hour(page: Page, live_server, tenants, campaigns) -> None:
    log_in(page, live_server, "analyst@acme.test")
    page.goto(f"{live_server.url}/a/{tenants.advertiser.pk}/reports/?range=today")
    expect(page.get_by_role("img", name=re.compile(r"^Spend by hour"))).to_be_visible()
    expect(page.locator("#table-campaigns")).to_contain_text("Spring sale")
    page.screenshot(path=str(SCREENSHOTS / "reports-today.png"), full_page=True)
