"""A real Celery worker, charging (the delivery loop's simulated impressions and clicks) and ingesting
(the event stream into PostgreSQL), is killed with SIGKILL mid-way; a second worker carries on.
After recovery, every billable event has exactly one ledger entry, and Redis's spend agrees with the
ledger: a charge and its event go on the stream in one Redis script, ingestion writes the ledger
idempotently, and what a dead worker left pending is claimed again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.db.models import Sum
from numpy.random import PCG64, Generator

from campaigns.models import LedgerEntry
from config.celery import app
from delivery import budget, ingest, loop
from delivery.models import DecisionEvent, ImpressionEvent
from delivery.simulator import traffic as traffic_module
from delivery.simulator.batches import Batch
from delivery.simulator.world import World, load_placements
from tests.delivery.test_simulator_loop import inventory  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def worker(name: str) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgresql://{quote(db['USER'] or '')}{password}@{host}{port}/{db['NAME']}",
        "CELERY_VISIBILITY_TIMEOUT": "5",
    }
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "ERROR",
         "--prefetch-multiplier", "1", "--hostname", f"{name}-{os.getpid()}@%h"],
        env=env,
    )  # fmt: skip


def ledger_count() -> int:
    return LedgerEntry.objects.count()


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f}s"
        time.sleep(0.2)


def test_a_worker_killed_mid_charging_and_ingesting_leaves_one_ledger_entry_per_billable_event(
    inventory,  # noqa: F811
    redis_client,
) -> None:
    _, _, group = inventory
    budget.forget_redis_state()
    seed = 21
    world = World.build(seed, load_placements(), n_users=3_000)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    rng = Generator(PCG64(seed))
    requests = traffic_module.traffic_between(world, start, start + timedelta(hours=1), 12_000, rng)
    run_id = "killed-worker"
    keys = [
        loop.enqueue(Batch(run_id=run_id, seed=seed, traffic=requests.part(first, first + 300)), n)
        for n, first in enumerate(range(0, len(requests), 300))
    ]
    for key in keys:
        app.send_task("delivery.loop.run_batch", args=[key])
        app.send_task("delivery.tasks.drain_events")

    first = worker("doomed")
    try:
        wait_for(lambda: loop.progress(run_id).batches_done >= 5 and ledger_count() > 0, 120, "charges")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    done_at_kill = loop.progress(run_id).batches_done
    assert done_at_kill < len(keys), "the worker finished everything before it was killed: no test"

    second = worker("survivor")
    try:
        # Every batch but the one the dead worker held (taken, never finished) is played.
        wait_for(lambda: loop.progress(run_id).batches_done >= len(keys) - 1, 240, "the other batches")
    finally:
        second.terminate()
        second.wait(timeout=60)
    # What the dead worker left pending in the stream is claimed (it has been idle long enough).
    ingest.drain("recovery", claim_idle_ms=0)

    decided = DecisionEvent.objects.filter(campaign_id=group.campaign_id).values_list("event_id", flat=True)
    shown = ImpressionEvent.objects.filter(ivt_reason="").values_list("event_id", flat=True)
    billed = {str(e) for e in decided} & {str(e) for e in shown}
    charges = list(LedgerEntry.objects.filter(kind="charge").values_list("event_id", flat=True))
    assert len(charges) == len(set(charges))  # one entry per event (the unique constraint)
    assert {str(e) for e in charges} == billed  # and one per billable event
    assert billed

    result = budget.reconcile(wait_seconds=10)
    assert result.caught_up
    total = LedgerEntry.objects.filter(campaign_id=group.campaign_id).aggregate(total=Sum("amount_micros"))[
        "total"
    ]
    assert int(redis_client.get(budget.total_key(group.campaign_id))) == total
