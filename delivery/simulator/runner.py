"""Running the simulator: simulated hours of traffic through the delivery loop, as fast as it goes, or
a gentle stream that keeps pace with the clock (`make run`, so that the dashboards are alive).

Each simulated hour's requests (the world's volume for that hour of the day) are cut into batches and
queued for the Celery delivery loop (delivery.loop.run_batch), at most `max_in_flight` batches ahead
of the workers, so that Redis never holds more than a few batches; or played in this process with
`inline`. The counts come back through the run's hash in Redis.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from numpy.random import PCG64, Generator

from delivery import loop
from delivery.simulator import traffic as traffic_module
from delivery.simulator.batches import Batch
from delivery.simulator.outcomes import Tally
from delivery.simulator.traffic import Traffic
from delivery.simulator.world import DEFAULT_USERS, World, load_placements

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
DEFAULT_MAX_IN_FLIGHT = 8
DEFAULT_STALL_SECONDS = 120.0  # no batch finished for this long: no worker is taking them


class Stalled(RuntimeError):
    """Batches were queued but no worker finished one for too long."""


@dataclass(slots=True)
class RunResult:
    run_id: str
    start: datetime
    hours: int
    tally: Tally = field(default_factory=Tally)
    batches: int = 0
    elapsed_seconds: float = 0.0


class _Sender:
    """Queues batches for the workers (or plays them here), keeping at most `max_in_flight` waiting."""

    def __init__(
        self, run_id: str, seed: int, *, inline: bool, max_in_flight: int, stall_seconds: float
    ) -> None:
        self.run_id, self.seed, self.inline = run_id, seed, inline
        self.max_in_flight, self.stall_seconds = max_in_flight, stall_seconds
        self.sent = 0

    def send(self, traffic: Traffic, *, wait: bool = True) -> None:
        batch = Batch(run_id=self.run_id, seed=self.seed, traffic=traffic)
        key = loop.enqueue(batch, self.sent)
        self.sent += 1
        if self.inline:
            loop.process_batch(key)
        else:
            loop.run_batch.delay(key)
            if wait:
                self.wait(self.max_in_flight)

    def backlog(self) -> int:
        return self.sent - loop.progress(self.run_id).batches_done

    def wait(self, backlog: int = 0) -> int:
        """Until at most `backlog` batches are unfinished; returns the batches done."""
        done = loop.progress(self.run_id).batches_done
        last_change, pause = time.monotonic(), 0.01
        while self.sent - done > backlog:
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
            now_done = loop.progress(self.run_id).batches_done
            if now_done != done:
                done, last_change = now_done, time.monotonic()
            elif time.monotonic() - last_change > self.stall_seconds:
                raise Stalled(
                    f"{self.sent - done} batches queued and none finished for {self.stall_seconds:.0f}s: "
                    "is a Celery worker running? (--inline plays them in this process)"
                )
        return done


def default_start(hours: int, now: datetime | None = None) -> datetime:
    """The simulated clock ends at the current hour: events stay within the days the tables keep."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)


def run(
    *,
    hours: int,
    requests_per_hour: int,
    seed: int,
    start: datetime | None = None,
    n_users: int = DEFAULT_USERS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    inline: bool = False,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    stall_seconds: float = DEFAULT_STALL_SECONDS,
    on_hour: Callable[[datetime, int], None] | None = None,
) -> RunResult:
    """Simulate `hours` hours from `start` (default: ending at the current hour), averaging
    `requests_per_hour` a day, and wait for every batch to be played."""
    started = time.perf_counter()
    start = start or default_start(hours)
    world = World.build(seed, load_placements(), n_users=n_users)
    rng = Generator(PCG64([seed, int(start.timestamp())]))
    result = RunResult(run_id=uuid.uuid4().hex, start=start, hours=hours)
    sender = _Sender(
        result.run_id, seed, inline=inline, max_in_flight=max_in_flight, stall_seconds=stall_seconds
    )
    for hour in range(hours):
        hour_start = start + timedelta(hours=hour)
        n = traffic_module.hourly_volume(world, hour_start, requests_per_hour)
        traffic = traffic_module.traffic_between(world, hour_start, hour_start + timedelta(hours=1), n, rng)
        for first in range(0, len(traffic), batch_size):
            sender.send(traffic.part(first, first + batch_size))
        if on_hour is not None:
            on_hour(hour_start, len(traffic))
    sender.wait(0)
    result.batches = sender.sent
    result.tally = loop.progress(result.run_id).tally
    result.elapsed_seconds = time.perf_counter() - started
    return result


def run_live(
    *,
    requests_per_hour: int,
    seed: int,
    n_users: int = DEFAULT_USERS,
    tick_seconds: float = 5.0,
    inline: bool = False,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    world_max_age_seconds: float = 600.0,
    should_stop: Callable[[], bool] = lambda: False,
    on_tick: Callable[[datetime, int], None] | None = None,
) -> RunResult:
    """Traffic at the pace of the clock until `should_stop`: every tick, the requests of the time since
    the last one (the hour's volume, drawn as a Poisson count). The world is rebuilt every
    `world_max_age_seconds`, so that new placements get traffic. When the workers fall behind (or
    none runs), ticks are skipped rather than queued: the demo's traffic is not worth a backlog."""
    run_id = uuid.uuid4().hex
    rng = Generator(PCG64([seed, int(time.time())]))
    sender = _Sender(
        run_id, seed, inline=inline, max_in_flight=max_in_flight, stall_seconds=DEFAULT_STALL_SECONDS
    )
    last = datetime.now(UTC)
    result = RunResult(run_id=run_id, start=last, hours=0)
    world, built = World.build(seed, load_placements(), n_users=n_users), time.monotonic()
    while not should_stop():
        time.sleep(tick_seconds)
        if time.monotonic() - built > world_max_age_seconds:
            world, built = World.build(seed, load_placements(), n_users=n_users), time.monotonic()
        now = datetime.now(UTC)
        hours = (now - last).total_seconds() / 3600
        mean = requests_per_hour * traffic_module.hourly_factor(world, last + (now - last) / 2) * hours
        traffic = traffic_module.traffic_between(world, last, now, int(rng.poisson(mean)), rng)
        last = now
        if not inline and sender.backlog() >= max_in_flight:
            log.warning(
                "the delivery loop is %s batches behind: %s requests skipped", max_in_flight, len(traffic)
            )
            continue
        if len(traffic):
            sender.send(traffic, wait=False)
        if on_tick is not None:
            on_tick(now, len(traffic))
    # Stopping: the workers may be stopping too (make run stops everything at once), so wait only
    # briefly for the batches in flight.
    sender.stall_seconds = min(sender.stall_seconds, 3.0)
    try:
        sender.wait(0)
    except Stalled as exc:
        log.warning("stopped with batches unplayed: %s", exc)
    result.batches = sender.sent
    result.tally = loop.progress(run_id).tally
    return result
