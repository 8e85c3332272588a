"""Reporting's Celery tasks: the rollups every minute, report jobs, scheduled reports."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from reporting import jobs, rollup, schedules


@shared_task(name="reporting.tasks.roll_up")
def roll_up() -> dict[str, Any]:
    """Rebuild the hours whose raw events changed (newest first), within the minute."""
    result = rollup.roll_up(budget_seconds=45)
    return {"hours": len(result.hours), "rows": result.rows, "pending": result.pending}


# Past the soft limit a report job is marked failed (too long); past the hard one its worker is
# killed, and expire_report_jobs fails the job later.
REPORT_JOB_SOFT_LIMIT = 15 * 60


@shared_task(
    name="reporting.tasks.run_report_job",
    soft_time_limit=REPORT_JOB_SOFT_LIMIT,
    time_limit=REPORT_JOB_SOFT_LIMIT + 60,
    ignore_result=True,
)
def run_report_job(job_id: int) -> None:
    """Make a report job's file (reporting.jobs.run_job): marks it done or failed, never raises."""
    jobs.run_job(job_id)


@shared_task(
    name="reporting.tasks.expire_report_jobs", soft_time_limit=120, time_limit=180, ignore_result=True
)
def expire_report_jobs() -> dict[str, int]:
    """Every 15 minutes: jobs whose worker died are failed; jobs past their keeping time deleted."""
    failed, deleted = jobs.expire_jobs()
    return {"failed": failed, "deleted": deleted}


@shared_task(
    name="reporting.tasks.send_scheduled_reports",
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    ignore_result=True,
)
def send_scheduled_reports() -> int:
    """Every 15 minutes: each scheduled report that is due is emailed, once per advertiser day
    (reporting.schedules). Returns how many were sent."""
    return schedules.send_due()
