"""The Celery delivery loop's throughput: auctions per second in one worker process.

The simulator's traffic for the bench world (bench.serving: 1,000 deliverable ad groups) is played
the way a worker plays it (delivery.loop.play: decisions against one snapshot, the wins recorded in
one Redis round trip, impressions and clicks through the real tracking code), in batches of 500,
against the baseline of the same code one request at a time, in the same run.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from numpy.random import PCG64, Generator

from bench.results import Figure, expect
from delivery import loop
from delivery.simulator import traffic as traffic_module
from delivery.simulator.batches import Batch
from delivery.simulator.world import World, load_placements

REQUESTS = int(os.environ.get("BENCH_LOOP_REQUESTS", "5000"))
BATCH = 500
SEED = 11


def run() -> list[Figure]:
    world = World.build(SEED, load_placements(), n_users=20_000)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    rng = Generator(PCG64(SEED))
    traffic = traffic_module.traffic_between(world, start, start + timedelta(hours=1), REQUESTS, rng)
    expect(len(traffic) == REQUESTS, f"{len(traffic)} requests generated")

    started = time.perf_counter()
    won = 0
    for first in range(0, REQUESTS, BATCH):
        tally = loop.play(Batch("", SEED, traffic.part(first, first + BATCH)), rng_seed=first)
        won += tally.wins
    batched = REQUESTS / (time.perf_counter() - started)
    expect(won > 0, "no auction was won")

    sample = min(REQUESTS, 1000)  # the slow way on a fifth of the traffic: the rate is what counts
    started = time.perf_counter()
    for i in range(sample):
        loop.play(Batch("", SEED, traffic.part(i, i + 1)), rng_seed=i)
    one_by_one = sample / (time.perf_counter() - started)
    return [
        Figure(
            "delivery loop: auctions/s per worker process",
            batched,
            "auctions/s",
            baseline=one_by_one,
            note=f"batches of {BATCH}, {REQUESTS:,} simulated requests ({won:,} won, their impressions and "
            "clicks tracked); baseline: the same code one request at a time",
        )
    ]
