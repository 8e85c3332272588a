"""The delivery app's Celery tasks: thin, each safe to run twice and on several workers at once."""

from __future__ import annotations

import logging
import os
import socket

from celery import shared_task

from delivery import budget, ingest, pacing
from delivery.models.events import maintain_partitions as _maintain_partitions

log = logging.getLogger(__name__)

# A drain stops taking new batches after this long (the beat sends one every few seconds anyway),
# well inside its time limits, so that a long backlog is shared between workers' tasks.
DRAIN_SECONDS = 20.0


def consumer_name() -> str:
    """This worker process's name in the stream's consumer group: each process drains its own share."""
    return f"{socket.gethostname()}-{os.getpid()}"


@shared_task(name="delivery.tasks.drain_events", soft_time_limit=45, time_limit=60, ignore_result=True)
def drain_events() -> int:
    """Every few seconds: the event stream into PostgreSQL until it is empty or DRAIN_SECONDS pass.
    Returns the number of stream entries taken."""
    return ingest.drain(consumer_name(), seconds=DRAIN_SECONDS).entries


@shared_task(name="delivery.tasks.pace_campaigns", soft_time_limit=45, time_limit=55, ignore_result=True)
def pace_campaigns() -> int:
    """Every minute: each active campaign's pacing rate and reserve (delivery.pacing). Returns how
    many campaigns were paced."""
    return len(pacing.update())


@shared_task(name="delivery.tasks.reconcile_budgets", soft_time_limit=50, time_limit=58, ignore_result=True)
def reconcile_budgets() -> int:
    """Every minute: Redis's spend counters made equal to the ledger, overspend credited. Returns how
    many counters were corrected."""
    return budget.reconcile(wait_seconds=20.0).adjusted


@shared_task(name="delivery.tasks.train_models", soft_time_limit=3 * 3600, time_limit=3 * 3600 + 300)
def train_models(kinds: list[str] | None = None, trained_by: str = "beat") -> list[int]:
    """Daily, and on demand (admin, `manage.py train_models`): a new version of each model kind,
    active if it beats the active one. Returns the new versions' ids; a kind that cannot be trained
    (an empty window, too few positives) is logged with the reason and skipped."""
    from delivery.ml.train import KINDS, TrainingError, train  # LightGBM: loaded only where it trains

    made = []
    for kind in kinds or KINDS:
        try:
            made.append(train(kind, trained_by=trained_by).pk)
        except TrainingError as exc:
            log.warning("no new %s model: %s", kind, exc)
    return made


@shared_task(
    name="delivery.tasks.maintain_partitions", soft_time_limit=120, time_limit=180, ignore_result=True
)
def maintain_partitions() -> None:
    """Hourly: the event tables' partitions for today and the next two days, retention applied, and
    consumers of worker processes long gone removed from the stream's group."""
    _maintain_partitions()
    ingest.forget_idle_consumers()
