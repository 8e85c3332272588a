"""The Celery delivery loop: batches of queued ad requests through the same decision code as the API.

A traffic source (the simulator's `manage.py simulate`, or any other) writes a batch of requests to
a Redis key and sends `run_batch` the key. The task takes the batch (GETDEL: a second run of the
same task finds nothing, so it is safe to run twice), decides every request with
`delivery.engine.decide_batch` against one index snapshot, and, for the simulator's batches, plays
out what people do with the ads: impressions and clicks through the real tracking code, the ground
truth beside them (delivery.simulator.outcomes). The batch's counts are added to its run's hash in
Redis, where the source reads them back (the project keeps no Celery result backend).

A batch whose worker dies after taking it is lost: simulated traffic is cheap to make again, and
nothing is billed for a decision whose impression never fired.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import cast

from celery import shared_task
from numpy.random import PCG64, Generator

from delivery import engine
from delivery.hot import redis_client
from delivery.simulator import batches, outcomes
from delivery.simulator.outcomes import Tally

BATCH_TTL_SECONDS = 3600
RUN_TTL_SECONDS = 7 * 86_400


def batch_redis_key(run_id: str, number: int) -> str:
    return f"adwright:loop:batch:{run_id}:{number}"


def run_key(run_id: str) -> str:
    return f"adwright:loop:run:{run_id}"


@dataclass(frozen=True, slots=True)
class RunProgress:
    batches_done: int
    tally: Tally


def enqueue(batch: batches.Batch, number: int) -> str:
    """Store a batch for a worker; returns the key to hand to `run_batch`."""
    key = batch_redis_key(batch.run_id, number)
    redis_client().set(key, batches.encode(batch), ex=BATCH_TTL_SECONDS)
    return key


@shared_task(name="delivery.loop.run_batch", soft_time_limit=240, time_limit=300, ignore_result=True)
def run_batch(batch_key: str) -> dict[str, int]:
    """Decide a queued batch and play out its outcomes; returns its counts (also added to its run)."""
    return process_batch(batch_key).as_fields()


def process_batch(key: str) -> Tally:
    raw = cast(bytes | None, redis_client().getdel(key))
    if raw is None:
        return Tally()
    batch = batches.decode(raw)
    tally = play(batch, rng_seed=zlib.crc32(key.encode()))
    if batch.run_id:
        record(batch.run_id, tally)
    return tally


def play(batch: batches.Batch, *, rng_seed: int) -> Tally:
    """Decide the batch's requests and simulate what follows."""
    requests = batch.traffic.requests
    decisions = engine.decide_batch(requests)
    creatives = engine.snapshot().creatives
    rng = Generator(PCG64([batch.seed, rng_seed]))
    return outcomes.simulate(batch.seed, batch.traffic, decisions, creatives, rng)


def record(run_id: str, tally: Tally) -> None:
    key = run_key(run_id)
    pipe = redis_client().pipeline(transaction=True)
    for name, value in tally.as_fields().items():
        if value:
            pipe.hincrby(key, name, value)
    pipe.hincrby(key, "batches_done", 1)
    pipe.expire(key, RUN_TTL_SECONDS)
    pipe.execute()


def progress(run_id: str) -> RunProgress:
    raw = cast(dict[bytes, bytes], redis_client().hgetall(run_key(run_id)))
    fields = {k.decode(): int(v) for k, v in raw.items()}
    return RunProgress(batches_done=fields.pop("batches_done", 0), tally=Tally.from_fields(fields))
