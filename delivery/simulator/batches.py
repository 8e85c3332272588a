"""A batch of simulated traffic as bytes, for the Celery delivery loop: the requests, and beside them
what only the simulator knows about each (who is a bot, what the page is about), for the outcomes.

orjson, compact: a request is a list of its fields, the context a list of its own. The requests'
part (`encode_requests` / `decode_requests`) carries every AdRequest field, so any traffic source
can queue requests the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from delivery.request import AdRequest, Context, Slot, Source
from delivery.simulator.traffic import Traffic

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = 1


@dataclass(slots=True)
class Batch:
    run_id: str  # the run the batch's counts add up to ("" for none)
    seed: int  # the world's: the stable effects of the ground truth depend on it
    traffic: Traffic


def encode(batch: Batch) -> bytes:
    t = batch.traffic
    return orjson.dumps(
        {
            "v": _VERSION,
            "run": batch.run_id,
            "seed": batch.seed,
            "requests": [_request(r) for r in t.requests],
            "identity": t.identity.tolist(),
            "kind": t.kind.tolist(),
            "topic": t.page_topic.tolist(),
            "hour": t.local_hour.tolist(),
            "band": t.age_band.tolist(),
        }
    )


def decode(raw: bytes) -> Batch:
    data = orjson.loads(raw)
    if data.get("v") != _VERSION:
        raise ValueError(f"unknown batch version {data.get('v')!r}")
    traffic = Traffic(
        requests=[_from_list(r) for r in data["requests"]],
        identity=np.array(data["identity"], dtype=np.int64),
        kind=np.array(data["kind"], dtype=np.int8),
        page_topic=np.array(data["topic"], dtype=np.int64),
        local_hour=np.array(data["hour"], dtype=np.float64),
        age_band=np.array(data["band"], dtype=np.int64),
    )
    return Batch(run_id=data["run"], seed=int(data["seed"]), traffic=traffic)


def encode_requests(requests: list[AdRequest]) -> bytes:
    return orjson.dumps([_request(r) for r in requests])


def decode_requests(raw: bytes) -> list[AdRequest]:
    return [_from_list(r) for r in orjson.loads(raw)]


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _request(r: AdRequest) -> list[Any]:
    c = r.context
    return [
        r.id,
        r.user_key,
        [c.country, c.region, c.language, c.device_type, c.os, c.age, c.gender, sorted(c.interests),
         sorted(c.keywords), c.url, c.ip, c.user_agent],
        [[s.id, s.placement_id, sorted(s.formats), sorted(s.sizes), s.floor_cpm_micros, s.count,
          s.publisher_id] for s in r.slots],
        _micros(r.at),
        r.source.value,
        r.first_price,
        sorted(r.blocked_categories),
        sorted(r.blocked_domains),
        sorted(r.blocked_attributes),
        r.test,
        r.explain,
    ]  # fmt: skip


_slots: dict[tuple[Any, ...], Slot] = {}


def _slot(raw: list[Any]) -> Slot:
    # Simulated requests name a handful of placements: share one Slot per distinct value.
    key = (raw[0], raw[1], tuple(raw[2]), tuple(map(tuple, raw[3])), raw[4], raw[5], raw[6])
    slot = _slots.get(key)
    if slot is None:
        slot = Slot(
            id=raw[0], placement_id=raw[1], formats=frozenset(raw[2]),
            sizes=frozenset((int(w), int(h)) for w, h in raw[3]), floor_cpm_micros=raw[4], count=raw[5],
            publisher_id=raw[6],
        )  # fmt: skip
        if len(_slots) < 10_000:
            _slots[key] = slot
    return slot


def _from_list(raw: list[Any]) -> AdRequest:
    (request_id, user_key, ctx, slots, micros, source, first_price, categories, domains, attributes, test,
     explain) = raw  # fmt: skip
    context = Context(
        country=ctx[0], region=ctx[1], language=ctx[2], device_type=ctx[3], os=ctx[4], age=ctx[5],
        gender=ctx[6], interests=frozenset(ctx[7]), keywords=frozenset(ctx[8]), url=ctx[9], ip=ctx[10],
        user_agent=ctx[11],
    )  # fmt: skip
    return AdRequest(
        id=request_id,
        user_key=user_key,
        context=context,
        slots=tuple(_slot(s) for s in slots),
        at=_EPOCH + timedelta(microseconds=micros),
        source=Source(source),
        first_price=first_price,
        blocked_categories=frozenset(categories),
        blocked_domains=frozenset(domains),
        blocked_attributes=frozenset(attributes),
        test=test,
        explain=explain,
    )
