"""Report jobs: a report too large to answer inline, made by Celery, polled and downloaded later
(as Kevel's queued reports and Google Ads' report downloads work).

A report's question without its advertiser is a `ReportQuery`; it is what `ReportJob.query` and
`ScheduledReport.query` store, and what the API's parameters validate into. Before answering a
request inline, the API asks `estimate_rows()`: past `REPORT_INLINE_MAX_ROWS` it creates a job
instead (`create_job()`), which `run_job()` (the task `reporting.tasks.run_report_job`) turns into
the file the client downloads. A job ends "done" or "failed", never "running" forever: every error
marks it failed, and `expire_jobs()` (beat) fails a job whose worker died under it.

The file is made by the same code as the inline answer (reporting.tables, reporting.exports), so a
job's download equals the inline answer to the same question.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from math import prod
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts.models import Advertiser, ApiKey, User
from reporting import exports, query, tables
from reporting.models import DailyRollup, ReportJob
from reporting.query import COLUMNS, DIMENSIONS, FILTERS, TIME_DIMENSIONS, ReportError, Spec
from reporting.tables import DEFAULT_METRICS, Table

log = logging.getLogger(__name__)

# What a report's file can be: the API's JSON, or the exports' CSV and XLSX.
FORMATS = ("json", "csv", "xlsx")
CONTENT_TYPES = {"json": "application/json", **exports.FORMATS}
ORDERS = ("asc", "desc")
# A job still queued or running this long after it was created has lost its worker (a report's task
# is killed well before: reporting.tasks.run_report_job's time limit).
JOB_TIMEOUT = timedelta(minutes=30)
# A GET asking again what a job was created for this recently answers with that job.
JOB_REUSED = timedelta(minutes=5)
# Jobs (and their files) are kept this long, then deleted: a client downloads within the day.
JOB_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class ReportQuery:
    """A report's question, without its advertiser: dimensions, metrics, filters, and optionally
    the days (a schedule sets them when it sends), a time zone (empty: the account's) and an order.
    Built from the API's parameters, the schedule form, or stored JSON (`from_json`); refuses what
    a report cannot answer with a ReportError naming the parameter."""

    dimensions: tuple[str, ...] = ()
    metrics: tuple[str, ...] = DEFAULT_METRICS
    filters: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    start: date | None = None
    end: date | None = None
    time_zone: str = ""
    sort: str = ""  # a dimension or metric of the report; empty: the table's default
    order: str = ""  # "asc", "desc", or empty: dimensions ascending, metrics descending

    def __post_init__(self) -> None:
        for name in self.dimensions:
            if name not in DIMENSIONS:
                raise ReportError("dimensions", f"Unknown dimension {name!r}: use {', '.join(DIMENSIONS)}.")
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ReportError("dimensions", "A dimension is named twice.")
        if not self.metrics:
            raise ReportError("metrics", "Name at least one metric.")
        query.metric_columns(self.metrics)  # unknown names: ReportError("metrics")
        if len(set(self.metrics)) != len(self.metrics):
            raise ReportError("metrics", "A metric is named twice.")
        for name in self.filters:
            if name not in FILTERS:
                raise ReportError("filters", f"Cannot filter on {name!r}: use {', '.join(FILTERS)}.")
        if self.sort and self.sort not in (*self.dimensions, *self.metrics):
            raise ReportError("sort", f"Sort by one of the report's columns: {', '.join(self.columns)}.")
        if self.order not in ("", *ORDERS):
            raise ReportError("order", "Use asc or desc.")

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.dimensions, *self.metrics)

    @property
    def descending(self) -> bool:
        if self.order:
            return self.order == "desc"
        return self.sort not in self.dimensions

    def spec(self, advertiser: Advertiser, start: date | None = None, end: date | None = None) -> Spec:
        """The question for this advertiser, over the given days (else the query's own)."""
        start, end = start or self.start, end or self.end
        if start is None or end is None:
            raise ReportError("start", "A report needs a range of days.")
        return Spec(advertiser, start, end, self.dimensions, dict(self.filters), self.time_zone)

    def table(self, spec: Spec) -> Table:
        return tables.build(spec, self.metrics, sort=self.sort, descending=self.descending)

    def to_json(self) -> dict[str, Any]:
        return {
            "dimensions": list(self.dimensions),
            "metrics": list(self.metrics),
            "filters": {name: list(values) for name, values in self.filters.items()},
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "time_zone": self.time_zone,
            "sort": self.sort,
            "order": self.order,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportQuery:
        """A stored query (ReportError if it no longer makes sense, e.g. a metric since removed)."""
        try:
            return cls(
                dimensions=tuple(data.get("dimensions") or ()),
                metrics=tuple(data.get("metrics") or DEFAULT_METRICS),
                filters={name: tuple(values) for name, values in (data.get("filters") or {}).items()},
                start=date.fromisoformat(data["start"]) if data.get("start") else None,
                end=date.fromisoformat(data["end"]) if data.get("end") else None,
                time_zone=data.get("time_zone") or "",
                sort=data.get("sort") or "",
                order=data.get("order") or "",
            )
        except ReportError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise ReportError("query", f"The stored report is not readable: {exc}") from None


# Size -----------------------------------------------------------------------------------------------


def estimate_rows(spec: Spec) -> int:
    """An upper bound of the report's rows, without running it: the combinations of its
    non-time dimensions seen in the range (counted in the daily rollup, a few thousand rows a month)
    times the periods of its time dimensions. Raises ReportError where run() would (a time zone
    that is not a whole number of hours from UTC)."""
    query.check(spec)
    others = [name for name in spec.dimensions if name not in TIME_DIMENSIONS]
    periods = prod(
        _periods(name, spec.start, spec.end) for name in spec.dimensions if name in TIME_DIMENSIONS
    )
    if not others:
        return periods
    slack = timedelta(days=0 if spec.own_days else 1)  # another zone's days straddle the account's
    rows = DailyRollup.objects.filter(
        advertiser_id=spec.advertiser.pk, day__gte=spec.start - slack, day__lte=spec.end + slack
    )
    for name, values in spec.filters.items():
        rows = rows.filter(Q(**{f"{COLUMNS[name]}__in": list(values)}))
    combinations = rows.values(*(COLUMNS[name] for name in others)).distinct().count()
    return combinations * periods


def _periods(dimension: str, start: date, end: date) -> int:
    days = (end - start).days + 1
    if dimension == "day":
        return days
    if dimension == "week":
        return (
            (end - timedelta(days=end.weekday())) - (start - timedelta(days=start.weekday()))
        ).days // 7 + 1
    if dimension == "month":
        return (end.year * 12 + end.month) - (start.year * 12 + start.month) + 1
    if dimension == "hour":
        return days * 25  # a day of a clock change back has 25 hours
    return 24  # hour_of_day


# Files ----------------------------------------------------------------------------------------------


def render(spec: Spec, report: ReportQuery, table: Table, fmt: str, *, title: str = "Report") -> bytes:
    """The report as a file: the API's JSON answer, or the CSV / XLSX the dashboards export."""
    if fmt == "json":
        from reporting.api.payload import report_data  # the API's shape (reporting.api imports this module)

        return JSONRenderer().render(report_data(spec, report, table))
    return exports.render(table, spec.advertiser.currency, fmt, title=title)


def filename(spec: Spec, fmt: str) -> str:
    days = f"{spec.start:%Y%m%d}" if spec.start == spec.end else f"{spec.start:%Y%m%d}-{spec.end:%Y%m%d}"
    return f"report-{spec.advertiser.pk}-{days}.{fmt}"


# Jobs -----------------------------------------------------------------------------------------------


def create_job(
    *, advertiser: Advertiser, report: ReportQuery, fmt: str, principal: User | ApiKey
) -> ReportJob:
    """A queued job, run by a worker once the request's transaction commits."""
    from reporting.tasks import run_report_job  # the task module imports this one

    if fmt not in FORMATS:
        raise ReportError("format", f"Use one of {', '.join(FORMATS)}.")
    job = ReportJob.objects.create(
        advertiser=advertiser,
        requested_by=principal if isinstance(principal, User) else None,
        api_key=principal if isinstance(principal, ApiKey) else None,
        query=report.to_json(),
        format=fmt,
    )
    transaction.on_commit(partial(run_report_job.delay, job.pk))
    return job


def recent_job(*, advertiser: Advertiser, report: ReportQuery, fmt: str) -> ReportJob | None:
    """The job already asked, a moment ago, for the same question (queued, running or done): a client
    that repeats `GET /reports` while it waits gets that job again rather than a new one each time."""
    return (
        ReportJob.objects.filter(
            advertiser=advertiser,
            query=report.to_json(),
            format=fmt,
            created_at__gte=timezone.now() - JOB_REUSED,
        )
        .exclude(status=ReportJob.Status.FAILED)
        .defer("result")
        .order_by("-created_at")
        .first()
    )


def run_job(job_id: int) -> ReportJob | None:
    """Make the job's file. Safe to run twice: only a queued job is taken (a second delivery of the
    task finds it running or finished and leaves it). Any error marks the job failed with a message
    for the client; the task itself does not fail, so that the broker does not deliver it again."""
    with transaction.atomic():
        job = (
            ReportJob.objects.select_for_update(of=("self",))
            .select_related("advertiser")
            .filter(pk=job_id, status=ReportJob.Status.QUEUED)
            .first()
        )
        if job is None:
            return None
        job.status = ReportJob.Status.RUNNING
        job.save(update_fields=["status"])
    try:
        report = ReportQuery.from_json(job.query)
        spec = report.spec(job.advertiser)
        table = report.table(spec)
        content = render(spec, report, table, job.format, title=f"Report {job.pk}")
    except ReportError as exc:
        _finish(job, ReportJob.Status.FAILED, error=f"{exc.field}: {exc.message}")
    except Exception:  # anything else (the database, a time limit): the client gets a clear failure
        log.exception("report job %s failed", job.pk)
        _finish(
            job,
            ReportJob.Status.FAILED,
            error=f"The report could not be made (an error on our side, logged as job {job.pk}). "
            "Try again later, or ask for fewer days or dimensions.",
        )
    else:
        _finish(job, ReportJob.Status.DONE, result=content, rows=len(table.rows))
    return job


def _finish(
    job: ReportJob, status: str, *, result: bytes | None = None, rows: int | None = None, error: str = ""
) -> None:
    job.status = status
    job.result = result
    job.rows = rows
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "result", "rows", "error", "finished_at"])


def expire_jobs(now: datetime | None = None) -> tuple[int, int]:
    """Fail the jobs whose worker died (queued or running past JOB_TIMEOUT); delete the jobs older
    than JOB_KEPT. Returns (failed, deleted)."""
    now = now or timezone.now()
    unfinished = (ReportJob.Status.QUEUED, ReportJob.Status.RUNNING)
    failed = ReportJob.objects.filter(status__in=unfinished, created_at__lt=now - JOB_TIMEOUT).update(
        status=ReportJob.Status.FAILED,
        error=f"The report did not finish within {int(JOB_TIMEOUT.total_seconds() // 60)} minutes. "
        "Ask again, or for fewer days or dimensions.",
        finished_at=now,
    )
    deleted, _ = ReportJob.objects.filter(created_at__lt=now - JOB_KEPT).delete()
    return failed, deleted
