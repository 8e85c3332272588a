"""Event ingestion: the Redis stream drained into the day-partitioned event tables with COPY.

Workers read the stream `delivery.events.STREAM` in the consumer group `ingest`, each under its own
consumer name, so any number can drain at once. A batch is parsed and checked in Python
(delivery.event_rows), then each kind's rows are COPYed (binary) into a temporary table and moved
into the event table with `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, all in one transaction;
only after the commit are the entries acknowledged, and the stream trimmed of what the group is
done with. While a batch is written, the next one is read and parsed in a thread.

Exactly-once in effect, whatever fails:
- a worker killed before its commit leaves its entries pending; the next drain claims them
  (XAUTOCLAIM, once idle for CLAIM_IDLE_MS) and writes them;
- a worker killed after its commit but before its acknowledgement gets them written again, and the
  primary key (event_id[, notice], decided_at) turns the second write into nothing;
- an entry that cannot be read (bad JSON, a missing field, a wrong type, a value PostgreSQL refuses)
  moves to the dead-letter stream DEAD_STREAM with the reason, and is acknowledged: it never blocks
  the entries behind it.
"""

from __future__ import annotations

import gc
import logging
import operator
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import repeat
from typing import Any, cast

import orjson
import psycopg
import redis
from django.conf import settings
from django.db import connection, transaction
from redis.typing import EncodableT, FieldT

from delivery.event_rows import KINDS_BY_NAME, BadEvent, Kind, Window
from delivery.events import STREAM
from delivery.models.events import day_of_ms, ensure_partitions

log = logging.getLogger(__name__)

GROUP = "ingest"
DEAD_STREAM = "adwright:events:dead"
DEAD_STREAM_MAX_LENGTH = 100_000
BATCH_SIZE = 5000
# A batch takes well under a second; one delivered this long ago and still pending belongs to a
# worker that died (or was killed by its time limit).
CLAIM_IDLE_MS = 60_000
_DAY_MS = 86_400_000


# Parsing a batch --------------------------------------------------------------------------------

# An entry as Redis sends it: its id and its fields as a flat list (kind, "decision", data, "{...}").
Entry = tuple[bytes, list[bytes]]
DeadLetter = tuple[bytes, dict[bytes, bytes], str]


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=False))


def parse_entry(flat: list[bytes], window: Window) -> tuple[Kind, tuple[Any, ...]]:
    """The kind and row of one stream entry, or BadEvent saying what is wrong with it."""
    fields = _fields(flat)
    kind = KINDS_BY_NAME.get(fields.get(b"kind", b""))
    if kind is None:
        raise BadEvent(f"kind: unknown {fields.get(b'kind', b'')[:40]!r}")
    raw = fields.get(b"data")
    if raw is None:
        raise BadEvent("data: missing")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"data: not JSON ({exc})") from None
    return kind, kind.row(data, window)


@dataclass(slots=True)
class Batch:
    """A batch of stream entries, sorted: rows per kind, and dead letters."""

    entries: list[Entry]
    window: Window
    ids: list[bytes] = field(default_factory=list)  # every entry, to acknowledge after the commit
    rows: dict[Kind, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    dead: list[DeadLetter] = field(default_factory=list)


def parse(entries: list[Entry], *, now: datetime | None = None) -> Batch:
    batch = Batch(entries, Window.around(now))
    # Entries as delivery.events writes them, by kind, for Kind.rows; the others one by one.
    grouped: dict[Kind, tuple[list[int], list[bytes]]] = {}
    one_by_one: list[int] = []
    for position, entry in enumerate(entries):
        if entry is None or entry[1] is None:  # trimmed from the stream while pending (Redis 6.2)
            continue
        batch.ids.append(entry[0])
        flat = entry[1]
        standard = len(flat) == 4 and flat[0] == b"kind" and flat[2] == b"data"
        kind = KINDS_BY_NAME.get(flat[1]) if standard else None
        if kind is None:
            one_by_one.append(position)
            continue
        if kind not in grouped:
            grouped[kind] = ([], [])
        grouped[kind][0].append(position)
        grouped[kind][1].append(flat[3])
    for kind, (positions, raws) in grouped.items():
        rows = kind.rows(raws, batch.window)
        if rows is None:
            one_by_one.extend(positions)
        else:
            batch.rows[kind].extend(rows)
    for position in sorted(one_by_one):  # in stream order, for whoever reads the dead letters
        entry_id, flat = entries[position]
        try:
            kind, row = parse_entry(flat, batch.window)
        except BadEvent as exc:
            batch.dead.append((entry_id, _fields(flat), str(exc)))
            continue
        batch.rows[kind].append(row)
    return batch


# Writing ----------------------------------------------------------------------------------------

Writer = Callable[[psycopg.Cursor[Any], Kind, Sequence[tuple[Any, ...]]], int]


def copy_rows(cursor: psycopg.Cursor[Any], kind: Kind, rows: Sequence[tuple[Any, ...]]) -> int:
    """COPY into a temporary table, then one INSERT ... SELECT into the event table. Returns the
    number of rows that were new.

    The insert is tried first without ON CONFLICT: skipping rows already there costs PostgreSQL
    about as much as writing them (a speculative insertion per row), and a batch of new events, the
    usual case, has none. When one is there after all (an entry delivered again after a worker
    died, an event emitted twice), the unique index refuses the batch and it is inserted again with
    ON CONFLICT DO NOTHING; correctness never rests on the first try."""
    cursor.execute(kind.create_temp_sql)
    with cursor.copy(kind.copy_sql) as copy:
        copy.set_types(kind.temp_types)
        for row in rows:
            copy.write_row(row)
    try:
        with transaction.atomic():
            cursor.execute(kind.insert_new_sql)
    except psycopg.errors.UniqueViolation:
        cursor.execute(kind.insert_from_temp_sql)
    inserted = cursor.rowcount
    if connection.savepoint_ids:  # inside a caller's transaction (tests): no commit will empty it
        cursor.execute(f"DELETE FROM {kind.temp_table}")  # noqa: S608
    return inserted


def insert_rows(cursor: psycopg.Cursor[Any], kind: Kind, rows: Sequence[tuple[Any, ...]]) -> int:
    """One INSERT per row: the plain way, kept as the benchmark's baseline."""
    inserted = 0
    for row in rows:
        cursor.execute(kind.insert_row_sql, row)
        inserted += cursor.rowcount
    return inserted


@dataclass(slots=True)
class DrainResult:
    entries: int = 0  # stream entries taken (written, already there, or dead-lettered)
    inserted: dict[str, int] = field(default_factory=dict)  # new rows per kind
    duplicates: int = 0  # valid events whose rows were already there
    dead: int = 0
    batches: int = 0

    @property
    def inserted_total(self) -> int:
        return sum(self.inserted.values())

    def add(self, kind: str, inserted: int, valid: int) -> None:
        self.inserted[kind] = self.inserted.get(kind, 0) + inserted
        self.duplicates += valid - inserted


def _write(batch: Batch, writer: Writer, result: DrainResult) -> None:
    day_numbers: set[int] = set()
    for rows in batch.rows.values():  # row[1] is the decision's time in ms, the partition key
        day_numbers.update(map(operator.floordiv, map(operator.itemgetter(1), rows), repeat(_DAY_MS)))
    ensure_partitions(day_of_ms(number * _DAY_MS) for number in day_numbers)
    try:
        with transaction.atomic():
            connection.ensure_connection()
            with connection.connection.cursor() as cursor:
                counts = {kind: writer(cursor, kind, rows) for kind, rows in batch.rows.items()}
    except (psycopg.DataError, psycopg.IntegrityError) as exc:
        # Something the checks let through and PostgreSQL refused: find the entries one by one.
        log.warning("event batch refused (%s); writing its %d entries one by one", exc, len(batch.ids))
        _write_one_by_one(batch, result)
        return
    for kind, inserted in counts.items():
        result.add(kind.name, inserted, len(batch.rows[kind]))


def _write_one_by_one(batch: Batch, result: DrainResult) -> None:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # kind: [inserted, valid]
    with transaction.atomic():
        connection.ensure_connection()
        for entry in batch.entries:
            if entry is None or entry[1] is None:
                continue
            try:
                kind, row = parse_entry(entry[1], batch.window)
            except BadEvent:
                continue  # already dead-lettered by parse()
            try:
                with transaction.atomic(), connection.connection.cursor() as cursor:  # a savepoint each
                    inserted = insert_rows(cursor, kind, [row])
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                batch.dead.append((entry[0], _fields(entry[1]), f"refused by PostgreSQL: {exc}"))
                continue
            counts[kind.name][0] += inserted
            counts[kind.name][1] += 1
    for name, (inserted, valid) in counts.items():
        result.add(name, inserted, valid)


# The stream -------------------------------------------------------------------------------------


def _as_sent(response: Any, **options: Any) -> Any:
    return response


@cache
def _client(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30)
    # Entries as Redis sends them, (id, [field, value, ...]): redis-py's dict per entry costs more
    # than everything else the read does.
    client.set_response_callback("XREADGROUP", _as_sent)
    client.set_response_callback("XAUTOCLAIM", _as_sent)
    return client


def _read_entries(response: Any) -> list[Entry]:
    """The entries of an XREADGROUP answer on one stream: a map in RESP3, a list in RESP2."""
    if not response:
        return []
    if isinstance(response, dict):
        return list(next(iter(response.values())))
    return list(response[0][1])


def stream_client() -> redis.Redis:
    """The drain's own connection: batches of thousands of entries want longer timeouts than the
    serving path's client (delivery.hot) has."""
    return _client(settings.REDIS_URL)


def ensure_group(client: redis.Redis) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _acknowledge(client: redis.Redis, ids: list[bytes]) -> None:
    """Acknowledge the entries, then trim the stream of everything the group is done with: below
    both the oldest entry still pending (a worker's batch in flight, or a dead worker's, which
    XAUTOCLAIM must still find) and the next entry to deliver. Cheaper than XDEL of each entry."""
    pipe = client.pipeline(transaction=True)  # one consistent view of the group
    pipe.xack(STREAM, GROUP, *ids)
    pipe.xinfo_groups(STREAM)
    pipe.xpending(STREAM, GROUP)
    _, groups, pending = pipe.execute()
    delivered = next(g["last-delivered-id"] for g in groups if g["name"] in (GROUP, GROUP.encode()))
    milliseconds, sequence = (int(part) for part in delivered.split(b"-"))
    keep_from = (milliseconds, sequence + 1)
    if pending["pending"]:
        oldest = tuple(int(part) for part in pending["min"].split(b"-"))
        keep_from = min(keep_from, (oldest[0], oldest[1]))
    client.xtrim(STREAM, minid=f"{keep_from[0]}-{keep_from[1]}", approximate=False)


def _dead_letter(client: redis.Redis, dead: list[DeadLetter]) -> None:
    pipe = client.pipeline(transaction=False)
    for entry_id, fields, error in dead:
        log.warning("event %s dead-lettered: %s", entry_id.decode(), error)
        letter = cast("dict[FieldT, EncodableT]", {**fields, b"error": error.encode(), b"entry_id": entry_id})
        pipe.xadd(
            DEAD_STREAM,
            letter,
            maxlen=DEAD_STREAM_MAX_LENGTH,
            approximate=True,
        )
    pipe.execute()


def _ingest(batch: Batch, writer: Writer, result: DrainResult) -> None:
    """Write a batch, dead-letter its bad entries, then acknowledge them all."""
    client = stream_client()
    if batch.rows:
        _write(batch, writer, result)
    if batch.dead:
        # Before the acknowledgement: a crash in between dead-letters the entry twice, never zero times.
        _dead_letter(client, batch.dead)
    if batch.ids:
        _acknowledge(client, batch.ids)
    result.entries += len(batch.ids)
    result.dead += len(batch.dead)
    result.batches += 1


def _read(client: redis.Redis, consumer: str, batch_size: int, claim_idle_ms: int) -> Iterator[list[Entry]]:
    """The consumer's batches: first the entries another consumer was given more than
    `claim_idle_ms` ago and never acknowledged (it died mid-batch), then new ones."""
    cursor: bytes | str = "0-0"
    while True:
        claimed = client.xautoclaim(STREAM, GROUP, consumer, claim_idle_ms, start_id=cursor, count=batch_size)
        cursor, entries = claimed[0], claimed[1]
        if entries:
            yield entries
        if cursor in (b"0-0", "0-0"):
            break
    while True:
        response = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=batch_size)
        entries = _read_entries(response)
        if not entries:
            return
        yield entries


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """A drain allocates millions of short-lived tuples and none in a cycle: reference counting
    frees them all. The cycle collector, counting those allocations, would walk the worker's whole
    heap again and again for nothing, a third of the drain's CPU."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def drain(
    consumer: str,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    seconds: float | None = None,
    claim_idle_ms: int = CLAIM_IDLE_MS,
    writer: Writer = copy_rows,
) -> DrainResult:
    """Drain the stream as `consumer` until it is empty, `max_batches` batches are written or
    `seconds` have passed (the batch in hand is finished, never left pending)."""
    client = stream_client()
    ensure_group(client)
    result = DrainResult()
    deadline = None if seconds is None else time.monotonic() + seconds
    batches = _read(client, consumer, batch_size, claim_idle_ms)

    def more(taken: int) -> bool:
        if max_batches is not None and taken >= max_batches:
            return False
        return deadline is None or time.monotonic() < deadline

    def read_and_parse() -> Batch | None:
        entries = next(batches, None)
        return None if entries is None else parse(entries)

    # The next batch is read and parsed in a thread while this one is written: PostgreSQL works
    # on its INSERT with the GIL released, and Redis and the checks take about as long again.
    with without_cycle_collection(), ThreadPoolExecutor(1, thread_name_prefix="ingest-read") as reader:
        taken = 0
        upcoming = reader.submit(read_and_parse) if more(taken) else None
        while upcoming is not None and (batch := upcoming.result()) is not None:
            taken += 1
            upcoming = reader.submit(read_and_parse) if more(taken) else None
            _ingest(batch, writer, result)
    return result


def _entry_id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def caught_up_to(entry_id: bytes | str, *, consumer: str | None = None, seconds: float = 20.0) -> bool:
    """Whether every stream entry up to `entry_id` is written to PostgreSQL, draining as `consumer`
    meanwhile; False when that is not so after `seconds` (a batch of a dead worker not yet idle long
    enough to be claimed)."""
    target = _entry_id(entry_id)
    if target == (0, 0):
        return True
    client = stream_client()
    ensure_group(client)
    consumer = consumer or f"reconcile-{os.getpid()}"
    deadline = time.monotonic() + seconds
    while True:
        pipe = client.pipeline(transaction=True)
        pipe.xinfo_groups(STREAM)
        pipe.xpending(STREAM, GROUP)
        groups, pending = pipe.execute()
        delivered = next(g["last-delivered-id"] for g in groups if g["name"] in (GROUP, GROUP.encode()))
        if _entry_id(delivered) >= target and (not pending["pending"] or _entry_id(pending["min"]) > target):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if _entry_id(delivered) < target:
            drain(consumer, seconds=min(remaining, 5.0))
        else:
            time.sleep(min(remaining, 0.05))  # another worker's batch, about to be acknowledged
            drain(consumer, max_batches=1)


def forget_idle_consumers(idle_ms: int = 60 * 60 * 1000) -> list[str]:
    """Remove consumers (one per worker process that ever drained) idle this long with nothing
    pending, so the group does not list every process that ever ran."""
    client = stream_client()
    ensure_group(client)
    removed = []
    for consumer in client.xinfo_consumers(STREAM, GROUP):
        if consumer["pending"] == 0 and consumer["idle"] >= idle_ms:
            name = consumer["name"]
            client.xgroup_delconsumer(STREAM, GROUP, name)
            removed.append(name.decode() if isinstance(name, bytes) else name)
    return removed
