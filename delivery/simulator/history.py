"""Fast history: days of simulated traffic written straight into the event tables, for the models.

The simulator's usual path (delivery.loop.play, delivery.simulator.outcomes.simulate) fires every
impression and click through the tracking code, one Redis round trip or more each, and the events
reach PostgreSQL through the stream and the ingestion: a few hundred requests a second, too slow
for the weeks of millions of impressions that the pCTR and pCVR models learn from. This module makes
the same history several times faster (the engine's decisions are then most of the time), keeping
everything the models read as the slow path makes it:

- the same traffic (delivery.simulator.traffic) and the real decisions (`engine.decide_batch`, the
  installed gate included, so the decisions' exposures are the platform's own), in batches;
- the same outcomes, drawn from the same ground truth (`outcomes.draw`), with the simulator's own
  exposure counter for the truth's fatigue;
- each fired impression counted in the person's exposures with `gate.count_impression`, in one Redis
  pipeline per batch, so that later requests see them, as the tracking code counts a valid one;
- the rows written with binary COPY through the ingestion's own row builders and writer
  (`event_rows.KINDS`, `ingest.copy_rows`): the rows the stream would have become;
- conversions reported by postback through `conversions.receive`, as the advertisers' servers do.

Only people's traffic is kept. Crawlers and click spammers are invalid traffic: the filters catch
them and their events are never training rows, so they are dropped before the auction (their share
of the requests still comes out of the traffic's random draws, so the people's traffic is the same
as the slow path's). Every impression and click of a person is valid: impressions a second or two
after the decision with ivt_reason "" and the person's IP and browser, and a click, when the truth
says so, seconds to a minute later, with had_impression true.

No charges, and no budgets: nothing goes to the ledger or the budgets' counters in Redis. The
history is for models; the bench that writes it gives its campaigns budgets they never reach.

Conversions are drawn for clicks by the truth, and reported, at their own time, for the advertisers
that track them (the campaign's conversion event, else the advertiser's first active one), once the
batch's clicks are in PostgreSQL: attribution looks the click id up in the click and decision tables
when Redis does not know it. A conversion that would happen after now (the wall clock) has not
happened yet and is not reported (its truth row says converted all the same); one after the end of
the history but before now has, and is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from django.db import connection, transaction
from numpy.random import PCG64, Generator

from campaigns.models import ConversionEvent
from delivery import engine, gate, ingest
from delivery.event_rows import KINDS, Kind, Window
from delivery.hot import redis_client
from delivery.index import Snapshot
from delivery.models.events import ensure_partitions, retention_days
from delivery.request import Decision
from delivery.simulator import outcomes
from delivery.simulator import traffic as traffic_module
from delivery.simulator.outcomes import Drawn
from delivery.simulator.traffic import Traffic
from delivery.simulator.world import DEFAULT_USERS, KIND_HUMAN, World, load_placements

BATCH_SIZE = 2000  # requests decided against one gate view: the exposures it reads are this fresh
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DECISION, _IMPRESSION, _CLICK, _TRUTH = (
    KINDS["decision"],
    KINDS["impression"],
    KINDS["click"],
    KINDS["truth"],
)


@dataclass(slots=True)
class History:
    """What a history came to."""

    start: datetime
    hours: int
    requests: int = 0  # people's requests decided
    invalid_requests: int = 0  # crawlers' and click spammers' requests, left out
    decisions: int = 0  # ads chosen (decision rows)
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0  # reported and stored (each attributed to its click)
    seconds: float = 0.0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def impressions_per_second(self) -> float:
        return self.impressions / self.seconds if self.seconds else 0.0


def write_history(
    *,
    start: datetime,
    hours: int,
    requests_per_hour: int,
    seed: int,
    n_users: int = DEFAULT_USERS,
    on_hour: Callable[[datetime, History], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> History:
    """Write `hours` hours of history from `start` (aware), averaging `requests_per_hour` over a day,
    for the world of `seed`; `on_hour` is told each hour's start and the totals so far.

    The traffic is runner.run's for the same seed and start. Raises ValueError unless the hours are
    past and within the days the event tables keep."""
    started = time.perf_counter()
    start = start.astimezone(UTC)
    end = start + timedelta(hours=hours)
    now = datetime.now(UTC)
    window = Window.around(now)
    if int(start.timestamp() * 1000) < window.oldest_ms or end > now:
        raise ValueError(
            f"the history ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC) must start within the "
            f"{retention_days()} days the event tables keep and end by now"
        )
    ensure_partitions(_days(start, end))
    world = World.build(seed, load_placements(), n_users=n_users)
    traffic_rng = Generator(PCG64([seed, int(start.timestamp())]))  # as runner.run draws the traffic
    outcome_rng = Generator(PCG64([seed, int(start.timestamp()), 1]))
    writer = _Writer(seed, window, now, outcome_rng)
    history = History(start=start, hours=hours)
    with ingest.without_cycle_collection():
        for hour in range(hours):
            hour_start = start + timedelta(hours=hour)
            n = traffic_module.hourly_volume(world, hour_start, requests_per_hour)
            hour_traffic = traffic_module.traffic_between(
                world, hour_start, hour_start + timedelta(hours=1), n, traffic_rng
            )
            people = hour_traffic.take(np.flatnonzero(hour_traffic.kind == KIND_HUMAN))
            history.invalid_requests += len(hour_traffic) - len(people)
            for first in range(0, len(people), batch_size):
                writer.play(people.part(first, first + batch_size), history)
            history.seconds = time.perf_counter() - started
            if on_hour is not None:
                on_hour(hour_start, history)
    history.seconds = time.perf_counter() - started
    return history


class _Writer:
    """Plays batches of requests and writes what they come to."""

    def __init__(self, seed: int, window: Window, now: datetime, rng: Generator) -> None:
        self.seed, self.window, self.now, self.rng = seed, window, now, rng
        self.events: dict[int, ConversionEvent | None] = {}

    def play(self, batch: Traffic, history: History) -> None:
        decisions = engine.decide_batch(batch.requests, record=False)
        snapshot = engine.snapshot()
        drawn = outcomes.draw(self.seed, batch, decisions, snapshot.creatives, self.rng)
        decided_us = np.array([(r.at - _EPOCH) // _MICROSECOND for r in drawn.requests], dtype=np.int64)
        shown_us = decided_us + _micros(drawn.impression_delay)
        clicked_us = shown_us + _micros(drawn.click_delay)
        self.count_impressions(snapshot, drawn, shown_us)
        rows = self.rows(decisions, drawn, shown_us, clicked_us)
        self.write(rows)
        history.requests += len(batch)
        history.decisions += len(rows[_DECISION])
        history.impressions += len(rows[_IMPRESSION])
        history.clicks += len(rows[_CLICK])
        history.conversions += self.report_conversions(drawn, clicked_us)

    def count_impressions(self, snapshot: Snapshot, drawn: Drawn, shown_us: np.ndarray) -> None:
        """The impressions in the people's exposures (and frequency caps), as the tracking code counts a
        valid impression: in one round trip."""
        pipe = redis_client().pipeline(transaction=False)
        for win, request, us in zip(drawn.wins, drawn.requests, shown_us.tolist(), strict=True):
            gate.count_impression(
                pipe, snapshot, ad_group_id=win.ad_group_id, user_key=request.user_key, at=_at(us)
            )
        if len(pipe):
            pipe.execute()

    def rows(
        self, decisions: Sequence[Decision], drawn: Drawn, shown_us: np.ndarray, clicked_us: np.ndarray
    ) -> dict[Kind, list[tuple[Any, ...]]]:
        """Each kind's rows, from the events the slow path would have put on the stream."""
        decided = [
            engine.decision_event(decision.request, win) for decision in decisions for win in decision.wins
        ]
        shown = [
            {"event_id": win.event_id, "at": us // 1000, "ip": request.context.ip,
             "user_agent": request.context.user_agent, "ivt_reason": ""}
            for win, request, us in zip(drawn.wins, drawn.requests, shown_us.tolist(), strict=True)
        ]  # fmt: skip
        clicked = [
            {"event_id": win.event_id, "at": us // 1000, "ip": request.context.ip,
             "user_agent": request.context.user_agent, "ivt_reason": "", "had_impression": True}
            for win, request, us, click in zip(
                drawn.wins, drawn.requests, clicked_us.tolist(), drawn.clicked.tolist(), strict=True
            )
            if click
        ]  # fmt: skip
        return {
            _DECISION: self.build(_DECISION, decided),
            _IMPRESSION: self.build(_IMPRESSION, shown),
            _CLICK: self.build(_CLICK, clicked),
            _TRUTH: self.build(_TRUTH, drawn.truth_events()),
        }

    def build(self, kind: Kind, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows the ingestion makes of these events as they come off the stream (JSON)."""
        raws = list(map(orjson.dumps, events))
        rows = kind.rows(raws, self.window)
        if rows is None:  # one of them needs the per-event checks, which name what is wrong with it
            rows = [kind.row(orjson.loads(raw), self.window) for raw in raws]
        return rows

    def write(self, rows: dict[Kind, list[tuple[Any, ...]]]) -> None:
        """One transaction, as the ingestion writes a batch (a row already there is left as it is)."""
        with transaction.atomic():
            connection.ensure_connection()
            with connection.connection.cursor() as cursor:
                for kind, kind_rows in rows.items():
                    if kind_rows:
                        ingest.copy_rows(cursor, kind, kind_rows)

    def report_conversions(self, drawn: Drawn, clicked_us: np.ndarray) -> int:
        """Post the batch's conversions that have happened by now; returns how many were new."""
        converted = np.flatnonzero(drawn.converted)
        if not len(converted):
            return 0
        values = self.rng.lognormal(np.log(40.0), 0.8, len(converted))  # as outcomes.queue_conversions
        occurred_us = clicked_us[converted] + _micros(drawn.conversion_delay[converted])
        new = 0
        for j, at_us, value in zip(converted.tolist(), occurred_us.tolist(), values.tolist(), strict=True):
            occurred_at = _at(at_us)
            win = drawn.wins[j]
            event = self.conversion_event(win.campaign_id)
            if event is None or occurred_at >= self.now:
                continue
            new += outcomes.post_conversion(
                event, f"sim-{win.event_id}", occurred_at, f"{value:.2f}", win.event_id
            )
        return new

    def conversion_event(self, campaign_id: int) -> ConversionEvent | None:
        """The event the campaign's advertiser reports (outcomes' rule), if any and active."""
        event_id = outcomes.conversion_event_id(campaign_id)
        if event_id is None:
            return None
        if event_id not in self.events:
            event = ConversionEvent.objects.select_related("advertiser").filter(pk=event_id).first()
            self.events[event_id] = event if event is not None and event.is_active else None
        return self.events[event_id]


def _micros(seconds: np.ndarray) -> np.ndarray:
    return np.round(seconds * 1e6).astype(np.int64)


def _at(epoch_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=epoch_us)


def _days(start: datetime, end: datetime) -> Iterator[date]:
    day = start.date()
    while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
        yield day
        day += timedelta(days=1)
