"""Delivery events on their way to PostgreSQL: the serving path appends them to a Redis stream.

The hot path never writes PostgreSQL. Each event is one stream entry `{"kind": ..., "data": json}`;
Celery drains the stream into the day-partitioned event tables (delivery.ingest). Every event carries
the `event_id` of the decision it belongs to (a UUIDv7 made at decision time), so each table can be
idempotent on it.

Kinds and their fields (all times are epoch milliseconds, UTC):
- decision: event_id, request_id, source, at, slot_id, placement_id, advertiser_id, campaign_id,
  ad_group_id, creative_id, user_key, country, device_type, os, bid_cpm_micros, price_cpm_micros,
  price_micros, currency, billing_event, pctr, pcvr, test
- impression: event_id, at, ip, user_agent, ivt_reason ("" when valid)
- click: event_id, at, ip, user_agent, ivt_reason, had_impression
- notice: event_id, at, notice ("win", "billing" or "loss"), price_cpm_micros, loss_reason
- charge (a billable event's accepted charge, written by delivery.budget's script beside the event,
  into the ledger): event_id, kind ("charge"), reason ("impression" or "click"), advertiser_id,
  campaign_id, ad_group_id, creative_id, amount_micros, currency, day (the advertiser's, YYYY-MM-DD), at
- truth (the traffic simulator's ground truth, kept beside the events and never read when serving):
  event_id, p_click, p_conversion, clicked, converted
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
import uuid6
from redis.client import Pipeline

from delivery.hot import redis_client

STREAM = "adwright:events"
# The stream is trimmed approximately to this many entries; ingestion keeps it far below.
STREAM_MAX_LENGTH = 2_000_000


class EventKind(StrEnum):
    DECISION = "decision"
    IMPRESSION = "impression"
    CLICK = "click"
    NOTICE = "notice"
    CHARGE = "charge"
    TRUTH = "truth"


def new_event_id(at: datetime | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    With `at`, the time is the request's: a simulated request of yesterday gets yesterday's id, so
    its events land in yesterday's partition (the tables partition by the id's time)."""
    if at is None:
        return str(uuid6.uuid7())
    millis = int(at.timestamp() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | ((rand >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def emit(kind: EventKind, data: Mapping[str, Any]) -> None:
    emit_many([(kind, data)])


def emit_many(events: Iterable[tuple[EventKind, Mapping[str, Any]]]) -> None:
    """Append events to the stream in one round trip."""
    pipe = redis_client().pipeline(transaction=False)
    if add_events(pipe, events):
        pipe.execute()


def add_events(pipe: Pipeline, events: Iterable[tuple[EventKind, Mapping[str, Any]]]) -> int:
    """Add the events' XADDs to a pipeline (to share its round trip); returns how many."""
    count = 0
    for kind, data in events:
        pipe.xadd(
            STREAM,
            {"kind": kind.value, "data": orjson.dumps(data)},
            maxlen=STREAM_MAX_LENGTH,
            approximate=True,
        )
        count += 1
    return count
