"""The decision: retrieval, filters, scoring, ranking and the auction for one request.

Every path goes through `decide` (or `decide_batch`): the decision API, the OpenRTB bidder and the
Celery delivery loop. Per request it is a few dozen numpy operations over the index snapshot, one
scorer call per slot, one auction per slot, and one Redis round trip to record the wins.

Two seams:
- `Gate`: says which candidate ad groups may bid now. The app installs delivery.gate.BudgetGate
  (budget stops, frequency caps, the pacing throttle) with `set_gate`; `OpenGate` lets everyone by.
- `Scorer` (delivery.scoring): the LightGBM models replace the priors with `set_scorer`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import redis
from django.conf import settings
from redis.client import Pipeline

from delivery import auction, fx, taxonomy
from delivery.events import EventKind, add_events, new_event_id
from delivery.hot import redis_client
from delivery.index import (
    FORMAT_CODE,
    BidKind,
    Snapshot,
    build,
    local_hour_of_week,
    size_code,
    tie_keys,
)
from delivery.request import (
    AdRequest,
    Candidate,
    Decision,
    Rejection,
    Slot,
    SlotExplanation,
    Win,
)
from delivery.scoring import PriorScorer, Scorer

log = logging.getLogger(__name__)

VERSION_KEY = "adwright:index:version"
VERSION_CHECK_SECONDS = 1.0


class FilterReason:
    """Why an ad group did not reach the auction for a slot, in the order the filters run."""

    NOT_STARTED = "not_started"
    ENDED = "ended"
    DAYPARTING = "dayparting"
    LOCATION = "location"
    LANGUAGE = "language"
    AGE = "age"
    GENDER = "gender"
    DEVICE = "device_type"
    OS = "operating_system"
    INTERESTS = "interests"
    KEYWORDS = "keywords"
    PLACEMENT = "placement"
    NO_FITTING_CREATIVE = "no_fitting_creative"
    BLOCKED = "blocked_by_publisher"
    BUDGET = "budget_spent"
    FREQUENCY = "frequency_cap"
    PACING = "pacing"
    ALREADY_WON = "already_won_a_slot"
    BELOW_RESERVE = "below_reserve"
    OUTBID = "outbid"


DESCRIPTIONS = {
    FilterReason.NOT_STARTED: "The campaign has not started yet.",
    FilterReason.ENDED: "The campaign has ended.",
    FilterReason.DAYPARTING: "Outside the ad group's scheduled hours.",
    FilterReason.LOCATION: "The person is outside the targeted locations.",
    FilterReason.LANGUAGE: "The person's language is not targeted.",
    FilterReason.AGE: "The person's age is not targeted (or not known).",
    FilterReason.GENDER: "The person's gender is not targeted (or not known).",
    FilterReason.DEVICE: "The device type is not targeted.",
    FilterReason.OS: "The operating system is not targeted.",
    FilterReason.INTERESTS: "None of the person's interests is targeted.",
    FilterReason.KEYWORDS: "None of the page's keywords is targeted.",
    FilterReason.PLACEMENT: "This placement is excluded or not among the included ones.",
    FilterReason.NO_FITTING_CREATIVE: "No approved creative fits this slot's format and size.",
    FilterReason.BLOCKED: "The publisher blocks this advertiser, category or creative attribute.",
    FilterReason.BUDGET: "The budget is spent (what is left is owed for ads already shown).",
    FilterReason.FREQUENCY: "This person has seen the campaign as often as its frequency cap allows.",
    FilterReason.PACING: "Held back by pacing, which spreads the budget over the day.",
    FilterReason.ALREADY_WON: "Already chosen for another slot of this request.",
    FilterReason.BELOW_RESERVE: "The bid is below the slot's reserve price.",
    FilterReason.OUTBID: "Another ad won the auction.",
}


class GateView(Protocol):
    """The gate for one batch of requests (delivery.gate.GateView)."""

    def allow(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
        """A boolean mask over `rows` (ad group rows of the snapshot): may these bid now?"""
        ...

    def reasons(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> list[str]:
        """Why each of `rows` (held back by `allow`) was held back: a FilterReason each."""
        ...

    def exposures(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
        """The person's impressions today of each of `rows`' campaigns (a model feature), int64."""
        ...

    def flush(self, pipe: Pipeline) -> None:
        """Add whatever the gate wants written to the decisions' Redis round trip."""
        ...


class Gate(Protocol):
    def open(self, requests: Sequence[AdRequest], snapshot: Snapshot) -> GateView: ...


class OpenGate:
    """Everyone may bid: the engine's default until delivery.gate.BudgetGate is installed (the app
    does so when it starts; tests of the auction alone keep this one)."""

    def open(self, requests: Sequence[AdRequest], snapshot: Snapshot) -> OpenGate:
        return self

    def allow(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
        return np.ones(len(rows), dtype=bool)

    def exposures(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows), dtype=np.int64)

    def reasons(self, request: AdRequest, snapshot: Snapshot, rows: np.ndarray) -> list[str]:
        return [FilterReason.PACING] * len(rows)

    def flush(self, pipe: Pipeline) -> None:
        return None


# ---------------------------------------------------------------------------------------------------
# The process's snapshot


class _State:
    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.checked_at = 0.0
        self.lock = threading.Lock()
        self.scorer: Scorer = PriorScorer()
        self.gate: Gate = OpenGate()


_state = _State()


def bump_version() -> int:
    """Tell every process that the deliverable ad groups changed (they rebuild within a second)."""
    try:
        return int(redis_client().incr(VERSION_KEY))
    except (redis.RedisError, OSError) as exc:
        log.warning("index version not bumped: %s", exc)
        return 0


def _stored_version() -> int:
    try:
        return int(redis_client().get(VERSION_KEY) or 0)
    except (redis.RedisError, OSError) as exc:
        log.warning("index version unreadable, keeping the current snapshot: %s", exc)
        return -1


def snapshot() -> Snapshot:
    """The current index snapshot, rebuilt when the version in Redis moved or it is too old."""
    now = time.monotonic()
    current = _state.snapshot
    if current is not None and now - _state.checked_at < VERSION_CHECK_SECONDS:
        return current
    _state.checked_at = now
    version = _stored_version()
    max_age = float(getattr(settings, "INDEX_MAX_AGE_SECONDS", 60))
    fresh = current is not None and (version in (current.version, -1))
    if fresh and current is not None and time.time() - current.built_at.timestamp() < max_age:
        return current
    if current is not None and not _state.lock.acquire(blocking=False):
        return current  # another thread is rebuilding: serve from the old snapshot meanwhile
    if current is None:
        _state.lock.acquire()
    try:
        if _state.snapshot is not current and _state.snapshot is not None:
            return _state.snapshot
        _state.snapshot = build(max(version, 0))
        log.info(
            "index v%s built: %s ad groups in %.3fs",
            _state.snapshot.version,
            _state.snapshot.size,
            _state.snapshot.build_seconds,
        )
        return _state.snapshot
    finally:
        _state.lock.release()


def rebuild() -> Snapshot:
    """Rebuild now (tests, the beat task, the admin)."""
    with _state.lock:
        _state.snapshot = build(max(_stored_version(), 0))
        _state.checked_at = time.monotonic()
        return _state.snapshot


def set_scorer(scorer: Scorer) -> Scorer:
    """Install `scorer`; returns the one it replaces."""
    previous, _state.scorer = _state.scorer, scorer
    return previous


def reset_gate_cache() -> None:
    """Make the gate read the stops and rates again on its next batch (after Redis lost them)."""
    reset = getattr(_state.gate, "reset", None)
    if reset is not None:
        reset()


def set_gate(gate: Gate) -> Gate:
    """Install `gate`; returns the one it replaces."""
    previous, _state.gate = _state.gate, gate
    return previous


# ---------------------------------------------------------------------------------------------------
# Deciding


def decide(request: AdRequest) -> Decision:
    return decide_batch([request])[0]


def decide_batch(requests: Sequence[AdRequest], *, record: bool = True) -> list[Decision]:
    """Decide each request against one snapshot, and record all the wins in one Redis round trip."""
    snap = snapshot()
    gate = _state.gate.open(requests, snap)
    decisions = [_decide(request, snap, gate) for request in requests]
    if record:
        record_wins(decisions, gate)
    return decisions


def record_wins(decisions: Sequence[Decision], gate: GateView | None = None) -> None:
    """Put the decisions' wins on the event stream, with what the gate counted, in one round trip
    (decide_batch does it unless told not to)."""
    events = [
        (EventKind.DECISION, decision_event(decision.request, win))
        for decision in decisions
        for win in decision.wins
    ]
    pipe = redis_client().pipeline(transaction=False)
    add_events(pipe, events)
    if gate is not None:
        gate.flush(pipe)
    if len(pipe):
        pipe.execute()


def decision_event(request: AdRequest, win: Win) -> dict[str, object]:
    """The decision event's fields, as delivery.events documents them."""
    return {
        "event_id": win.event_id,
        "request_id": request.id,
        "source": request.source.value,
        "at": int(request.at.timestamp() * 1000),
        "slot_id": win.slot_id,
        "placement_id": win.placement_id,
        "advertiser_id": win.advertiser_id,
        "campaign_id": win.campaign_id,
        "ad_group_id": win.ad_group_id,
        "creative_id": win.creative_id,
        "user_key": request.user_key,
        "country": request.context.country,
        "device_type": request.context.device_type,
        "os": request.context.os,
        "region": request.context.region,
        "language": request.context.language,
        "age": request.context.age
        if request.context.age is not None and 0 <= request.context.age < 128
        else None,
        "gender": request.context.gender,
        "interests": ",".join(sorted(request.context.interests)),
        "keywords": ",".join(sorted(request.context.keywords)),
        "publisher_id": _publisher(request, win),
        "exposures": min(win.exposures, 1_000_000),
        "bid_cpm_micros": win.bid_cpm_micros,
        "price_cpm_micros": win.price_cpm_micros,
        "price_micros": win.price_micros,
        "currency": win.currency,
        "billing_event": win.billing_event,
        "pctr": win.pctr,
        "pcvr": win.pcvr,
        "test": request.test,
    }


def _publisher(request: AdRequest, win: Win) -> int | None:
    return next((slot.publisher_id for slot in request.slots if slot.id == win.slot_id), None)


def _decide(request: AdRequest, snap: Snapshot, gate: GateView) -> Decision:
    decision = Decision(request=request, index_version=snap.version)
    if request.explain:
        decision.explanations = []
    if snap.size == 0 or not request.slots:
        for slot in request.slots:
            if decision.explanations is not None:
                decision.explanations.append(SlotExplanation(slot.id, slot.floor_cpm_micros))
        return decision
    base, base_reasons = _context_mask(request, snap)
    taken = np.zeros(snap.size, dtype=bool)
    for slot in request.slots:
        explanation = (
            SlotExplanation(slot.id, slot.floor_cpm_micros) if decision.explanations is not None else None
        )
        wins = _fill_slot(request, slot, snap, base, taken, explanation, gate)
        decision.wins.extend(wins)
        if explanation is not None and decision.explanations is not None:
            for row, reason in base_reasons:
                explanation.rejections.append(
                    Rejection(int(snap.ad_group_ids[row]), reason, DESCRIPTIONS[reason])
                )
            explanation.rejections.sort(key=lambda r: r.ad_group_id)
            decision.explanations.append(explanation)
    return decision


def _context_mask(request: AdRequest, snap: Snapshot) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Rows that the request's time and person allow, and (when explaining) why the others fail."""
    ctx = request.context
    at_ms = int(request.at.timestamp() * 1000)
    hour = local_hour_of_week(snap, request.at)
    dims = snap.dimensions
    location_values = []
    if ctx.country:
        location_values.append(("c", ctx.country))
    if ctx.region:
        location_values.append(("r", ctx.region))
    if ctx.age is not None and 0 <= ctx.age < snap.age_ok.shape[0]:
        age_mask = snap.age_unrestricted | snap.age_ok[ctx.age]
    else:
        age_mask = snap.age_unrestricted
    checks: list[tuple[str, np.ndarray]] = [
        (FilterReason.NOT_STARTED, snap.starts_ms <= at_ms),
        (FilterReason.ENDED, snap.ends_ms > at_ms),
        (FilterReason.DAYPARTING, snap.hours_open[np.arange(snap.size), hour]),
        (FilterReason.LOCATION, dims["location"].accepts(location_values)),
        (FilterReason.LANGUAGE, dims["languages"].accepts([ctx.language] if ctx.language else [])),
        (FilterReason.AGE, age_mask),
        (FilterReason.GENDER, dims["genders"].accepts([ctx.gender] if ctx.gender else [])),
        (FilterReason.DEVICE, dims["device_types"].accepts([ctx.device_type] if ctx.device_type else [])),
        (FilterReason.OS, dims["operating_systems"].accepts([ctx.os] if ctx.os else [])),
        (FilterReason.INTERESTS, dims["interests"].accepts(ctx.interests)),
        (FilterReason.KEYWORDS, dims["keywords"].accepts(ctx.keywords)),
    ]
    mask = np.ones(snap.size, dtype=bool)
    reasons: list[tuple[int, str]] = []
    for reason, ok in checks:
        if request.explain:
            failed = np.flatnonzero(mask & ~ok)
            reasons.extend((int(row), reason) for row in failed)
        mask &= ok
    return mask, reasons


def _fill_slot(
    request: AdRequest,
    slot: Slot,
    snap: Snapshot,
    base: np.ndarray,
    taken: np.ndarray,
    explanation: SlotExplanation | None,
    gate: GateView,
) -> list[Win]:
    def reject(rows: np.ndarray, reason: str) -> None:
        if explanation is not None:
            explanation.rejections.extend(
                Rejection(int(snap.ad_group_ids[row]), reason, DESCRIPTIONS[reason]) for row in rows
            )

    rows_ok = base.copy()
    # Placement include / exclude
    if slot.placement_id is not None:
        placement_ok = snap.placement_included.accepts([slot.placement_id])
        excluded = snap.placement_excluded.get(slot.placement_id)
        if excluded is not None:
            placement_ok &= ~excluded
    else:
        placement_ok = snap.placement_included.unrestricted
    if explanation is not None:
        reject(np.flatnonzero(rows_ok & ~placement_ok), FilterReason.PLACEMENT)
    rows_ok &= placement_ok
    if explanation is not None:
        reject(np.flatnonzero(rows_ok & taken), FilterReason.ALREADY_WON)
    rows_ok &= ~taken

    # Creatives of those rows that fit the slot
    format_ok = np.zeros(len(FORMAT_CODE), dtype=bool)
    for name in slot.formats:
        code = FORMAT_CODE.get(name)
        if code is not None:
            format_ok[code] = True
    fits = rows_ok[snap.creative_row] & format_ok[snap.creative_format]
    if slot.sizes:
        banner = snap.creative_format == FORMAT_CODE["banner"]
        sizes = np.array([size_code(w, h) for w, h in slot.sizes], dtype=np.int64)
        fits &= ~banner | np.isin(snap.creative_size, sizes)
    candidates = np.flatnonzero(fits)
    if request.blocked_domains or request.blocked_categories or request.blocked_attributes:
        allowed = np.array([not _blocked(request, snap, int(i)) for i in candidates], dtype=bool)
        if explanation is not None:
            blocked_rows = np.setdiff1d(
                snap.creative_row[candidates[~allowed]], snap.creative_row[candidates[allowed]]
            )
            reject(blocked_rows, FilterReason.BLOCKED)
        candidates = candidates[allowed] if len(candidates) else candidates
    if explanation is not None:
        reject(
            np.setdiff1d(np.flatnonzero(rows_ok), snap.creative_row[candidates]),
            FilterReason.NO_FITTING_CREATIVE,
        )

    if len(candidates) == 0:
        return []
    # Budget / pacing gate, per ad group row
    cand_rows = snap.creative_row[candidates]
    allowed = gate.allow(request, snap, cand_rows)
    if not allowed.all():
        if explanation is not None:
            held = cand_rows[~allowed]
            rows, first = np.unique(held, return_index=True)
            reasons = gate.reasons(request, snap, held)
            for row, i in zip(rows.tolist(), first.tolist(), strict=True):
                reject(np.array([row]), reasons[i])
        candidates, cand_rows = candidates[allowed], cand_rows[allowed]
        if len(candidates) == 0:
            return []

    seen = gate.exposures(request, snap, cand_rows)
    pctr, pcvr = _state.scorer.score(request, slot, snap, candidates, seen)
    ecpm = _ecpm(snap, cand_rows, pctr, pcvr)
    # The best creative of each ad group represents it in the auction.
    order = np.lexsort((snap.creative_ids[candidates], -ecpm, cand_rows))
    first = np.ones(len(order), dtype=bool)
    first[1:] = cand_rows[order][1:] != cand_rows[order][:-1]
    best = order[first]
    best_rows = cand_rows[best]
    ties = tie_keys(request.id, snap.ad_group_ids[best_rows])
    result = auction.run_auction(
        ecpm[best],
        ties,
        reserve_cpm_micros=slot.floor_cpm_micros,
        count=slot.count,
        pricing=auction.Pricing.FIRST_PRICE if request.first_price else auction.Pricing.SECOND_PRICE,
    )
    wins = []
    won_rows = set()
    for sale in result.sales:
        i = int(best[sale.index])
        row = int(cand_rows[i])
        won_rows.add(row)
        taken[row] = True
        creative = snap.creative_list[int(candidates[i])]
        currency = snap.currency[row]
        price_local = fx.from_usd_micros(sale.price_cpm_micros, currency) or 0
        wins.append(
            Win(
                event_id=new_event_id(request.at),
                slot_id=slot.id,
                placement_id=slot.placement_id,
                advertiser_id=creative.advertiser_id,
                campaign_id=creative.campaign_id,
                ad_group_id=creative.ad_group_id,
                creative_id=creative.id,
                bid_cpm_micros=sale.bid_cpm_micros,
                price_cpm_micros=sale.price_cpm_micros,
                price_micros=auction.impression_price_micros(price_local),
                currency=currency,
                billing_event=snap.billing_event[row],
                pctr=float(pctr[i]),
                pcvr=float(pcvr[i]),
                runner_up_cpm_micros=sale.runner_up_cpm_micros,
                exposures=int(seen[i]),
            )
        )
    if explanation is not None:
        prices = {int(best[s.index]): s.price_cpm_micros for s in result.sales}
        for i in best:
            row = int(cand_rows[i])
            explanation.candidates.append(
                Candidate(
                    ad_group_id=int(snap.ad_group_ids[row]),
                    creative_id=int(snap.creative_ids[candidates[i]]),
                    pctr=float(pctr[i]),
                    pcvr=float(pcvr[i]),
                    ecpm_cpm_micros=int(ecpm[i]),
                    won=row in won_rows,
                    price_cpm_micros=prices.get(int(i)),
                )
            )
            if row not in won_rows:
                reason = (
                    FilterReason.BELOW_RESERVE if ecpm[i] < slot.floor_cpm_micros else FilterReason.OUTBID
                )
                reject(np.array([row]), reason)
        explanation.candidates.sort(key=lambda c: -c.ecpm_cpm_micros)
    return wins


def _ecpm(snap: Snapshot, rows: np.ndarray, pctr: np.ndarray, pcvr: np.ndarray) -> np.ndarray:
    """eCPM in USD micros: CPM bid; CPC bid x pCTR x 1000; target CPA x pCTR x pCVR x 1000."""
    kind = snap.bid_kind[rows]
    bid = snap.bid_usd_micros[rows].astype(np.float64)
    value = np.where(
        kind == BidKind.CPC,
        bid * pctr * 1000,
        np.where(kind == BidKind.CPA, bid * pctr * pcvr * 1000, bid),
    )
    return np.floor(value).astype(np.int64)


def _blocked(request: AdRequest, snap: Snapshot, creative_index: int) -> bool:
    creative = snap.creative_list[creative_index]
    if request.blocked_domains and any(
        domain == blocked or domain.endswith("." + blocked)
        for domain in creative.advertiser_domains
        for blocked in request.blocked_domains
    ):
        return True  # blocking a domain blocks its subdomains (shop.brand.example under brand.example)
    if request.blocked_categories and taxonomy.is_blocked(creative.categories, request.blocked_categories):
        return True
    return bool(request.blocked_attributes and set(creative.attributes) & request.blocked_attributes)
