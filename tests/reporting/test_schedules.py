"""Scheduled reports: the page where any member manages their own (owner, analyst; an outsider gets
404), its form's errors, and the task that emails each due report once per advertiser day, on the
advertiser's days, with the dashboards' table attached, and never to someone who left the account."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import pytest
import time_machine
from django.core import mail
from django.test import Client

from accounts.models import AuditLog, Membership
from reporting import exports, schedules, tasks
from reporting.jobs import ReportQuery
from reporting.models import ReportJob, ScheduledReport
from tests.admin_helpers import admin_form_data
from tests.conftest import Tenants, client_for
from tests.factories import UserFactory
from tests.reporting.test_api import MONDAY, SUNDAY, Data, write_events

# Tuesday 10 November 2026 in New York (EST, UTC-5): 06:00 there is 11:00 UTC.
TUESDAY_0559 = datetime(2026, 11, 10, 10, 59, tzinfo=UTC)
TUESDAY_0600 = datetime(2026, 11, 10, 11, 0, tzinfo=UTC)


def url(advertiser_id: int, name: str = "", pk: int | None = None) -> str:
    base = f"/a/{advertiser_id}/reports/schedules/"
    return base + (f"{pk}/delete/" if pk else name)


def form_data(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Daily by campaign",
        "frequency": "daily",
        "dimensions": ["campaign"],
        "metrics": ["spend", "impressions", "clicks"],
        "format": "csv",
        **changes,
    }


def schedule_for(tenants: Tenants, **fields: Any) -> ScheduledReport:
    report = ReportQuery(dimensions=("campaign",), metrics=("spend", "impressions", "clicks", "ctr"))
    values = {
        "advertiser": tenants.advertiser,
        "user": tenants.owner,
        "name": "Campaigns",
        "frequency": "daily",
        "query": report.to_json(),
        "format": "csv",
        **fields,
    }
    return ScheduledReport.objects.create(**values)


# The page -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "analyst"])
def test_a_member_creates_lists_and_deletes_their_own_schedule(tenants: Tenants, who: str) -> None:
    user = getattr(tenants, who)
    client = client_for(user)
    advertiser = tenants.advertiser

    empty = client.get(url(advertiser.pk))
    assert empty.status_code == 200
    assert "No scheduled reports yet" in empty.content.decode()
    assert client.get(url(advertiser.pk, "new/")).status_code == 200

    created = client.post(
        url(advertiser.pk, "new/"), form_data(dimensions=["device", "day"], metrics=["clicks", "spend"])
    )
    assert created.status_code == 302 and created["Location"] == url(advertiser.pk)
    schedule = ScheduledReport.objects.get()
    assert (schedule.user, schedule.advertiser, schedule.name) == (user, advertiser, "Daily by campaign")
    assert (schedule.frequency, schedule.format, schedule.is_active) == ("daily", "csv", True)
    # Columns in the order reports show them, whatever the order of the boxes.
    assert schedule.query["dimensions"] == ["day", "device"]
    assert schedule.query["metrics"] == ["spend", "clicks"]
    assert AuditLog.objects.filter(object_type="reporting.ScheduledReport", action="create").count() == 1

    listed = client.get(url(advertiser.pk)).content.decode()
    assert (
        "Daily by campaign" in listed
        and "Day, Device type" in listed
        and "Every day, for yesterday" in listed
    )

    confirm = client.get(url(advertiser.pk, pk=schedule.pk))
    assert confirm.status_code == 200 and "Delete “Daily by campaign”?" in confirm.content.decode()
    deleted = client.post(url(advertiser.pk, pk=schedule.pk))
    assert deleted.status_code == 302
    assert not ScheduledReport.objects.exists()
    assert AuditLog.objects.filter(object_type="reporting.ScheduledReport", action="delete").count() == 1


def test_no_one_sees_or_deletes_another_users_schedule(tenants: Tenants) -> None:
    owners = schedule_for(tenants, name="The owner's")
    analyst = client_for(tenants.analyst)

    assert "The owner's" not in analyst.get(url(tenants.advertiser.pk)).content.decode()
    assert analyst.get(url(tenants.advertiser.pk, pk=owners.pk)).status_code == 404
    assert analyst.post(url(tenants.advertiser.pk, pk=owners.pk)).status_code == 404
    assert ScheduledReport.objects.filter(pk=owners.pk).exists()


def test_an_outsider_gets_404_everywhere(tenants: Tenants) -> None:
    owners = schedule_for(tenants)
    outsider = client_for(tenants.outsider)
    advertiser_id = tenants.advertiser.pk

    assert outsider.get(url(advertiser_id)).status_code == 404
    assert outsider.get(url(advertiser_id, "new/")).status_code == 404
    assert outsider.post(url(advertiser_id, "new/"), form_data()).status_code == 404
    assert outsider.post(url(advertiser_id, pk=owners.pk)).status_code == 404
    assert ScheduledReport.objects.count() == 1


def test_anonymous_visitors_are_sent_to_log_in(tenants: Tenants) -> None:
    response = Client().get(url(tenants.advertiser.pk))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": " "}, "name", "This field is required."),
        ({"name": "x" * 101}, "name", "at most 100 characters"),
        ({"frequency": "hourly"}, "frequency", "Select a valid choice."),
        ({"dimensions": ["day", "fortnight"]}, "dimensions", "Select a valid choice."),
        ({"metrics": []}, "metrics", "Choose at least one metric."),
        ({"metrics": ["profit"]}, "metrics", "Select a valid choice."),
        ({"format": "pdf"}, "format", "Select a valid choice."),
    ],
)
def test_form_errors_are_named(tenants: Tenants, changes: dict[str, Any], field: str, message: str) -> None:
    response = client_for(tenants.analyst).post(url(tenants.advertiser.pk, "new/"), form_data(**changes))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert message.split(" ")[0] in response.content.decode()  # shown next to its field
    assert not ScheduledReport.objects.exists()


def test_a_name_is_used_once_per_user(tenants: Tenants) -> None:
    schedule_for(tenants, name="Campaigns")
    response = client_for(tenants.owner).post(url(tenants.advertiser.pk, "new/"), form_data(name="campaigns"))
    assert response.context["form"].errors == {
        "name": ["You already have a scheduled report with this name."]
    }
    other = client_for(tenants.analyst).post(url(tenants.advertiser.pk, "new/"), form_data(name="Campaigns"))
    assert other.status_code == 302  # another user's names are theirs


# Sending -------------------------------------------------------------------------------------------------


@pytest.fixture
def data(tenants: Tenants) -> Data:
    return write_events(tenants)


def send_at(at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        return tasks.send_scheduled_reports()


def test_a_daily_report_is_sent_once_after_six_in_the_morning(data: Data) -> None:
    schedule = schedule_for(data.tenants)

    assert send_at(TUESDAY_0559) == 0
    assert mail.outbox == []
    assert send_at(TUESDAY_0600) == 1
    assert send_at(TUESDAY_0600) == 0  # the task runs every 15 minutes: once per day
    assert send_at(datetime(2026, 11, 11, 4, 59, tzinfo=UTC)) == 0  # still Tuesday in New York

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["owner@acme.test"]
    assert email.subject == "Campaigns · Acme Shoes · 2026-11-09"
    # Monday in New York: one valid impression and one invalid, of the Retargeting campaign.
    assert "Spend: $0.33" in email.body
    assert "Impressions: 1" in email.body
    assert "CTR: 0.00%" in email.body
    assert f"http://localhost:8000/a/{data.advertiser.pk}/reports/schedules/" in email.body
    schedule.refresh_from_db()
    assert schedule.last_sent_day == MONDAY


def test_the_attachment_is_the_dashboards_table_for_the_day(data: Data) -> None:
    schedule = schedule_for(data.tenants)
    send_at(TUESDAY_0600)

    (name, content, mimetype) = mail.outbox[0].attachments[0]
    report = ReportQuery.from_json(schedule.query)
    expected = exports.to_csv(report.table(report.spec(data.advertiser, MONDAY, MONDAY)), "USD")
    assert name == "campaigns-20261109.csv"
    assert mimetype == "text/csv"
    assert content.encode() == expected
    assert content.splitlines()[1].startswith("Retargeting,0.333333,1,0")


def test_an_xlsx_attachment(data: Data) -> None:
    schedule_for(data.tenants, format="xlsx", frequency="weekly")
    send_at(TUESDAY_0600.replace(day=16))  # the next Monday

    (name, content, mimetype) = mail.outbox[0].attachments[0]
    assert name == "campaigns-20261109-20261115.xlsx"
    assert mimetype == exports.FORMATS["xlsx"]
    rows = list(openpyxl.load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert rows[1][:3] == ("Retargeting", 0.333333, 1)


def test_a_weekly_report_is_sent_on_mondays_for_the_week_before(data: Data) -> None:
    schedule = schedule_for(data.tenants, frequency="weekly", name="Weekly")
    for day in (10, 11, 12, 13, 14, 15):  # Tuesday to Sunday
        assert send_at(datetime(2026, 11, day, 15, tzinfo=UTC)) == 0
    # Monday 16 November at 03:00 UTC is still Sunday evening in New York.
    assert send_at(datetime(2026, 11, 16, 3, tzinfo=UTC)) == 0
    assert send_at(datetime(2026, 11, 16, 11, tzinfo=UTC)) == 1
    assert send_at(datetime(2026, 11, 16, 23, tzinfo=UTC)) == 0

    email = mail.outbox[0]
    assert email.subject == "Weekly · Acme Shoes · 2026-11-09 to 2026-11-15"
    schedule.refresh_from_db()
    assert schedule.last_sent_day == date(2026, 11, 15)


def test_last_weeks_monday_report_covers_the_sunday_and_monday_of_the_events(data: Data) -> None:
    schedule_for(data.tenants, frequency="weekly", name="Weekly")
    send_at(datetime(2026, 11, 9, 11, tzinfo=UTC))  # Monday 9 November, 06:00 in New York

    assert mail.outbox[0].subject.endswith("2026-11-02 to 2026-11-08")
    assert "Impressions: 3" in mail.outbox[0].body  # Sunday's three (one of them 03:30 UTC on Monday)


def test_days_follow_the_advertisers_time_zone(data: Data) -> None:
    """At 03:00 UTC on Tuesday it is 22:00 on Monday in New York: the daily report covers Sunday,
    the account's yesterday, not Monday (UTC's)."""
    schedule_for(data.tenants)
    assert send_at(datetime(2026, 11, 10, 3, tzinfo=UTC)) == 1

    assert mail.outbox[0].subject.endswith("· 2026-11-08")
    assert "Impressions: 3" in mail.outbox[0].body
    assert "(America/New_York)" in mail.outbox[0].body


def test_a_user_who_left_the_account_gets_nothing_and_the_schedule_is_switched_off(data: Data) -> None:
    schedule = schedule_for(data.tenants, user=data.tenants.analyst)
    Membership.objects.filter(user=data.tenants.analyst).delete()

    assert send_at(TUESDAY_0600) == 0

    assert mail.outbox == []
    schedule.refresh_from_db()
    assert schedule.is_active is False and schedule.last_sent_day is None
    assert send_at(TUESDAY_0600.replace(day=11)) == 0


def test_one_broken_schedule_does_not_stop_the_others(data: Data) -> None:
    broken = schedule_for(data.tenants, name="Broken", query={"metrics": ["profit"]})
    schedule_for(data.tenants, name="Fine")

    assert send_at(TUESDAY_0600) == 1
    assert [email.subject.split(" · ")[0] for email in mail.outbox] == ["Fine"]
    broken.refresh_from_db()
    assert broken.last_sent_day is None  # tried again at the next run


def test_a_totals_only_report(data: Data) -> None:
    schedule_for(data.tenants, query=ReportQuery(metrics=("spend", "clicks")).to_json())
    send_at(TUESDAY_0600)
    email = mail.outbox[0]
    assert "Spend: $0.33\nClicks: 0" in email.body
    assert "the totals" in email.body
    assert email.attachments[0][1].splitlines() == ["Spend (USD),Clicks", "0.333333,0"]


def test_period_is_none_before_the_hour_and_after_sending(tenants: Tenants) -> None:
    schedule = schedule_for(tenants)
    assert schedules.period(schedule, TUESDAY_0559) is None
    assert schedules.period(schedule, TUESDAY_0600) == (MONDAY, MONDAY)
    schedule.last_sent_day = MONDAY
    assert schedules.period(schedule, TUESDAY_0600) is None
    schedule.frequency, schedule.last_sent_day = "weekly", None
    assert schedules.period(schedule, datetime(2026, 11, 9, 11, tzinfo=UTC)) == (date(2026, 11, 2), SUNDAY)


# The admin ------------------------------------------------------------------------------------------------


def test_staff_switch_a_schedule_off_in_the_admin_and_read_jobs(tenants: Tenants) -> None:
    staff = UserFactory(email="staff@adwright.test", is_staff=True, is_superuser=True)
    client = client_for(staff)
    schedule = schedule_for(tenants)
    job = ReportJob.objects.create(advertiser=tenants.advertiser, query={}, status="failed", error="Boom")

    assert client.get("/admin/reporting/scheduledreport/").status_code == 200
    url = f"/admin/reporting/scheduledreport/{schedule.pk}/change/"
    data = admin_form_data(client.get(url))
    data.pop("is_active", None)
    assert client.post(url, data).status_code == 302
    schedule.refresh_from_db()
    assert schedule.is_active is False
    entry = AuditLog.objects.get(object_type="reporting.ScheduledReport")
    assert (entry.source, entry.after) == ("admin", {"is_active": False})

    assert "Boom" in client.get(f"/admin/reporting/reportjob/{job.pk}/change/").content.decode()
    assert client.get("/admin/reporting/reportjob/?status=failed").status_code == 200
    assert client.get("/admin/reporting/reportjob/add/").status_code == 403
