"""The report pages (reporting/views/dashboards.py) against the raw events tests/reporting/events.py
wrote: the owner and the read-only analyst see and export them, an outsider gets a 404, bad
parameters are named on the page, htmx gets one part, and an export holds the table on screen."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any

import openpyxl
import pytest
import time_machine
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reporting import exports, tables
from reporting.query import Spec
from reporting.views import dashboards, figures
from reporting.views.params import parse
from tests.conftest import client_for
from tests.factories import AdvertiserFactory, PlacementFactory, approved_creative
from tests.reporting.events import Ad, write

# Wednesday 18 March 2026, 12:00 in New York (EDT, UTC-4): "last 7 days" is 12-18 March, the
# previous period 5-11 March.
NOW = datetime(2026, 3, 18, 16, 0, tzinfo=UTC)
USD = 1_000_000


def local(day: int, hour: int) -> datetime:
    """A time on a March 2026 day in New York (EDT)."""
    return datetime(2026, 3, day, hour + 4, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(tenants, frozen) -> dict[str, Any]:
    """Two campaigns of Acme with figures this week and last week; Globex with some of its own."""
    acme = tenants.advertiser
    spring = approved_creative(ad_group__campaign__advertiser=acme, ad_group__campaign__name="Spring sale")
    spring.name = "Spring banner"
    spring.save(update_fields=["name"])
    autumn = approved_creative(ad_group__campaign__advertiser=acme, ad_group__campaign__name="Autumn teaser")
    globex = approved_creative(ad_group__campaign__advertiser=tenants.other_advertiser)
    placement = PlacementFactory(name="Front page")
    write(
        [
            # This week: 17 March, 10:00 local.
            Ad(spring, local(17, 10), click="valid", charge_micros=2 * USD, conversion_value_micros=10 * USD),
            Ad(spring, local(17, 10), country="DE", device_type="desktop", charge_micros=USD),
            Ad(spring, local(17, 11), charge_micros=USD, placement_id=placement.pk),
            Ad(autumn, local(16, 9), country="FR", charge_micros=500_000),
            # Last week: 10 March.
            Ad(spring, local(10, 10), click="valid", charge_micros=USD),
            Ad(spring, local(10, 15), charge_micros=USD),
            # Another account's figures never show in Acme's.
            Ad(globex, local(17, 10), charge_micros=7 * USD, click="valid"),
        ]
    )
    return {
        "acme": acme,
        "spring": spring.ad_group.campaign,
        "spring_group": spring.ad_group,
        "spring_creative": spring,
        "autumn": autumn.ad_group.campaign,
        "globex_campaign": globex.ad_group.campaign,
    }


def url(name: str, advertiser_id: int, *args: int, **query: str) -> str:
    path = reverse(name, args=[advertiser_id, *args])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# Reading the page ----------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """The text of each cell of each <table id=...>, by section (thead, tbody, tfoot)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self.current: str | None = None
        self.section = ""
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.current = dict(attrs).get("id") or ""
            self.tables[self.current] = {"thead": [], "tbody": [], "tfoot": []}
        elif tag in ("thead", "tbody", "tfoot"):
            self.section = tag
        elif tag == "tr" and self.current is not None:
            self.tables[self.current][self.section].append([])
        elif tag in ("th", "td") and self.current is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self.cell is not None and self.current is not None:
            self.tables[self.current][self.section][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def html_tables(html: str) -> dict[str, dict[str, list[list[str]]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def headline(html: str) -> dict[str, tuple[str, str]]:
    """Each headline figure's (value, change) as shown."""
    found = re.findall(
        r'<dt>(.*?)</dt>\s*<dd class="report-kpi__value">(.*?)</dd>\s*'
        r'<dd class="report-kpi__(?:change|note)[^"]*">(.*?)</dd>',
        html,
        re.S,
    )
    return {
        label: (unescape(value.strip()), " ".join(unescape(re.sub(r"<[^>]+>", " ", change)).split()))
        for label, value, change in found
    }


def screen_records(table: dict[str, list[list[str]]]) -> list[list[str]]:
    return table["tbody"] + table["tfoot"]


# Who can see what ---------------------------------------------------------------------------------


def test_owner_sees_the_account_figures(tenants, world) -> None:
    response = client_for(tenants.owner).get(url("report_overview", world["acme"].pk))
    assert response.status_code == 200
    html = response.content.decode()
    figures_shown = headline(html)
    # 4 impressions, 1 click, 1 conversion worth $10 this week, for $4.50; last week 2 for $2.00.
    assert figures_shown["Spend"][0] == "$4.50"
    assert figures_shown["Spend"][1].startswith("▲ +125.0%")
    assert figures_shown["Impressions"] == ("4", "▲ +100.0% up 100.0% from 2 vs 2")
    assert figures_shown["Clicks"][0] == "1"
    assert figures_shown["Clicks"][1].startswith("0.0%")
    assert figures_shown["CTR"][0] == "25.00%"
    assert figures_shown["CTR"][1].startswith("▼ \u221250.0%")  # from 50% to 25%: relative
    assert figures_shown["CPC"][0] == "$4.50"
    assert figures_shown["CPM"][0] == "$1,125.00"
    assert figures_shown["Conversions"][0] == "1"
    assert figures_shown["Conversions"][1].startswith("\u2013")  # none last week: nothing to compare
    assert figures_shown["CVR"][0] == "100.00%"
    assert figures_shown["CPA"][0] == "$4.50"
    assert figures_shown["ROAS"][0] == "2.22\u00d7"
    # Reach: the people (distinct user keys) of the valid impressions, from reporting.reach's sketches.
    assert figures_shown["Reach"][0] == "4" and figures_shown["Reach"][1].startswith("▲ +100.0%")
    assert "Conversions count at the time of the click or impression" in html
    # Top campaigns: Spring sale first, each linking to its report for the same days.
    top = html_tables(html)["table-campaigns"]
    assert [row[0] for row in top["tbody"]] == ["Spring sale", "Autumn teaser"]
    assert top["tfoot"][0][:2] == ["All campaigns", "$4.50"]
    spring_report = reverse("report_campaign", args=[world["acme"].pk, world["spring"].pk])
    assert f'href="{spring_report}?range=7d&amp;compare=previous"' in html
    assert "Globex" not in html and "$7.00" not in html


def test_analyst_views_and_exports(tenants, world) -> None:
    client = client_for(tenants.analyst)
    acme = world["acme"].pk
    for page in (
        url("report_overview", acme),
        url("report_campaign", acme, world["spring"].pk),
        url("report_ad_group", acme, world["spring_group"].pk),
        url("report_creative", acme, world["spring_creative"].pk),
    ):
        assert client.get(page).status_code == 200, page
        export = client.get(page + ("&" if "?" in page else "?") + "export=csv&table=breakdown")
        assert export.status_code == 200
        assert export["Content-Type"].startswith("text/csv")


def test_outsider_gets_404(tenants, world) -> None:
    client = client_for(tenants.outsider)
    acme = world["acme"].pk
    assert client.get(url("report_overview", acme)).status_code == 404
    assert client.get(url("report_campaign", acme, world["spring"].pk)).status_code == 404
    assert client.get(url("report_overview", acme, export="csv", table="campaigns")).status_code == 404


def test_another_accounts_objects_are_404(tenants, world) -> None:
    client = client_for(tenants.owner)
    acme = world["acme"].pk
    other = world["globex_campaign"]
    assert client.get(url("report_campaign", acme, other.pk)).status_code == 404
    assert client.get(url("report_ad_group", acme, other.ad_groups.get().pk)).status_code == 404
    creative = other.ad_groups.get().creatives.get()
    assert client.get(url("report_creative", acme, creative.pk)).status_code == 404
    # Not even through its own account's URL with Acme's owner.
    assert client.get(url("report_campaign", other.advertiser_id, other.pk)).status_code == 404


def test_anonymous_is_sent_to_log_in(world, client) -> None:
    response = client.get(url("report_overview", world["acme"].pk))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


# The entity pages -----------------------------------------------------------------------------------


def test_campaign_report_breaks_down_by_country(tenants, world) -> None:
    client = client_for(tenants.owner)
    page = url("report_campaign", world["acme"].pk, world["spring"].pk, breakdown="country")
    html = client.get(page).content.decode()
    assert headline(html)["Spend"][0] == "$4.00"  # Spring sale only
    table = html_tables(html)["table-breakdown"]
    assert table["thead"][0][:3] == ["Country", "Spend", "Impressions"]
    assert table["thead"][0][-2:] == ["Spend, comparison period", "Spend, change"]
    rows = {row[0]: row for row in table["tbody"]}
    assert set(rows) == {"United States", "Germany"}
    assert rows["United States"][1:4] == ["$3.00", "2", "1"]
    # Last week's spend was all in the United States: $2.00, so +50%; Germany had none.
    assert rows["United States"][-2:] == ["$2.00", "+50.0%"]
    assert rows["Germany"][-2:] == ["$0.00", "\u2013"]
    assert table["tfoot"][0][0] == "Total" and table["tfoot"][0][1] == "$4.00"
    assert table["tfoot"][0][-2:] == ["$2.00", "+100.0%"]


def test_ad_group_and_creative_reports(tenants, world) -> None:
    client = client_for(tenants.owner)
    acme = world["acme"].pk
    html = client.get(
        url("report_ad_group", acme, world["spring_group"].pk, breakdown="creative")
    ).content.decode()
    assert headline(html)["Spend"][0] == "$4.00"
    # Who was reached is kept by campaign: an ad group's reach is not counted, and not made up.
    assert headline(html)["Reach"] == ("Not available", figures.NO_REACH_NOTE)
    rows = html_tables(html)["table-breakdown"]["tbody"]
    assert [row[0] for row in rows] == ["Spring banner"]
    creative_report = reverse("report_creative", args=[acme, world["spring_creative"].pk])
    assert f'href="{creative_report}?' in html
    html = client.get(
        url("report_creative", acme, world["spring_creative"].pk, breakdown="placement")
    ).content.decode()
    rows = {row[0]: row[1] for row in html_tables(html)["table-breakdown"]["tbody"]}
    assert rows == {"Front page": "$1.00", "Not by placement": "$3.00"}
    # The crumbs lead back up, for the same days.
    assert "Spring sale</a>" in html


def test_breakdown_by_hour_of_day_and_device(tenants, world) -> None:
    client = client_for(tenants.owner)
    campaign = url("report_campaign", world["acme"].pk, world["spring"].pk)
    html = client.get(campaign + "?breakdown=hour_of_day").content.decode()
    rows = html_tables(html)["table-breakdown"]["tbody"]
    assert [(row[0], row[1]) for row in rows] == [("10:00", "$3.00"), ("11:00", "$1.00")]
    # 10:00 last week had $1.00 of spend (15:00 the other $1.00).
    assert rows[0][-2:] == ["$1.00", "+200.0%"]
    html = client.get(campaign + "?breakdown=device").content.decode()
    rows = html_tables(html)["table-breakdown"]["tbody"]
    assert {row[0]: row[1] for row in rows} == {"Mobile": "$3.00", "Desktop": "$1.00"}


def test_breakdown_by_day_compares_day_by_day(tenants, world) -> None:
    html = (
        client_for(tenants.owner)
        .get(url("report_overview", world["acme"].pk, breakdown="day"))
        .content.decode()
    )
    rows = html_tables(html)["table-breakdown"]["tbody"]
    assert [row[0] for row in rows] == ["2026-03-16", "2026-03-17"]
    # 17 March is the 6th day of the range: compared with 10 March, the previous period's 6th.
    assert rows[1][1] == "$4.00" and rows[1][-2:] == ["$2.00", "+100.0%"]


# Sorting ---------------------------------------------------------------------------------------------


def test_sorting_both_ways(tenants, world) -> None:
    client = client_for(tenants.owner)
    overview = url("report_overview", world["acme"].pk)
    names = lambda html: [row[0] for row in html_tables(html)["table-breakdown"]["tbody"]]  # noqa: E731
    html = client.get(overview + "?breakdown=campaign&sort=spend&dir=desc").content.decode()
    assert names(html) == ["Spring sale", "Autumn teaser"]
    assert 'aria-sort="descending"' in html
    html = client.get(overview + "?breakdown=campaign&sort=spend&dir=asc").content.decode()
    assert names(html) == ["Autumn teaser", "Spring sale"]
    assert 'aria-sort="ascending"' in html
    html = client.get(overview + "?breakdown=campaign&sort=campaign&dir=asc").content.decode()
    assert names(html) == ["Autumn teaser", "Spring sale"]
    html = client.get(overview + "?breakdown=campaign&sort=campaign&dir=desc").content.decode()
    assert names(html) == ["Spring sale", "Autumn teaser"]
    # The sorted column's header sorts the other way; the comparison follows the sorted figure.
    html = client.get(overview + "?breakdown=campaign&sort=impressions&dir=desc").content.decode()
    assert "sort=impressions&amp;dir=asc" in html
    assert html_tables(html)["table-breakdown"]["thead"][0][-2:] == [
        "Impressions, comparison period",
        "Impressions, change",
    ]


# Bad parameters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("range=fortnight", "range"),
        ("range=custom&start=2026-03-01", "end"),
        ("range=custom&start=yesterday&end=2026-03-02", "start"),
        ("range=custom&start=2026-03-05&end=2026-03-01", "end"),
        ("range=custom&start=2024-01-01&end=2026-03-01", "end"),
        ("range=custom&start=0001-01-01&end=0001-01-02", "start"),
        ("compare=last_year", "compare"),
        ("compare=custom&compare_start=2026-02-01", "compare_end"),
        ("metric=happiness", "metric"),
        ("grain=minute", "grain"),
        ("range=30d&grain=hour&range=custom&start=2026-01-01&end=2026-03-15", "grain"),
        ("breakdown=planet", "breakdown"),
        ("sort=colour", "sort"),
        ("sort=country", "sort"),
        ("dir=sideways", "dir"),
    ],
)
def test_bad_parameters_are_named_on_the_page(tenants, world, query, field) -> None:
    client = client_for(tenants.owner)
    response = client.get(url("report_campaign", world["acme"].pk, world["spring"].pk) + "?" + query)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<li><code>{field}</code>:" in html
    assert headline(html)["Spend"][0]  # the page still shows figures, of the default


def test_a_custom_range_over_a_year_is_refused_naming_end(tenants, world) -> None:
    html = (
        client_for(tenants.owner)
        .get(url("report_overview", world["acme"].pk, range="custom", start="2025-01-01", end="2026-01-02"))
        .content.decode()
    )
    assert "<li><code>end</code>: A custom range covers at most 366 days" in html
    assert "Last 7 days</strong>" in html  # and the default range is shown instead


def test_an_export_with_bad_parameters_is_refused(tenants, world) -> None:
    client = client_for(tenants.owner)
    overview = url("report_overview", world["acme"].pk)
    response = client.get(overview + "?export=pdf&table=breakdown")
    assert response.status_code == 400 and b"export:" in response.content
    response = client.get(overview + "?export=csv&table=everything")
    assert response.status_code == 400 and b"table:" in response.content
    response = client.get(overview + "?export=csv&table=breakdown&sort=colour")
    assert response.status_code == 400 and b"sort:" in response.content


# htmx ------------------------------------------------------------------------------------------------


def test_htmx_gets_only_the_part_it_targets(tenants, world) -> None:
    client = client_for(tenants.owner)
    overview = url("report_overview", world["acme"].pk)
    body = client.get(overview + "?range=30d", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="report-body")
    html = body.content.decode()
    assert html.lstrip().startswith('<div id="report-body"')
    assert "<html" not in html and 'id="report-form"' not in html
    assert "Last 30 days" in html and 'id="chart-panel"' in html
    assert "HX-Request" in body["Vary"]

    chart = client.get(overview + "?metric=clicks", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="chart-panel")
    html = chart.content.decode()
    assert html.lstrip().startswith('<section id="chart-panel"')
    assert "Clicks by day" in html and 'id="breakdown-panel"' not in html and "report-kpi" not in html

    table = client.get(
        overview + "?breakdown=country", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="breakdown-panel"
    )
    html = table.content.decode()
    assert html.lstrip().startswith('<section id="breakdown-panel"')
    assert 'id="chart-panel"' not in html
    assert [row[0] for row in html_tables(html)["table-breakdown"]["tbody"]] == [
        "United States",
        "Germany",
        "France",
    ]

    # A history restore (htmx's cache missed) gets the whole page.
    restore = client.get(overview, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restore.content.decode()


def test_a_page_is_a_handful_of_queries_on_the_rollups(tenants, world) -> None:
    """Never the raw events or the ledger, never a query per row."""
    client = client_for(tenants.owner)
    overview = url("report_overview", world["acme"].pk, breakdown="campaign")

    def rollup_queries(**headers: str) -> list[str]:
        with CaptureQueriesContext(connection) as context:
            assert client.get(overview, **headers).status_code == 200
        sql = [query["sql"] for query in context.captured_queries]
        assert not [
            q for q in sql if "delivery_" in q or "campaigns_ledgerentry" in q or "campaigns_conversion" in q
        ]
        return [q for q in sql if "reporting_" in q]

    # The chart and the headline (2), reach (2), top campaigns (1: the total is its rows' sum), the
    # breakdown (2), the watermark (1).
    assert len(rollup_queries()) == 8
    assert len(rollup_queries(HTTP_HX_REQUEST="true", HTTP_HX_TARGET="chart-panel")) == 2
    assert len(rollup_queries(HTTP_HX_REQUEST="true", HTTP_HX_TARGET="breakdown-panel")) == 3
    with CaptureQueriesContext(connection) as context:
        client.get(overview)
    before = len(context.captured_queries)
    # More campaigns, more rows: not one query more.
    more = [approved_creative(ad_group__campaign__advertiser=world["acme"]) for _ in range(3)]
    write([Ad(creative, local(17, 9), charge_micros=USD) for creative in more])
    with CaptureQueriesContext(connection) as context:
        html = client.get(overview).content.decode()
    assert len(html_tables(html)["table-breakdown"]["tbody"]) == 5
    assert len(context.captured_queries) == before


# The range picker ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_", "start", "end"),
    [
        ("today", date(2026, 3, 18), date(2026, 3, 18)),
        ("yesterday", date(2026, 3, 17), date(2026, 3, 17)),
        ("7d", date(2026, 3, 12), date(2026, 3, 18)),
        ("30d", date(2026, 2, 17), date(2026, 3, 18)),
        ("month", date(2026, 3, 1), date(2026, 3, 18)),
    ],
)
def test_range_presets_are_the_advertisers_days(db, range_, start, end) -> None:
    # 02:30 UTC on 18 March is still the 17th in New York, and already the 18th in Tokyo.
    with time_machine.travel(datetime(2026, 3, 18, 2, 30, tzinfo=UTC), tick=False):
        new_york = AdvertiserFactory(time_zone="America/New_York")
        tokyo = AdvertiserFactory(time_zone="Asia/Tokyo")
        params = parse(QueryDict(f"range={range_}"), tokyo, ("day",))
        assert (params.period.start, params.period.end) == (start, end)
        params = parse(QueryDict(f"range={range_}"), new_york, ("day",))
        one_day = timedelta(days=1)
        if range_ == "month":
            assert (params.period.start, params.period.end) == (date(2026, 3, 1), end - one_day)
        else:
            assert (params.period.start, params.period.end) == (start - one_day, end - one_day)


def test_this_month_on_the_first_is_one_day(db) -> None:
    with time_machine.travel(datetime(2026, 4, 1, 12, tzinfo=UTC), tick=False):
        params = parse(QueryDict("range=month"), AdvertiserFactory(time_zone="UTC"), ("day",))
    assert (params.period.start, params.period.end) == (date(2026, 4, 1), date(2026, 4, 1))
    assert params.grain == "hour"  # one day: by hour unless asked otherwise
    assert (params.comparison.start, params.comparison.end) == (date(2026, 3, 31), date(2026, 3, 31))


def test_previous_and_custom_comparison_periods(db, frozen) -> None:
    acme = AdvertiserFactory(time_zone="America/New_York")
    params = parse(QueryDict("range=custom&start=2026-02-01&end=2026-02-28"), acme, ("day",))
    assert (params.comparison.start, params.comparison.end) == (date(2026, 1, 4), date(2026, 1, 31))
    query = "range=7d&compare=custom&compare_start=2025-03-12&compare_end=2025-03-18"
    params = parse(QueryDict(query), acme, ("day",))
    assert (params.comparison.start, params.comparison.end) == (date(2025, 3, 12), date(2025, 3, 18))
    assert params.query().endswith(
        "compare=custom&compare_start=2025-03-12&compare_end=2025-03-18&metric=spend&grain=day"
        "&breakdown=day&sort=day&dir=asc"
    )


def test_custom_comparison_changes_the_figures(tenants, world) -> None:
    """Against 10 March alone (the previous week's only day with figures), as against the week."""
    query = {
        "range": "yesterday",
        "compare": "custom",
        "compare_start": "2026-03-10",
        "compare_end": "2026-03-10",
    }
    html = client_for(tenants.owner).get(url("report_overview", world["acme"].pk, **query)).content.decode()
    shown = headline(html)
    assert shown["Spend"][0] == "$4.00" and shown["Spend"][1].startswith("▲ +100.0%")
    assert "compared with Tue 10 Mar 2026" in html


def test_relative_change() -> None:
    assert figures.format_change(figures.relative_change(123, 100)) == "+23.0%"
    assert figures.format_change(figures.relative_change(96, 100)) == "\u22124.0%"
    assert figures.format_change(figures.relative_change(0.025, 0.02)) == "+25.0%"
    assert figures.format_change(figures.relative_change(5, 5)) == "0.0%"
    assert figures.format_change(figures.relative_change(5, 0)) == "\u2013"
    assert figures.format_change(figures.relative_change(None, 3)) == "\u2013"
    assert figures.format_change(figures.relative_change(3, None)) == "\u2013"


# Exports -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table_name", ["breakdown", "campaigns", "series"])
@pytest.mark.parametrize(
    "query",
    [
        "breakdown=campaign&sort=clicks&dir=asc",
        "breakdown=country",
        "range=30d&metric=ctr&breakdown=hour_of_day",
    ],
)
def test_exports_hold_the_table_on_screen(tenants, world, table_name, query) -> None:
    client = client_for(tenants.analyst)
    page = url("report_overview", world["acme"].pk) + "?" + query
    shown = html_tables(client.get(page).content.decode())[f"table-{table_name}"]

    response = client.get(f"{page}&export=csv&table={table_name}")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, records = rows[0], rows[1:]
    # The same columns (money ones name the currency), the same rows in the same order.
    assert [h.removesuffix(" (USD)") for h in header] == shown["thead"][0]
    assert len(records) == len(screen_records(shown))
    for record, on_screen in zip(records, screen_records(shown), strict=True):
        assert record[0] == on_screen[0]

    xlsx = client.get(f"{page}&export=xlsx&table={table_name}")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [str(v).removesuffix(" (USD)") for v in values[0]] == shown["thead"][0]
    assert [row[0] for row in values[1:]] == [row[0] for row in screen_records(shown)]

    # Both files are the page's own table (built by the function the page uses) written out, and
    # that table's every cell is the text on screen.
    params = parse(QueryDict(query), world["acme"], dashboards.BREAKDOWNS["account"])
    spec = params.spec(world["acme"], {})
    table = dashboards.build_table(table_name, params, spec, params.comparison_spec(spec))
    assert [[cell.text for cell in row] for row in [*table.rows, table.total]] == screen_records(shown)
    assert response.content == exports.to_csv(table, "USD")
    expected = [
        [v if v is None or isinstance(v, str) else pytest.approx(float(v), rel=1e-14) for v in record]
        for record in exports.records(table)
    ]
    assert values[1:] == expected  # (a spreadsheet keeps 15 significant digits)


def test_export_values_are_the_tables_exact_values(tenants, world) -> None:
    """The export equals reporting.exports of tables.build on the same spec, and each exact value is
    the one whose text the screen shows."""
    client = client_for(tenants.owner)
    acme = world["acme"]
    page = (
        url("report_campaign", acme.pk, world["spring"].pk) + "?breakdown=country&sort=impressions&dir=desc"
    )
    shown = html_tables(client.get(page).content.decode())["table-breakdown"]
    with time_machine.travel(NOW, tick=False):
        spec = Spec(acme, date(2026, 3, 12), date(2026, 3, 18), filters={"campaign": (world["spring"].pk,)})
        table = figures.breakdown_table(
            spec, spec.previous(), dimension="country", sort="impressions", descending=True
        )
    for row, on_screen in zip(table.rows, shown["tbody"], strict=True):
        assert [cell.text for cell in row] == on_screen
    expected = exports.to_csv(table, "USD")
    assert client.get(page + "&export=csv&table=breakdown").content == expected
    rows = list(csv.reader(io.StringIO(expected.decode())))
    us = next(row for row in rows if row[0] == "United States")
    assert us[1:4] == ["3", "2", "1"]  # $3 of spend as 3 dollars, 2 impressions, 1 click

    sheet = openpyxl.load_workbook(
        io.BytesIO(client.get(page + "&export=xlsx&table=breakdown").content)
    ).active
    values = {row[0]: row for row in sheet.iter_rows(values_only=True)}
    assert values["United States"][1:4] == (3, 2, 1)
    assert values["Germany"][1] == 1
    # Impressions (the sorted figure) against last week's: 2 and 2 in the United States, a change of
    # 0 (a fraction); Germany had none, so no change (an empty cell).
    assert values["United States"][-2:] == (2, 0)
    assert values["Germany"][-2:] == (0, None)
    assert values["Total"][1] == 4


def test_the_chart_table_is_zero_filled_and_exported(tenants, world) -> None:
    client = client_for(tenants.owner)
    page = url("report_overview", world["acme"].pk, range="7d", metric="spend")
    html = client.get(page).content.decode()
    series = html_tables(html)["table-series"]
    assert len(series["tbody"]) == 7  # every day, those without figures too
    assert series["tbody"][0] == ["Thu 12 Mar 2026", "$0.00", "Thu 5 Mar 2026", "$0.00"]
    assert series["tbody"][5] == ["Tue 17 Mar 2026", "$4.00", "Tue 10 Mar 2026", "$2.00"]
    assert series["tfoot"][0] == ["Total", "$4.50", "", "$2.00"]
    assert 'role="img" aria-labelledby="report-chart-title report-chart-desc"' in html
    records = list(csv.reader(io.StringIO(client.get(page + "&export=csv&table=series").content.decode())))
    assert records[0] == ["Day", "Spend (USD)", "Comparison day", "Spend, comparison period (USD)"]
    assert records[6] == ["Tue 17 Mar 2026", "4", "Tue 10 Mar 2026", "2"]
    hourly = client.get(page.replace("range=7d", "range=yesterday")).content.decode()
    assert len(html_tables(hourly)["table-series"]["tbody"]) == 24
    assert "Spend by hour" in hourly


def test_the_tables_build_is_what_top_campaigns_show(tenants, world) -> None:
    client = client_for(tenants.owner)
    html = client.get(url("report_overview", world["acme"].pk)).content.decode()
    shown = html_tables(html)["table-campaigns"]
    with time_machine.travel(NOW, tick=False):
        spec = Spec(world["acme"], date(2026, 3, 12), date(2026, 3, 18), dimensions=("campaign",))
        table = tables.build(spec, sort="spend", limit=10)
    assert [[cell.text for cell in row] for row in table.rows] == shown["tbody"]
