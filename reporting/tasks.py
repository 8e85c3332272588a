"""Reporting's Celery tasks: the rollups every minute, report jobs, scheduled reports."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from reporting import rollup


@shared_task(name="reporting.tasks.roll_up")
def roll_up() -> dict[str, Any]:
    """Rebuild the hours whose raw events changed (newest first), within the minute."""
    result = rollup.roll_up(budget_seconds=45)
    return {"hours": len(result.hours), "rows": result.rows, "pending": result.pending}
