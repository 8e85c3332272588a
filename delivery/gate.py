"""The gate before the auction: budget stops, the pacing throttle and frequency caps.

Installed in the engine (engine.set_gate) when the app starts. For each batch of requests it makes
one Redis round trip: the gate's version (moved whenever a budget stop or a pacing rate changes), and
the frequency counters of the batch's people when any campaign has a cap. The stops and rates are
read again only when the version moved, so a budget lowered in the Ads Manager holds from the next
request on, and the steady state costs one small GET.

- Budget: a campaign in `adwright:gate:stop` (delivery.budget) does not bid until the stop's time
  (the advertiser's next midnight) or ever (lifetime budget spent).
- Pacing: each campaign with standard pacing bids on a random `rate` share of the requests it could
  bid on (delivery.pacing sets the rates every minute); accelerated pacing always bids.
- Frequency: a person who saw a capped campaign `cap` times in the current period (hour, day or
  week, counted from the Unix epoch in UTC) is filtered out for it. Counts are kept per person and
  period in `adwright:freq:{u<user key>}:<period>:<n>` (a hash of campaign -> impressions, expiring
  with its period), incremented when an impression is counted (`count_impression`).
- Exposures: every campaign's impressions per person and UTC day are counted the same way (the day's
  key doubles as the cap's when a campaign caps per day), and read for every person of the batch in
  the same round trip: the models' "recent frequency" feature (`GateView.exposures`).

The gate also counts, per campaign and UTC hour, the requests each campaign was eligible for (its
"opportunities"), the traffic its pacing plan is spread over. They are added up in memory and
written at most once a second, with the decisions' own Redis round trip.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import redis
from redis.client import Pipeline

from delivery.budget import GATE_VERSION_KEY, STOP_KEY
from delivery.hot import redis_client
from delivery.index import Snapshot
from delivery.request import AdRequest

RATE_KEY = "adwright:gate:rate"  # campaign id -> pass-through rate, for standard pacing
FOREVER = np.iinfo(np.int64).max
OPPORTUNITIES_TTL_SECONDS = 9 * 86_400
FLUSH_SECONDS = 1.0
# The stops and rates are read again at least this often: a Redis that lost its data starts its
# version count again, and could land on the number this process last saw.
MAX_AGE_SECONDS = 1.0


DAY_MS = 86_400_000  # the exposures' period


def frequency_key(user_key: str, period_ms: int, at_ms: int) -> str:
    """A person's impressions per campaign in the period (hour, day or week) holding `at_ms`."""
    return f"adwright:freq:{{u{user_key}}}:{period_ms}:{at_ms // period_ms}"


def opportunities_key(campaign_id: int) -> str:
    return f"adwright:opps:{{c{campaign_id}}}"


def utc_hour(at: datetime) -> int:
    """Hours since the Unix epoch: the opportunities' bucket."""
    return int(at.timestamp()) // 3600


class BudgetGate:
    """The gate engine.decide_batch opens once per batch of requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: bytes | None = None
        self._loaded = False
        self._loaded_at = 0.0
        self._generation = 0
        self._stops: dict[int, int] = {}
        self._rates: dict[int, float] = {}
        self._rows: tuple[int, int, np.ndarray, np.ndarray] | None = None
        self._opportunities: Counter[tuple[int, int]] = Counter()
        self._flushed_at = time.monotonic()
        self.rng = np.random.default_rng()

    def open(self, requests: Sequence[AdRequest], snap: Snapshot) -> GateView:
        client = redis_client()
        periods = {DAY_MS}
        if snap.frequency_cap.any():
            periods |= {int(p) for p in np.unique(snap.frequency_period_ms[snap.frequency_cap > 0])}
        keys = sorted(
            {
                frequency_key(r.user_key, period, int(r.at.timestamp() * 1000))
                for r in requests
                if r.user_key
                for period in periods
            }
        )
        pipe = client.pipeline(transaction=False)
        pipe.get(GATE_VERSION_KEY)
        for key in keys:
            pipe.hgetall(key)
        version, *counts = pipe.execute()
        if (
            not self._loaded
            or version != self._version
            or time.monotonic() - self._loaded_at > MAX_AGE_SECONDS
        ):
            self._reload(client)
        stop_until, rate = self._row_arrays(snap)
        frequency = {
            key: {int(k): int(v) for k, v in fields.items()} for key, fields in zip(keys, counts, strict=True)
        }
        return GateView(self, snap, stop_until, rate, frequency)

    def reset(self) -> None:
        with self._lock:
            self._loaded = False
            self._rows = None

    def _reload(self, client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.get(GATE_VERSION_KEY)
        pipe.hgetall(STOP_KEY)
        pipe.hgetall(RATE_KEY)
        version, stops, rates = pipe.execute()
        with self._lock:
            self._stops = {int(k): (FOREVER if int(v) == 0 else int(v)) for k, v in stops.items()}
            self._rates = {int(k): min(1.0, max(0.0, float(v))) for k, v in rates.items()}
            self._version = version
            self._loaded = True
            self._loaded_at = time.monotonic()
            self._generation += 1
            self._rows = None

    def _row_arrays(self, snap: Snapshot) -> tuple[np.ndarray, np.ndarray]:
        cached = self._rows
        if cached is not None and cached[0] == id(snap) and cached[1] == self._generation:
            return cached[2], cached[3]
        stop_until = _per_row(snap.campaign_ids, self._stops, -1, np.int64)
        rate = _per_row(snap.campaign_ids, self._rates, 1.0, np.float64)
        self._rows = (id(snap), self._generation, stop_until, rate)
        return stop_until, rate

    def count(self, campaign_ids: np.ndarray, hour: int) -> None:
        with self._lock:
            self._opportunities.update((int(c), hour) for c in campaign_ids)

    def flush(self, pipe: Pipeline, *, force: bool = False) -> None:
        """Add the opportunities counted since the last flush to `pipe` (at most once a second)."""
        now = time.monotonic()
        if not force and now - self._flushed_at < FLUSH_SECONDS:
            return
        with self._lock:
            counted, self._opportunities = self._opportunities, Counter()
            self._flushed_at = now
        for (campaign_id, hour), n in counted.items():
            key = opportunities_key(campaign_id)
            pipe.hincrby(key, str(hour), n)
            pipe.expire(key, OPPORTUNITIES_TTL_SECONDS)


def _per_row(campaign_ids: np.ndarray, values: dict[int, Any], default: Any, dtype: Any) -> np.ndarray:
    """`values` (by campaign id) laid out over the snapshot's rows, `default` where absent."""
    out = np.full(len(campaign_ids), default, dtype=dtype)
    if values and len(campaign_ids):
        ids = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
        vals = np.fromiter(values.values(), dtype=dtype, count=len(values))
        order = np.argsort(ids)
        ids, vals = ids[order], vals[order]
        pos = np.minimum(np.searchsorted(ids, campaign_ids), len(ids) - 1)
        found = ids[pos] == campaign_ids
        out[found] = vals[pos[found]]
    return out


class GateView:
    """The gate for one batch of requests."""

    __slots__ = ("frequency", "gate", "rate", "snap", "stop_until")

    def __init__(
        self,
        gate: BudgetGate,
        snap: Snapshot,
        stop_until: np.ndarray,
        rate: np.ndarray,
        frequency: dict[str, dict[int, int]],
    ) -> None:
        self.gate = gate
        self.snap = snap
        self.stop_until = stop_until
        self.rate = rate
        self.frequency = frequency

    def allow(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
        at_ms = int(request.at.timestamp() * 1000)
        snap = self.snap
        if snapshot is not snap:  # pragma: no cover - the engine decides a batch on one snapshot
            raise ValueError("the gate was opened on another snapshot")
        if not request.test:
            self.gate.count(np.unique(snap.campaign_ids[rows]), at_ms // 3_600_000)
        allowed = self.stop_until[rows] <= at_ms
        rate = self.rate[rows]
        throttled = rate < 1.0
        if throttled.any():
            allowed &= ~throttled | (self.gate.rng.random(len(rows)) < rate)
        capped = snap.frequency_cap[rows] > 0
        if capped.any() and request.user_key:
            for i in np.flatnonzero(capped & allowed):
                if self._capped(request, int(rows[i]), at_ms):
                    allowed[i] = False
        return allowed

    def reasons(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> list[str]:
        """Why each row was held back: its budget is spent, else its frequency cap, else pacing."""
        from delivery.engine import FilterReason  # the engine imports this module's users

        at_ms = int(request.at.timestamp() * 1000)
        out = []
        for row in rows.tolist():
            if self.stop_until[row] > at_ms:
                out.append(FilterReason.BUDGET)
            elif self._capped(request, row, at_ms):
                out.append(FilterReason.FREQUENCY)
            else:
                out.append(FilterReason.PACING)
        return out

    def _capped(self, request: AdRequest, row: int, at_ms: int) -> bool:
        snap = self.snap
        if snap.frequency_cap[row] <= 0 or not request.user_key:
            return False
        key = frequency_key(request.user_key, int(snap.frequency_period_ms[row]), at_ms)
        return self.frequency.get(key, {}).get(int(snap.campaign_ids[row]), 0) >= snap.frequency_cap[row]

    def exposures(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
        if not request.user_key:
            return np.zeros(len(rows), dtype=np.int64)
        seen = self.frequency.get(frequency_key(request.user_key, DAY_MS, int(request.at.timestamp() * 1000)))
        if not seen:
            return np.zeros(len(rows), dtype=np.int64)
        campaigns = self.snap.campaign_ids[rows].tolist()
        return np.array([seen.get(c, 0) for c in campaigns], dtype=np.int64)

    def flush(self, pipe: Pipeline) -> None:
        self.gate.flush(pipe)


def count_impression(
    pipe: Pipeline, snap: Snapshot, *, ad_group_id: int, user_key: str, at: datetime
) -> None:
    """Count an impression in the person's exposures of the day, and against its campaign's frequency
    cap when the cap's period is another."""
    row = snap.row_of_ad_group.get(ad_group_id)
    if row is None or not user_key:
        return
    at_ms = int(at.timestamp() * 1000)
    periods = {DAY_MS}
    if snap.frequency_cap[row] > 0:
        periods.add(int(snap.frequency_period_ms[row]))
    campaign = str(snap.campaign_ids[row])
    for period_ms in sorted(periods):
        key = frequency_key(user_key, period_ms, at_ms)
        pipe.hincrby(key, campaign, 1)
        pipe.pexpire(key, period_ms + 60_000)
