"""Report jobs (reporting.jobs, /api/v1/report-jobs): created for any role, run by the Celery task,
failed with a clear error (never left running), visible only to who can see their advertiser,
downloaded when done; expired when their worker died."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from reporting import jobs, tasks
from reporting.jobs import ReportQuery
from reporting.models import ReportJob
from tests.api.conftest import error_of
from tests.conftest import api_client
from tests.factories import issue_api_key
from tests.reporting.test_api import MONDAY, SUNDAY, Data, write_events

URL = "/api/v1/report-jobs"


@pytest.fixture
def data(tenants: Any, redis_client: Any) -> Data:
    return write_events(tenants)


def body(data: Data, **changes: Any) -> dict[str, Any]:
    return {
        "advertiser": data.advertiser.pk,
        "start": "2026-11-08",
        "end": "2026-11-09",
        "dimensions": ["day", "campaign"],
        "metrics": ["spend", "impressions", "clicks"],
        **changes,
    }


def queued_job(data: Data, **query: Any) -> ReportJob:
    report = ReportQuery(start=SUNDAY, end=MONDAY, **query)
    return ReportJob.objects.create(advertiser=data.advertiser, query=report.to_json(), format="csv")


def test_an_analyst_creates_a_job_that_the_task_runs(
    data: Data, django_capture_on_commit_callbacks: Any
) -> None:
    client = api_client(data.tenants.analyst)
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(URL, body(data, format="xlsx"), format="json")

    assert created.status_code == 201, created.content[:300]
    assert created.has_header("ETag")
    job = ReportJob.objects.get(pk=created.json()["id"])
    assert created["Location"].endswith(f"/api/v1/report-jobs/{job.pk}")
    assert (job.status, job.rows, job.error) == ("done", 3, "")
    assert job.requested_by == data.tenants.analyst and job.finished_at is not None
    polled = client.get(created["Location"]).json()
    assert polled["status"] == "done"
    assert polled["download_url"].endswith(f"/api/v1/report-jobs/{job.pk}/download")
    download = client.get(polled["download_url"])
    assert download["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert download["Content-Disposition"] == f'attachment; filename="report-job-{job.pk}.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(download.content)).active
    assert [cell.value for cell in sheet[1]] == ["Day", "Campaign", "Spend (USD)", "Impressions", "Clicks"]


def test_a_job_is_made_by_the_same_table_as_the_inline_report(data: Data) -> None:
    job = queued_job(
        data, dimensions=("creative", "device"), metrics=("spend", "ctr"), sort="ctr", order="asc"
    )
    tasks.run_report_job.apply(args=[job.pk])
    job.refresh_from_db()

    report = ReportQuery.from_json(job.query)
    expected = jobs.render(
        report.spec(data.advertiser), report, report.table(report.spec(data.advertiser)), "csv"
    )
    assert job.status == "done"
    assert bytes(job.result) == expected


def test_a_failing_job_is_marked_failed_with_its_error(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("reporting.tables.build", broken)
    job = queued_job(data, dimensions=("day",))
    tasks.run_report_job.apply(args=[job.pk])  # the task itself does not fail: no redelivery
    job.refresh_from_db()

    assert job.status == "failed"
    assert f"logged as job {job.pk}" in job.error
    assert "database" not in job.error  # internals stay in the log
    assert job.result is None and job.finished_at is not None
    client = api_client(data.token)
    polled = client.get(f"{URL}/{job.pk}").json()
    assert (polled["status"], polled["error"], polled["download_url"]) == ("failed", job.error, None)
    download = client.get(f"{URL}/{job.pk}/download")
    assert download.status_code == 409
    assert error_of(download)["code"] == "report_failed"
    assert job.error in error_of(download)["message"]


def test_a_question_the_rollups_refuse_fails_naming_its_field(data: Data) -> None:
    job = queued_job(data, dimensions=("day",), time_zone="Asia/Kolkata")
    jobs.run_job(job.pk)
    job.refresh_from_db()

    assert job.status == "failed"
    assert job.error.startswith("time_zone: Asia/Kolkata is not a whole number of hours from UTC")


def test_a_stored_query_that_no_longer_reads_fails_the_job(data: Data) -> None:
    job = ReportJob.objects.create(
        advertiser=data.advertiser, query={"metrics": ["profit"], "start": "2026-11-08", "end": "2026-11-09"}
    )
    jobs.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("metrics: Unknown metric 'profit'")


def test_running_a_job_twice_runs_it_once(data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    job = queued_job(data, dimensions=("day",))
    jobs.run_job(job.pk)
    job.refresh_from_db()
    first = (job.status, bytes(job.result), job.finished_at)

    monkeypatch.setattr("reporting.tables.build", lambda *a, **k: pytest.fail("ran again"))
    assert jobs.run_job(job.pk) is None  # a second delivery of the task finds it done
    job.refresh_from_db()
    assert (job.status, bytes(job.result), job.finished_at) == first


def test_a_job_not_done_yet_is_not_downloadable(data: Data) -> None:
    job = queued_job(data)
    response = api_client(data.token).get(f"{URL}/{job.pk}/download")
    assert response.status_code == 409
    assert error_of(response)["code"] == "not_ready"


# Who sees a job ---------------------------------------------------------------------------------------


def test_another_advertisers_job_is_404(data: Data) -> None:
    job = queued_job(data)
    jobs.run_job(job.pk)
    outsider_session = api_client(data.tenants.outsider)
    outsider_key = api_client(issue_api_key(role=Role.ADMIN, advertiser=data.tenants.other_advertiser)[1])

    for client in (outsider_session, outsider_key):
        for path in (f"{URL}/{job.pk}", f"{URL}/{job.pk}/download"):
            foreign, missing = client.get(path), client.get(path.replace(str(job.pk), "999999999"))
            assert foreign.status_code == missing.status_code == 404
            assert error_of(foreign) == error_of(missing)
    # Anyone who can see the advertiser can see its jobs, whoever created them.
    for principal in (data.tenants.analyst, data.tenants.owner, data.token):
        assert api_client(principal).get(f"{URL}/{job.pk}/download").status_code == 200


def test_a_job_for_an_advertiser_you_cannot_see_is_refused_naming_it(data: Data) -> None:
    response = api_client(data.tenants.outsider).post(URL, body(data), format="json")

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["advertiser"]
    assert not ReportJob.objects.exists()


def test_anonymous_callers_cannot_create_or_read_jobs(data: Data) -> None:
    job = queued_job(data)
    assert APIClient().post(URL, body(data), format="json").status_code == 401
    assert APIClient().get(f"{URL}/{job.pk}").status_code == 401


# The body ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"advertiser": "12"}, "advertiser"),  # JSON: a number, not a string
        ({"start": 20261108}, "start"),
        ({"dimensions": "day,campaign"}, "dimensions"),  # JSON: an array
        ({"dimensions": ["day", "fortnight"]}, "dimensions"),
        ({"metrics": []}, "metrics"),
        ({"campaign": ["1"]}, "campaign"),
        ({"campaign": [True]}, "campaign"),
        ({"format": "pdf"}, "format"),
        ({"time_zone": "Asia/Kolkata"}, "time_zone"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_each_bad_body_field_is_named(data: Data, changes: dict[str, Any], field: str) -> None:
    response = api_client(data.token).post(URL, body(data, **changes), format="json")

    assert response.status_code == 400, response.content[:300]
    assert list(error_of(response)["fields"]) == [field]
    assert not ReportJob.objects.exists()


def test_a_body_that_is_not_an_object_is_refused(data: Data) -> None:
    response = api_client(data.token).post(URL, [1, 2], format="json")
    assert response.status_code == 400


def test_only_json_bodies(data: Data) -> None:
    response = api_client(data.token).post(URL, body(data, dimensions="day"), format="multipart")
    assert response.status_code == 415


# Expiry -------------------------------------------------------------------------------------------------


def test_jobs_whose_worker_died_are_failed_and_old_jobs_deleted(data: Data) -> None:
    now = timezone.now()
    stuck = queued_job(data)
    ReportJob.objects.filter(pk=stuck.pk).update(status="running", created_at=now - timedelta(minutes=31))
    recent = queued_job(data)
    old = queued_job(data)
    ReportJob.objects.filter(pk=old.pk).update(status="done", created_at=now - timedelta(days=8))

    assert tasks.expire_report_jobs.apply().get() == {"failed": 1, "deleted": 1}

    stuck.refresh_from_db()
    assert stuck.status == "failed" and "did not finish within 30 minutes" in stuck.error
    assert ReportJob.objects.get(pk=recent.pk).status == "queued"
    assert not ReportJob.objects.filter(pk=old.pk).exists()
