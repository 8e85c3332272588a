"""Event ingestion: 200,000 mixed events (decisions with the simulator's ground truth, impressions, a
few clicks, and win and billing notices for the half of the traffic that comes from exchanges)
drained from the Redis stream into the partitioned event tables by delivery.ingest.drain, in
batches of 5,000 with COPY. Baseline: the same drain writing a sample of 10,000 events of the same
mix with one INSERT per row. Then the same 200,000 events drained by two processes at once, as a
Celery worker of concurrency 2 runs the drain task. Emitting the events is not timed; the drain
is, whole: reading the stream, parsing and checking, writing, acknowledging and trimming it.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import Queue
from pathlib import Path
from typing import Any

from django.db import connection, connections
from redis.utils import HIREDIS_AVAILABLE

from bench.results import Figure, expect
from delivery import ingest
from delivery.events import STREAM, EventKind, emit_many, new_event_id
from delivery.hot import redis_client
from delivery.models.events import maintain_partitions

EVENTS = 200_000
SAMPLE = 10_000
EMIT_CHUNK = 10_000
MINIMUM_EVENTS_PER_SECOND = 100_000  # the floor
PROCESSES = 2  # `make run`'s Celery worker concurrency
CONSUMER = "bench"

_USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
    "Safari/537.36",
]


def _ad(rng: random.Random) -> Iterator[tuple[EventKind | Any, dict[str, Any]]]:
    """One decision and what follows it, in the proportions of a typical day's traffic."""
    event_id = new_event_id()
    at = int(time.time() * 1000)
    campaign = rng.randrange(1, 200)
    bid = rng.randrange(500_000, 5_000_000)
    price = rng.randrange(100_000, bid)
    yield (
        EventKind.DECISION,
        {
            "event_id": event_id,
            "request_id": f"req-{rng.getrandbits(48):012x}",
            "source": "simulator",
            "at": at,
            "slot_id": "home-top",
            "placement_id": rng.randrange(1, 50),
            "advertiser_id": campaign // 10 + 1,
            "campaign_id": campaign,
            "ad_group_id": campaign * 3 + rng.randrange(3),
            "creative_id": campaign * 9 + rng.randrange(9),
            "user_key": f"u{rng.randrange(1_000_000)}",
            "country": rng.choice(["US", "FR", "DE", "GB", "BR"]),
            "device_type": rng.choice(["mobile", "desktop", "tablet"]),
            "os": rng.choice(["ios", "android", "windows", "macos"]),
            "bid_cpm_micros": bid,
            "price_cpm_micros": price,
            "price_micros": price // 1000,
            "currency": "USD",
            "billing_event": "impression",
            "pctr": rng.random() * 0.05,
            "pcvr": rng.random() * 0.2,
            "test": False,
        },
    )
    clicked = rng.random() < 0.02
    yield (
        _TRUTH,
        {"event_id": event_id, "p_click": 0.02, "p_conversion": 0.1, "clicked": clicked, "converted": False},
    )
    from_exchange = rng.random() < 0.5
    if from_exchange:
        yield (
            EventKind.NOTICE,
            {
                "event_id": event_id,
                "at": at + 40,
                "notice": "win",
                "price_cpm_micros": price,
                "loss_reason": "",
            },
        )
    if rng.random() < 0.9:
        visitor = {
            "ip": f"198.51.100.{rng.randrange(1, 255)}",
            "user_agent": rng.choice(_USER_AGENTS),
            "ivt_reason": "" if rng.random() < 0.97 else "datacenter",
        }
        yield EventKind.IMPRESSION, {"event_id": event_id, "at": at + 900, **visitor}
        if from_exchange:
            billing = {"notice": "billing", "price_cpm_micros": price, "loss_reason": ""}
            yield EventKind.NOTICE, {"event_id": event_id, "at": at + 950, **billing}
        if clicked:
            yield EventKind.CLICK, {"event_id": event_id, "at": at + 7000, "had_impression": True, **visitor}


class _Truth:
    """The simulator's kind "truth", emitted as delivery.events.emit_many emits any kind."""

    value = "truth"


_TRUTH = getattr(EventKind, "TRUTH", _Truth())


def events(count: int, seed: int) -> list[tuple[Any, dict[str, Any]]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
    made: list[tuple[Any, dict[str, Any]]] = []
    while len(made) < count:
        made.extend(_ad(rng))
    return made[:count]


def _emit(batch: list[tuple[Any, dict[str, Any]]]) -> None:
    for start in range(0, len(batch), EMIT_CHUNK):
        emit_many(batch[start : start + EMIT_CHUNK])
    expect(redis_client().xlen(STREAM) == len(batch), "every event is in the stream before the drain")


@dataclass(frozen=True, slots=True)
class Drained:
    events_per_second: float
    cpu_us: dict[str, float]  # CPU time per event of each process that worked on it, in µs


def _postgres_cpu_seconds() -> Callable[[], float | None]:
    """The CPU time of this connection's PostgreSQL backend, when it runs on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    stat = Path(f"/proc/{pid}/stat")

    def read() -> float | None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None  # a server elsewhere
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return read


def _redis_cpu_seconds() -> float:
    info = redis_client().info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _drain(batch: list[tuple[Any, dict[str, Any]]], writer: ingest.Writer) -> Drained:
    """One drain of `batch`, emitted first (untimed)."""
    _emit(batch)
    postgres_cpu = _postgres_cpu_seconds()
    before = (time.process_time(), postgres_cpu(), _redis_cpu_seconds())
    started = time.perf_counter()
    result = ingest.drain(CONSUMER, writer=writer)
    seconds = time.perf_counter() - started
    after = (time.process_time(), postgres_cpu(), _redis_cpu_seconds())
    expect(result.entries == len(batch) and result.dead == 0, f"every entry taken, none dead: {result}")
    expect(result.inserted_total == len(batch), f"every event written once: {result.inserted}")
    expect(redis_client().xlen(STREAM) == 0, "the stream is empty after the drain")
    cpu = {
        name: (end - start) / len(batch) * 1e6
        for name, start, end in zip(
            ("drain", "PostgreSQL backend", "Redis server"), before, after, strict=True
        )
        if start is not None and end is not None
    }
    return Drained(len(batch) / seconds, cpu)


def _drain_in(consumer: str, results: Queue[tuple[int, int]]) -> None:
    from django.db import connections

    try:
        result = ingest.drain(consumer)
        results.put((result.inserted_total, result.dead))
    finally:
        connections.close_all()


def _drain_in_parallel(batch: list[tuple[Any, dict[str, Any]]], processes: int) -> float:
    """Events per second of `processes` drains at once, each its own process and consumer, as a
    Celery worker of that concurrency runs them."""
    _emit(batch)
    connections.close_all()  # each child opens its own
    context = multiprocessing.get_context("fork")
    results: Queue[tuple[int, int]] = context.Queue()
    started = time.perf_counter()
    children = [
        context.Process(target=_drain_in, args=(f"{CONSUMER}-{n}", results)) for n in range(processes)
    ]
    for child in children:
        child.start()
    counts = [results.get(timeout=600) for _ in children]
    seconds = time.perf_counter() - started
    for child in children:
        child.join()
    expect(sum(inserted for inserted, _ in counts) == len(batch), f"every event written once: {counts}")
    expect(redis_client().xlen(STREAM) == 0, "the stream is empty after the drains")
    return len(batch) / seconds


def run() -> list[Figure]:
    ingest.drain(CONSUMER)  # the consumer group, before timing
    maintain_partitions()  # and today's partitions, as the hourly task makes them
    sample = events(SAMPLE, seed=2)
    mix = Counter(getattr(kind, "value", kind) for kind, _ in sample)
    per_row = _drain(sample, ingest.insert_rows)
    copied = _drain(events(EVENTS, seed=1), ingest.copy_rows)
    parallel = _drain_in_parallel(events(EVENTS, seed=3), PROCESSES)
    shares = ", ".join(f"{kind} {count / SAMPLE:.0%}" for kind, count in mix.most_common())
    cpu = ", ".join(f"{name} {us:.1f}" for name, us in copied.cpu_us.items())
    parser = "hiredis" if HIREDIS_AVAILABLE else "redis-py in Python (no hiredis)"
    return [
        Figure(
            "ingest: COPY events/s, one drain",
            copied.events_per_second,
            "events/s",
            baseline=per_row.events_per_second,
            note=(
                f"{EVENTS:,} events ({shares}), batches of {ingest.BATCH_SIZE:,}; baseline: the same drain "
                f"with one INSERT per row, {SAMPLE:,} events. CPU µs per event: {cpu}; Redis replies "
                f"parsed by {parser}"
            ),
        ),
        Figure(
            f"ingest: COPY events/s, {PROCESSES} drains",
            parallel,
            "events/s",
            minimum=MINIMUM_EVENTS_PER_SECOND,
            note=(
                f"{EVENTS:,} events drained by {PROCESSES} processes at once, as `make run`'s Celery worker "
                f"(concurrency {PROCESSES}) runs the drain task; {os.cpu_count()} CPUs here for them, "
                "PostgreSQL and Redis"
            ),
        ),
    ]
