"""GET /api/v1/reports: who may ask, each parameter's errors, the numbers (equal to the raw events
written and to the dashboards' table), CSV and XLSX, other time zones, filters, and a large report
that becomes a job whose download equals the inline answer."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import hypothesis
import openpyxl
import pytest
import time_machine
from hypothesis import HealthCheck
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import Advertiser, Role
from campaigns.models import Creative
from campaigns.targeting import DEVICE_TYPES
from reporting import exports, rollup, tables
from reporting.jobs import ReportQuery, estimate_rows
from reporting.models import ReportJob
from reporting.query import DIMENSIONS, METRICS, Spec
from tests.api.conftest import error_of
from tests.conftest import Tenants, api_client
from tests.factories import PlacementFactory, approved_creative, issue_api_key
from tests.reporting.events import Ad, write

URL = "/api/v1/reports"
# A Tuesday in New York (EST, UTC-5), within the raw events' retention when the events are written.
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
SUNDAY, MONDAY = date(2026, 11, 8), date(2026, 11, 9)
RANGE = {"start": "2026-11-08", "end": "2026-11-09"}


@dataclass
class Data:
    tenants: Tenants
    advertiser: Advertiser
    spring: Creative  # campaign "Spring sale"
    retargeting: Creative  # campaign "Retargeting"
    foreign: Creative  # the other advertiser's
    placement_id: int
    token: str  # an admin key of the advertiser


def write_events(tenants: Tenants) -> Data:
    """Five ads of Acme Shoes (New York) over its Sunday and Monday, one of Globex's."""
    advertiser = tenants.advertiser
    with time_machine.travel(NOW, tick=False):
        spring = approved_creative(
            ad_group__campaign__advertiser=advertiser, ad_group__campaign__name="Spring sale", name="Banner A"
        )
        retargeting = approved_creative(
            ad_group__campaign__advertiser=advertiser, ad_group__campaign__name="Retargeting", name="Banner B"
        )
        foreign = approved_creative(ad_group__campaign__advertiser=tenants.other_advertiser)
        placement = PlacementFactory(name="Homepage")

        def at(day: int, hour: int, minute: int = 0) -> datetime:
            return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

        write(
            [
                # Sunday 10:00 New York: clicked, converted.
                Ad(
                    spring,
                    at(8, 15),
                    placement_id=placement.pk,
                    click="valid",
                    charge_micros=1_250_000,
                    conversion_value_micros=20_000_000,
                ),
                Ad(spring, at(8, 16), country="FR", device_type="desktop", charge_micros=750_000),
                # Sunday 22:30 in New York, but already Monday in UTC.
                Ad(retargeting, at(9, 3, 30), click="valid", charge_micros=500_000),
                # Monday: an invalid impression, and a valid one.
                Ad(retargeting, at(9, 18), country="DE", device_type="tablet", impression="invalid"),
                Ad(retargeting, at(9, 19), device_type="desktop", charge_micros=333_333),
                Ad(foreign, at(8, 15), charge_micros=9_999_999),
            ]
        )
    token = issue_api_key(role=Role.ADMIN, advertiser=advertiser)[1]
    return Data(tenants, advertiser, spring, retargeting, foreign, placement.pk, token)


@pytest.fixture
def data(tenants: Tenants, redis_client: Any) -> Data:
    return write_events(tenants)


def get(client: APIClient, **params: Any) -> Any:
    return client.get(URL, params)


def ask(data: Data, **params: Any) -> dict[str, Any]:
    response = get(api_client(data.token), advertiser=data.advertiser.pk, **RANGE, **params)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def rows_by(body: dict[str, Any], dimension: str) -> dict[Any, dict[str, Any]]:
    return {row["dimensions"][dimension]["value"]: row for row in body["rows"]}


# Who may ask ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caller", ["owner_session", "owner_key", "agency_key", "analyst_session", "analyst_key"]
)
def test_everyone_with_a_role_reads_the_report(data: Data, caller: str) -> None:
    tenants = data.tenants
    agency = data.advertiser.agency
    principal: Any = {
        "owner_session": tenants.owner,
        "owner_key": data.token,
        "agency_key": issue_api_key(role=Role.ANALYST, agency=agency)[1],
        "analyst_session": tenants.analyst,
        "analyst_key": issue_api_key(role=Role.ANALYST, advertiser=data.advertiser)[1],
    }[caller]
    response = get(api_client(principal), advertiser=data.advertiser.pk, **RANGE)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["totals"]["impressions"] == 4


def test_an_outsider_gets_404_as_for_a_missing_advertiser(data: Data) -> None:
    outsider = api_client(data.tenants.outsider)
    foreign = get(outsider, advertiser=data.advertiser.pk, **RANGE)
    missing = get(outsider, advertiser=999_999_999, **RANGE)

    assert foreign.status_code == missing.status_code == 404
    assert error_of(foreign) == error_of(missing)
    assert error_of(foreign)["code"] == "not_found"
    assert "Acme" not in foreign.content.decode()


def test_another_agencys_key_gets_404(data: Data) -> None:
    token = issue_api_key(role=Role.ADMIN, agency=data.tenants.other_advertiser.agency)[1]
    assert get(api_client(token), advertiser=data.advertiser.pk, **RANGE).status_code == 404


def test_anonymous_callers_are_asked_to_authenticate(data: Data) -> None:
    response = get(APIClient(), advertiser=data.advertiser.pk, **RANGE)

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response.has_header("WWW-Authenticate")


def test_a_post_is_not_allowed(data: Data) -> None:
    response = api_client(data.token).post(URL, {"advertiser": data.advertiser.pk}, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


# Parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"advertiser": "acme"}, "advertiser"),
        ({"advertiser": "0"}, "advertiser"),
        ({"advertiser": str(2**63)}, "advertiser"),
        ({"start": "2026-13-01"}, "start"),
        ({"start": "8 Nov 2026"}, "start"),
        ({"start": "2026-11-8"}, "start"),
        ({"start": "0001-01-01"}, "start"),
        ({"end": "2026-11-07"}, "end"),  # before the start
        ({"start": "2025-11-08"}, "end"),  # 367 days
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": "Asia/Kolkata"}, "time_zone"),  # UTC+05:30: not by the UTC hour
        ({"dimensions": "day,fortnight"}, "dimensions"),
        ({"dimensions": "day,day"}, "dimensions"),
        ({"dimensions": "day,"}, "dimensions"),
        ({"dimensions": ""}, "dimensions"),
        ({"metrics": "spend,profit"}, "metrics"),
        ({"metrics": "spend,spend"}, "metrics"),
        ({"campaign": "1,two"}, "campaign"),
        ({"ad_group": "-4"}, "ad_group"),
        ({"creative": str(2**63)}, "creative"),
        ({"placement": "1.5"}, "placement"),
        ({"country": "US,XX"}, "country"),
        ({"device": "fridge"}, "device"),
        ({"sort": "profit"}, "sort"),
        ({"sort": "campaign"}, "sort"),  # not a column of this report (no campaign dimension)
        ({"order": "upwards"}, "order"),
        ({"format": "pdf"}, "format"),
        ({"dimension": "day"}, "dimension"),  # a typo is refused, not ignored
    ],
)
def test_each_bad_parameter_is_named(data: Data, params: dict[str, str], field: str) -> None:
    query = {"advertiser": str(data.advertiser.pk), **RANGE, **params}
    response = get(api_client(data.token), **query)

    assert response.status_code == 400, response.content[:300]
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field], error


def test_missing_parameters_are_each_named(data: Data) -> None:
    error = error_of(api_client(data.token).get(URL))
    assert set(error["fields"]) == {"advertiser", "start", "end"}


def test_a_parameter_given_twice_is_refused(data: Data) -> None:
    response = api_client(data.token).get(
        f"{URL}?advertiser={data.advertiser.pk}&start=2026-11-08&end=2026-11-09&dimensions=day&dimensions=campaign"
    )
    assert response.status_code == 400
    assert "comma-separated" in error_of(response)["fields"]["dimensions"][0]


def test_errors_are_json_even_when_csv_is_asked_for(data: Data) -> None:
    response = api_client(data.token).get(URL, {"advertiser": data.advertiser.pk}, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["fields"]


def test_an_unservable_accept_is_406(data: Data) -> None:
    response = api_client(data.token).get(
        URL, {"advertiser": data.advertiser.pk, **RANGE}, HTTP_ACCEPT="text/html"
    )
    assert response.status_code == 406
    assert error_of(response)["code"] == "not_acceptable"


# The numbers -----------------------------------------------------------------------------------------


def test_totals_equal_the_events_written(data: Data) -> None:
    body = ask(data)

    assert body["advertiser"] == data.advertiser.pk
    assert body["currency"] == "USD"
    assert body["time_zone"] == "America/New_York"
    assert (body["start"], body["end"]) == ("2026-11-08", "2026-11-09")
    assert body["dimensions"] == [] and body["rows"] == [] and body["row_count"] == 0
    assert body["metrics"] == list(tables.DEFAULT_METRICS)
    watermark = rollup.watermark()
    assert watermark is not None
    assert datetime.fromisoformat(body["watermark"]) == watermark
    totals = body["totals"]
    assert totals["spend_micros"] == 1_250_000 + 750_000 + 500_000 + 333_333  # not Globex's 9.999999
    assert totals["spend"] == "2.833333"
    assert totals["impressions"] == 4
    assert totals["clicks"] == 2
    assert totals["ctr"] == pytest.approx(0.5)
    assert totals["conversions"] == 1
    assert totals["cpa_micros"] == 2_833_333
    assert totals["cpa"] == "2.833333"
    assert totals["cpc_micros"] == 2_833_333 // 2
    assert totals["cpm_micros"] == 2_833_333 * 1000 // 4
    assert totals["roas"] == pytest.approx(20_000_000 / 2_833_333)


def test_rows_by_day_and_campaign_are_the_dashboards_table(data: Data) -> None:
    body = ask(data, dimensions="day,campaign", metrics=",".join(METRICS))

    table = tables.build(
        Spec(data.advertiser, SUNDAY, MONDAY, ("day", "campaign")), METRICS, sort="day", descending=False
    )
    assert body["row_count"] == len(table.rows) == 3
    assert [c["key"] for c in body["columns"]] == [c.key for c in table.columns]
    for row, cells in zip(body["rows"], table.rows, strict=True):
        assert row["dimensions"]["day"] == {"value": cells[0].value.isoformat(), "label": cells[0].text}
        assert row["dimensions"]["campaign"] == {"value": cells[1].value, "label": cells[1].text}
        for column, cell in zip(table.columns[2:], cells[2:], strict=True):
            if column.kind == "money":
                assert row["metrics"][f"{column.key}_micros"] == cell.value
                expected = None if cell.value is None else Decimal(cell.value) / 1_000_000
                assert (row["metrics"][column.key] and Decimal(row["metrics"][column.key])) == expected
            else:
                assert row["metrics"][column.key] == cell.value
    first = body["rows"][0]
    assert first["dimensions"]["day"]["value"] == "2026-11-08"
    # Sunday: both campaigns (the 22:30 ad is Sunday in New York); Monday: retargeting only.
    sunday = [
        r["dimensions"]["campaign"]["label"]
        for r in body["rows"]
        if r["dimensions"]["day"]["value"] == "2026-11-08"
    ]
    assert sorted(sunday) == ["Retargeting", "Spring sale"]
    assert body["totals"]["invalid_impressions"] == 1


def test_entity_dimensions_carry_ids_and_names(data: Data) -> None:
    body = ask(data, dimensions="creative,placement,country,device", metrics="impressions,spend")
    labels = {
        (
            row["dimensions"]["creative"]["label"],
            row["dimensions"]["placement"]["value"],
            row["dimensions"]["placement"]["label"],
            row["dimensions"]["country"]["value"],
            row["dimensions"]["country"]["label"],
            row["dimensions"]["device"]["label"],
        )
        for row in body["rows"]
    }
    assert ("Banner A", data.placement_id, "Homepage", "US", "United States", "Mobile") in labels
    assert ("Banner A", None, "Not by placement", "FR", "France", "Desktop") in labels
    assert ("Banner B", None, "Not by placement", "DE", "Germany", "Tablet") in labels
    ids = {row["dimensions"]["creative"]["value"] for row in body["rows"]}
    assert ids == {data.spring.pk, data.retargeting.pk}


def test_sort_and_order(data: Data) -> None:
    by_spend = ask(data, dimensions="campaign", metrics="spend,clicks", sort="spend", order="asc")
    assert [r["metrics"]["spend_micros"] for r in by_spend["rows"]] == [833_333, 2_000_000]
    assert (by_spend["sort"], by_spend["order"]) == ("spend", "asc")
    default = ask(data, dimensions="campaign", metrics="spend")
    assert [r["metrics"]["spend_micros"] for r in default["rows"]] == [2_000_000, 833_333]
    by_day = ask(data, dimensions="day", sort="day", order="desc")
    assert [r["dimensions"]["day"]["value"] for r in by_day["rows"]] == ["2026-11-09", "2026-11-08"]


def test_hours_are_local_with_their_offset(data: Data) -> None:
    body = ask(data, dimensions="hour", metrics="impressions,invalid_impressions")
    hours = [row["dimensions"]["hour"]["value"] for row in body["rows"]]
    assert hours[0] == "2026-11-08T10:00:00-05:00"
    assert "2026-11-08T22:00:00-05:00" in hours


# CSV and XLSX ------------------------------------------------------------------------------------------


def expected_csv(
    data: Data, dimensions: tuple[str, ...], metrics: tuple[str, ...] = tables.DEFAULT_METRICS
) -> bytes:
    report = ReportQuery(dimensions=dimensions, metrics=metrics)
    table = report.table(report.spec(data.advertiser, SUNDAY, MONDAY))
    return exports.to_csv(table, "USD")


def test_csv_with_format_or_accept(data: Data) -> None:
    client = api_client(data.token)
    query = {"advertiser": data.advertiser.pk, **RANGE, "dimensions": "day,campaign"}
    by_format = client.get(URL, {**query, "format": "csv"})
    by_accept = client.get(URL, query, HTTP_ACCEPT="text/csv")

    for response in (by_format, by_accept):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            f'attachment; filename="report-{data.advertiser.pk}-20261108-20261109.csv"'
        )
        assert response.content == expected_csv(data, ("day", "campaign"))
    lines = by_format.content.decode().splitlines()
    assert lines[0].startswith("Day,Campaign,Spend (USD),Impressions,Clicks")
    assert lines[-1].startswith("Total,,2.833333,4,2")


def test_format_json_wins_over_accept(data: Data) -> None:
    response = api_client(data.token).get(
        URL, {"advertiser": data.advertiser.pk, **RANGE, "format": "json"}, HTTP_ACCEPT="text/csv"
    )
    assert response["Content-Type"] == "application/json"
    assert response.json()["totals"]["impressions"] == 4


def test_a_totals_only_csv_has_its_totals(data: Data) -> None:
    response = get(
        api_client(data.token), advertiser=data.advertiser.pk, **RANGE, format="csv", metrics="spend,clicks"
    )
    assert response.content.decode().splitlines() == ["Spend (USD),Clicks", "2.833333,2"]


def test_xlsx(data: Data) -> None:
    response = get(
        api_client(data.token), advertiser=data.advertiser.pk, **RANGE, format="xlsx", dimensions="campaign"
    )
    assert response["Content-Type"] == exports.FORMATS["xlsx"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Campaign", "Spend (USD)")
    assert rows[1][:2] == ("Spring sale", 2)
    assert rows[-1][0] == "Total"


# Time zones and filters ---------------------------------------------------------------------------------


def test_another_time_zone_moves_the_day_boundaries(data: Data) -> None:
    local = rows_by(ask(data, dimensions="day", metrics="impressions,spend"), "day")
    utc = ask(data, dimensions="day", metrics="impressions,spend", time_zone="UTC")
    by_utc_day = rows_by(utc, "day")

    assert utc["time_zone"] == "UTC"
    # The ad at 03:30 UTC on Monday is Sunday evening in New York.
    assert local["2026-11-08"]["metrics"]["impressions"] == 3
    assert by_utc_day["2026-11-08"]["metrics"]["impressions"] == 2
    assert by_utc_day["2026-11-09"]["metrics"]["impressions"] == 2
    assert by_utc_day["2026-11-09"]["metrics"]["spend_micros"] == 500_000 + 333_333
    # Its two days run from Saturday 19:00 to Monday 19:00 in New York: every ad is in them.
    assert utc["totals"]["impressions"] == 4


def test_a_zone_half_an_hour_off_utc_is_refused_naming_time_zone(data: Data) -> None:
    response = get(api_client(data.token), advertiser=data.advertiser.pk, **RANGE, time_zone="Asia/Kolkata")
    error = error_of(response)
    assert response.status_code == 400
    assert "whole number of hours" in error["fields"]["time_zone"][0]


def test_filters(data: Data) -> None:
    spring = data.spring.ad_group.campaign_id
    by_campaign = ask(data, campaign=str(spring), metrics="impressions,spend")
    assert by_campaign["totals"]["impressions"] == 2
    assert by_campaign["filters"] == {"campaign": [spring]}
    assert ask(data, country="us", metrics="impressions")["totals"]["impressions"] == 3
    assert ask(data, country="FR,DE", metrics="impressions,invalid_impressions")["totals"] == {
        "impressions": 1,
        "invalid_impressions": 1,
    }
    assert ask(data, device="desktop", metrics="impressions")["totals"]["impressions"] == 2
    assert ask(data, placement=str(data.placement_id), metrics="impressions")["totals"]["impressions"] == 1
    assert ask(data, creative=str(data.retargeting.pk), metrics="clicks")["totals"]["clicks"] == 1
    assert ask(data, ad_group=str(data.spring.ad_group_id), metrics="clicks")["totals"]["clicks"] == 1


def test_another_advertisers_ids_match_nothing(data: Data) -> None:
    foreign = data.foreign
    body = ask(
        data,
        dimensions="campaign,creative",
        campaign=str(foreign.ad_group.campaign_id),
        creative=str(foreign.pk),
    )
    assert body["rows"] == []
    assert body["totals"]["impressions"] == 0 and body["totals"]["spend_micros"] == 0
    assert foreign.name not in str(body) and foreign.ad_group.campaign.name not in str(body)


# Large reports become jobs --------------------------------------------------------------------------------


def test_a_large_report_becomes_a_job_whose_download_equals_the_inline_answer(
    data: Data, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = api_client(data.token)
    query = {"advertiser": data.advertiser.pk, **RANGE, "dimensions": "day,campaign,country", "format": "csv"}
    inline = client.get(URL, query)
    assert inline.status_code == 200

    settings.REPORT_INLINE_MAX_ROWS = 3
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.get(URL, query)

    assert queued.status_code == 202, queued.content[:300]
    job = queued.json()
    assert job["status"] == "queued"  # as it was answered; the worker ran it on commit
    assert queued["Location"] == job["url"]
    polled = client.get(job["url"])
    assert polled.status_code == 200
    assert polled.json()["status"] == "done"
    assert polled.json()["rows"] == 5
    download = client.get(polled.json()["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="report-job-{job["id"]}.csv"'
    assert download.content == inline.content
    stored = ReportJob.objects.get(pk=job["id"])
    assert stored.requested_by is None and stored.api_key is not None
    assert stored.query["dimensions"] == ["day", "campaign", "country"]


def test_a_large_json_report_job_downloads_the_json_answer(
    data: Data, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.REPORT_INLINE_MAX_ROWS = 1
    client = api_client(data.tenants.analyst)  # a read: any role
    with django_capture_on_commit_callbacks(execute=True):
        queued = get(client, advertiser=data.advertiser.pk, **RANGE, dimensions="campaign")
    assert queued.status_code == 202
    download = client.get(client.get(queued["Location"]).json()["download_url"])
    assert download["Content-Type"] == "application/json"
    body = download.json()
    assert body["row_count"] == 2 and body["totals"]["impressions"] == 4
    assert ReportJob.objects.get().requested_by == data.tenants.analyst


def test_the_size_estimate_counts_periods_and_combinations(data: Data, settings: Any) -> None:
    spec = Spec(data.advertiser, SUNDAY, MONDAY)
    assert estimate_rows(spec) == 1
    assert estimate_rows(spec.but(dimensions=("day",))) == 2
    assert estimate_rows(spec.but(dimensions=("hour",))) == 50
    assert estimate_rows(spec.but(dimensions=("campaign",))) == 2
    assert estimate_rows(spec.but(dimensions=("day", "creative", "country"))) == 2 * 4
    # Never fewer than the rows the report has.
    for dims in [("day", "campaign"), ("hour", "device"), ("week", "country", "placement")]:
        report = ReportQuery(dimensions=dims)
        assert estimate_rows(spec.but(dimensions=dims)) >= len(report.table(spec.but(dimensions=dims)).rows)


def test_asking_again_while_waiting_answers_with_the_same_job(data: Data, settings: Any) -> None:
    settings.REPORT_INLINE_MAX_ROWS = 1
    client = api_client(data.token)
    query = {"advertiser": data.advertiser.pk, **RANGE, "dimensions": "campaign"}

    first, again = client.get(URL, query), client.get(URL, query)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert client.get(URL, {**query, "format": "csv"}).json()["id"] != first.json()["id"]
    assert client.head(URL, {**query, "format": "xlsx"}).status_code == 202  # and makes no job
    assert ReportJob.objects.count() == 2


# Any question ---------------------------------------------------------------------------------------------

ZONES = [None, "UTC", "America/New_York", "Europe/Paris", "Asia/Tokyo", "Asia/Kolkata", "Pacific/Chatham"]
HALF_HOUR_ZONES = {"Asia/Kolkata", "Pacific/Chatham"}


@st.composite
def questions(draw: st.DrawFn) -> dict[str, Any]:
    dimensions = draw(st.lists(st.sampled_from(DIMENSIONS), unique=True, max_size=3))
    metrics = draw(st.lists(st.sampled_from(METRICS), unique=True, min_size=1, max_size=5))
    start = date(2026, 11, 6) + timedelta(days=draw(st.integers(0, 4)))
    params: dict[str, Any] = {
        "start": start.isoformat(),
        "end": (start + timedelta(days=draw(st.integers(0, 3)))).isoformat(),
        "metrics": ",".join(metrics),
    }
    if dimensions:
        params["dimensions"] = ",".join(dimensions)
    if zone := draw(st.sampled_from(ZONES)):
        params["time_zone"] = zone
    if draw(st.booleans()):
        params["country"] = ",".join(
            draw(st.lists(st.sampled_from(["US", "FR", "DE", "JP"]), min_size=1, unique=True))
        )
    if draw(st.booleans()):
        params["device"] = ",".join(draw(st.lists(st.sampled_from(DEVICE_TYPES), min_size=1, unique=True)))
    if draw(st.booleans()):
        params["sort"] = draw(st.sampled_from([*dimensions, *metrics]))
        if draw(st.booleans()):
            params["order"] = draw(st.sampled_from(["asc", "desc"]))
    return params


def as_json(table: tables.Table) -> tuple[list[Any], dict[str, Any]]:
    """The table's rows and totals as the API must write them, computed here independently."""

    def metrics(cells: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column, cell in zip(table.columns[table.dimension_count :], cells, strict=True):
            if column.kind == "money":
                out[f"{column.key}_micros"] = cell.value
                out[column.key] = None if cell.value is None else str(Decimal(cell.value) / 1_000_000)
            else:
                out[column.key] = cell.value
        return out

    rows = [
        {
            "labels": [cell.text for cell in row[: table.dimension_count]],
            "metrics": metrics(row[table.dimension_count :]),
        }
        for row in table.rows
    ]
    return rows, metrics(table.total[table.dimension_count :])


@hypothesis.settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@hypothesis.given(params=questions())
def test_any_question_is_answered_with_the_dashboards_numbers(data: Data, params: dict[str, Any]) -> None:
    response = get(api_client(data.token), advertiser=data.advertiser.pk, **params)

    if params.get("time_zone") in HALF_HOUR_ZONES:
        assert response.status_code == 400
        assert list(error_of(response)["fields"]) == ["time_zone"]
        return
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    report = ReportQuery(
        dimensions=tuple(body["dimensions"]),
        metrics=tuple(params["metrics"].split(",")),
        filters={name: tuple(body["filters"][name]) for name in body["filters"]},
        time_zone=params.get("time_zone", ""),
        sort=params.get("sort", ""),
        order=params.get("order", ""),
    )
    spec = report.spec(
        data.advertiser, date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
    )
    rows, totals = as_json(report.table(spec))
    got = [
        {
            "labels": [row["dimensions"][name]["label"] for name in body["dimensions"]],
            "metrics": {k: (str(Decimal(v)) if isinstance(v, str) else v) for k, v in row["metrics"].items()},
        }
        for row in body["rows"]
    ]
    assert got == rows
    assert {k: (str(Decimal(v)) if isinstance(v, str) else v) for k, v in body["totals"].items()} == totals
    assert estimate_rows(spec) >= body["row_count"]
