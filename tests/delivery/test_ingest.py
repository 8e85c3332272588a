"""Event ingestion: the Redis stream drained into the day-partitioned event tables (delivery.ingest)."""

from __future__ import annotations

import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from django.db import connection, connections, transaction

from delivery import ingest
from delivery.event_rows import KINDS, Window
from delivery.events import STREAM, EventKind, emit_many, new_event_id
from delivery.models import ClickEvent, DecisionEvent, ImpressionEvent, NoticeEvent, TruthEvent
from delivery.models.events import (
    EVENT_TABLES,
    drop_partitions_before,
    ensure_partitions,
    existing_partitions,
)
from delivery.tasks import drain_events
from delivery.tasks import maintain_partitions as maintain_partitions_task

pytestmark = pytest.mark.django_db


def event_id_at(moment: datetime) -> str:
    """A UUIDv7 whose time is `moment` (ids made by new_event_id() carry the time they are made)."""
    ms = int(moment.timestamp() * 1000)
    random = secrets.randbits(74)
    value = (ms << 80) | (0x7 << 76) | ((random >> 62) << 64) | (0b10 << 62) | (random & (2**62 - 1))
    return str(uuid.UUID(int=value))


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


MODEL_FIELDS = ("region", "language", "age", "gender", "interests", "keywords", "publisher_id", "exposures")


def decision(event_id: str, **changes: Any) -> dict[str, Any]:
    data = {
        "event_id": event_id,
        "request_id": "req-1",
        "source": "decisions",
        "at": 1_795_000_000_123,
        "slot_id": "home-top",
        "placement_id": 7,
        "advertiser_id": 11,
        "campaign_id": 12,
        "ad_group_id": 13,
        "creative_id": 14,
        "user_key": "u-42",
        "country": "FR",
        "device_type": "mobile",
        "os": "android",
        "region": "FR-IDF",
        "language": "fr",
        "age": 31,
        "gender": "female",
        "interests": "fitness,travel",
        "keywords": "city breaks",
        "publisher_id": 3,
        "exposures": 2,
        "bid_cpm_micros": 2_500_000,
        "price_cpm_micros": 1_800_000,
        "price_micros": 1_800,
        "currency": "EUR",
        "billing_event": "impression",
        "pctr": 0.0123,
        "pcvr": 0.05,
        "test": False,
    }
    return {**data, **changes}


def impression(event_id: str, **changes: Any) -> dict[str, Any]:
    data = {
        "event_id": event_id,
        "at": 1_795_000_001_000,
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0",
        "ivt_reason": "",
    }
    return {**data, **changes}


def click(event_id: str, **changes: Any) -> dict[str, Any]:
    data = {**impression(event_id, at=1_795_000_002_000), "had_impression": True}
    return {**data, **changes}


def notice(event_id: str, kind: str = "win", **changes: Any) -> dict[str, Any]:
    data = {
        "event_id": event_id,
        "at": 1_795_000_000_500,
        "notice": kind,
        "price_cpm_micros": 1_800_000,
        "loss_reason": None,
    }
    return {**data, **changes}


def truth(event_id: str, **changes: Any) -> dict[str, Any]:
    data = {"event_id": event_id, "p_click": 0.02, "p_conversion": 0.1, "clicked": False, "converted": False}
    return {**data, **changes}


def emit_truth(client: Any, data: dict[str, Any]) -> None:
    # The simulator's kind; emitted as delivery.events.emit_many writes every entry.
    client.xadd(STREAM, {"kind": "truth", "data": orjson.dumps(data)})


def xadd_raw(client: Any, fields: dict[str, Any]) -> None:
    client.xadd(STREAM, fields)


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (DecisionEvent, ImpressionEvent, ClickEvent, NoticeEvent, TruthEvent)
    }


def pending(client: Any) -> int:
    return int(client.xpending(STREAM, ingest.GROUP)["pending"])


def test_emitted_events_land_in_their_tables(redis_client) -> None:
    event_id = new_event_id()
    emit_many(
        [
            (EventKind.DECISION, decision(event_id)),
            (EventKind.IMPRESSION, impression(event_id, user_agent="A" * 600)),
            (EventKind.CLICK, click(event_id, ivt_reason="datacenter", ip="2001:db8::1")),
            (EventKind.NOTICE, notice(event_id, "win")),
            (EventKind.NOTICE, notice(event_id, "billing", price_cpm_micros=1_700_000)),
        ]
    )
    emit_truth(redis_client, truth(event_id, clicked=True))

    result = ingest.drain("worker-1")

    assert result.entries == 6
    assert result.inserted == {"decision": 1, "impression": 1, "click": 1, "notice": 2, "truth": 1}
    assert (result.dead, result.duplicates) == (0, 0)
    decided_at = datetime.fromtimestamp(int(event_id.replace("-", "")[:12], 16) / 1000, UTC)
    row = DecisionEvent.objects.get()
    assert (str(row.event_id), row.decided_at) == (event_id, decided_at)
    assert row.at == datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC)  # 1_795_000_000_123 ms
    assert (row.placement_id, row.advertiser_id, row.campaign_id, row.ad_group_id, row.creative_id) == (
        7,
        11,
        12,
        13,
        14,
    )
    assert (row.bid_cpm_micros, row.price_cpm_micros, row.price_micros, row.currency) == (
        2_500_000,
        1_800_000,
        1_800,
        "EUR",
    )
    assert (row.pctr, row.pcvr, row.test, row.source, row.country) == (0.0123, 0.05, False, "decisions", "FR")
    shown = ImpressionEvent.objects.get()
    assert (shown.decided_at, shown.ip, shown.user_agent, shown.ivt_reason) == (
        decided_at,
        "203.0.113.9",
        "A" * 512,
        "",
    )
    assert shown.at == datetime(2026, 11, 18, 11, 6, 41, tzinfo=UTC)
    clicked = ClickEvent.objects.get()
    assert (clicked.ip, clicked.ivt_reason, clicked.had_impression) == ("2001:db8::1", "datacenter", True)
    assert sorted(NoticeEvent.objects.values_list("notice", "price_cpm_micros", "loss_reason")) == [
        ("billing", 1_700_000, ""),
        ("win", 1_800_000, ""),
    ]
    seen = TruthEvent.objects.get()
    assert (seen.p_click, seen.p_conversion, seen.clicked, seen.converted) == (0.02, 0.1, True, False)
    # Written entries leave the stream, and nothing stays pending.
    assert redis_client.xlen(STREAM) == 0
    assert pending(redis_client) == 0


def test_an_empty_stream_drains_to_nothing(redis_client) -> None:
    result = ingest.drain("worker-1")
    assert (result.entries, result.batches) == (0, 0)
    assert redis_client.exists(STREAM)  # the group made the stream


def test_draining_twice_or_re_emitting_an_event_writes_one_row(redis_client) -> None:
    ids = [new_event_id() for _ in range(5)]
    events = [(EventKind.DECISION, decision(i)) for i in ids] + [
        (EventKind.IMPRESSION, impression(i)) for i in ids
    ]
    emit_many(events)
    assert ingest.drain("worker-1").inserted_total == 10
    assert ingest.drain("worker-1").entries == 0

    emit_many(events)  # the same events again, e.g. a retried request
    emit_many(events[:2])  # and twice in one batch
    again = ingest.drain("worker-1")

    assert (again.entries, again.inserted_total, again.duplicates) == (12, 0, 12)
    assert counts() == {
        "DecisionEvent": 5,
        "ImpressionEvent": 5,
        "ClickEvent": 0,
        "NoticeEvent": 0,
        "TruthEvent": 0,
    }


def test_one_event_emitted_twice_in_one_batch_is_one_row(redis_client) -> None:
    event_id = new_event_id()
    emit_many([(EventKind.NOTICE, notice(event_id))] * 3 + [(EventKind.NOTICE, notice(event_id, "billing"))])
    result = ingest.drain("worker-1")
    assert (result.inserted, result.duplicates) == ({"notice": 2}, 2)


def test_small_batches_write_a_long_stream(redis_client) -> None:
    emit_many((EventKind.DECISION, decision(new_event_id(), request_id=f"r{n}")) for n in range(250))

    first = ingest.drain("worker-1", batch_size=100, max_batches=2)
    assert (first.entries, first.batches) == (200, 2)
    rest = ingest.drain("worker-1", batch_size=100)

    assert (rest.entries, rest.batches) == (50, 1)
    assert DecisionEvent.objects.count() == 250
    assert redis_client.xlen(STREAM) == 0


def test_a_batch_left_by_a_killed_worker_is_claimed_and_written_once(redis_client) -> None:
    ids = [new_event_id() for _ in range(10)]
    emit_many((EventKind.DECISION, decision(i)) for i in ids)
    ingest.ensure_group(redis_client)
    # Worker A takes the batch and dies before it writes or acknowledges anything.
    taken = redis_client.xreadgroup(ingest.GROUP, "worker-a", {STREAM: ">"}, count=100)
    assert len(taken[0][1]) == 10

    # A live worker's batch is not taken from it while it is young...
    assert ingest.drain("worker-b").entries == 0
    assert pending(redis_client) == 10
    # ...but once idle past the claim delay (0 here), worker B claims and writes it.
    result = ingest.drain("worker-b", claim_idle_ms=0)

    assert (result.entries, result.inserted) == (10, {"decision": 10})
    assert sorted(str(i) for i in DecisionEvent.objects.values_list("event_id", flat=True)) == sorted(ids)
    assert pending(redis_client) == 0
    assert redis_client.xlen(STREAM) == 0


def test_trimming_keeps_a_dead_workers_entries_until_they_are_claimed(redis_client) -> None:
    emit_many((EventKind.DECISION, decision(new_event_id())) for _ in range(10))
    ingest.ensure_group(redis_client)
    redis_client.xreadgroup(ingest.GROUP, "worker-a", {STREAM: ">"}, count=100)  # and dies
    emit_many((EventKind.DECISION, decision(new_event_id())) for _ in range(5))

    assert ingest.drain("worker-b").inserted_total == 5
    # The stream is trimmed up to the oldest entry still pending: A's, and what came after it.
    assert redis_client.xlen(STREAM) == 15
    assert ingest.drain("worker-b", claim_idle_ms=0).inserted_total == 10
    assert redis_client.xlen(STREAM) == 0
    assert DecisionEvent.objects.count() == 15


def test_a_time_budget_stops_the_drain_between_batches(redis_client) -> None:
    emit_many((EventKind.DECISION, decision(new_event_id())) for _ in range(30))
    assert ingest.drain("worker-1", seconds=0).entries == 0
    assert pending(redis_client) == 0  # nothing was read ahead and left pending
    assert ingest.drain("worker-1", seconds=60, batch_size=10).entries == 30


def test_a_batch_committed_but_not_acknowledged_is_not_written_twice(redis_client) -> None:
    ids = [new_event_id() for _ in range(10)]
    emit_many((EventKind.IMPRESSION, impression(i)) for i in ids)
    ingest.ensure_group(redis_client)
    entries = ingest._read_entries(
        ingest.stream_client().xreadgroup(ingest.GROUP, "worker-a", {STREAM: ">"}, count=100)
    )
    # Worker A commits its rows, then is killed before XACK.
    ingest._write(ingest.parse(entries), ingest.copy_rows, ingest.DrainResult())
    assert ImpressionEvent.objects.count() == 10

    result = ingest.drain("worker-b", claim_idle_ms=0)

    assert (result.entries, result.inserted_total, result.duplicates) == (10, 0, 10)
    assert ImpressionEvent.objects.count() == 10
    assert pending(redis_client) == 0


def test_malformed_entries_are_dead_lettered_and_do_not_block_the_stream(redis_client) -> None:
    good = new_event_id()
    long_ago = event_id_at(datetime.now(UTC) - timedelta(days=200))
    emit_many([(EventKind.DECISION, decision(good))])
    xadd_raw(redis_client, {"kind": "decision", "data": b"{not json"})
    xadd_raw(redis_client, {"kind": "impression"})
    xadd_raw(redis_client, {"kind": "bogus", "data": orjson.dumps(impression(new_event_id()))})
    bad = [
        decision(new_event_id(), campaign_id="12"),  # wrong type
        {k: v for k, v in decision(new_event_id()).items() if k != "price_micros"},  # missing
        decision(new_event_id(), bid_cpm_micros=2**63),  # out of range
        decision(new_event_id(), user_key="a\x00b"),  # PostgreSQL text cannot hold it
        decision(new_event_id(), test="no"),
        decision(str(uuid.uuid4())),  # not a UUIDv7: no decision time in it
        decision(long_ago),  # older than retention keeps
        [1, 2, 3],
    ]
    emit_many((EventKind.DECISION, data) for data in bad)  # type: ignore[misc]
    emit_many([(EventKind.NOTICE, notice(good, "lost"))])
    emit_many([(EventKind.IMPRESSION, impression(good))])

    result = ingest.drain("worker-1")

    assert (result.entries, result.dead, result.inserted) == (14, 12, {"decision": 1, "impression": 1})
    assert redis_client.xlen(STREAM) == 0
    assert pending(redis_client) == 0
    dead = redis_client.xrange(ingest.DEAD_STREAM)
    errors = [fields[b"error"].decode() for _, fields in dead]
    assert errors[0].startswith("data: not JSON")
    assert errors[1:4] == [
        "data: missing",
        "kind: unknown b'bogus'",
        "campaign_id: expected an integer, got str",
    ]
    assert errors[4:8] == [
        "price_micros: missing",
        "bid_cpm_micros: not between 0 and 2**63 - 1",
        "user_key: contains a NUL character",
        "test: expected true or false, got str",
    ]
    assert errors[8] == "event_id: expected a UUIDv7 string"
    assert errors[9].startswith(f"event_id: {long_ago} was made at ") and "outside the days kept" in errors[9]
    assert errors[10:] == ["data: expected an object, got list", "notice: expected win, billing or loss"]
    # The entry is kept whole, with where it was in the stream, for whoever looks into it.
    assert dead[0][1][b"data"] == b"{not json"
    assert dead[0][1][b"kind"] == b"decision"
    assert dead[0][1][b"entry_id"]


def test_a_row_postgresql_refuses_is_dead_lettered_and_the_rest_of_its_batch_written(redis_client) -> None:
    # A rule the checks in Python do not know: the batch's COPY fails, and its entries are then
    # written one by one, so that only the refused one goes to the dead-letter stream.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE delivery_truth ADD CONSTRAINT test_p_click CHECK (p_click <= 1)")
    ids = [new_event_id() for _ in range(4)]
    for n, event_id in enumerate(ids):
        emit_truth(redis_client, truth(event_id, p_click=2.0 if n == 1 else 0.5))
    emit_many((EventKind.DECISION, decision(i)) for i in ids)

    result = ingest.drain("worker-1")

    assert (result.entries, result.dead, result.inserted) == (8, 1, {"truth": 3, "decision": 4})
    assert ids[1] not in {str(i) for i in TruthEvent.objects.values_list("event_id", flat=True)}
    [(_, fields)] = redis_client.xrange(ingest.DEAD_STREAM)
    assert fields[b"kind"] == b"truth"
    assert b"refused by PostgreSQL" in fields[b"error"] and b"test_p_click" in fields[b"error"]
    assert pending(redis_client) == 0


def test_odd_values_are_normalised() -> None:
    window = Window.around()
    kind = KINDS["impression"]
    event_id = new_event_id()
    row = kind.row(impression(event_id.upper(), ip="not an address", user_agent="é" * 1000), window)
    assert row[1] == int(event_id.replace("-", "")[:12], 16)
    assert (row[3], row[4]) == (None, "é" * 512)
    assert kind.row(impression(event_id, ip=""), window)[3] is None
    assert kind.row(impression(event_id, ip="fe80::1%eth0"), window)[3] == "fe80::1"
    loss = KINDS["notice"].row(notice(event_id, "loss", price_cpm_micros=None, loss_reason=102), window)
    assert loss[2:] == ("loss", 1_795_000_000_500, None, "102")
    assert KINDS["truth"].row(truth(event_id, p_click=1), window)[2] == 1.0


@pytest.mark.parametrize(
    ("kind", "events"),
    [
        ("decision", [decision(new_event_id()), decision(new_event_id(), pctr=0, placement_id=None)]),
        # Written before the models' fields existed (on the stream across a deploy): their defaults.
        ("decision", [{k: v for k, v in decision(new_event_id()).items() if k not in MODEL_FIELDS}]),
        (
            "impression",
            [impression(new_event_id(), ip="::1", user_agent="b" * 600), impression(new_event_id())],
        ),
        ("click", [click(new_event_id(), ip=None), click(new_event_id(), ip="fe80::1%eth0")]),
        (
            "notice",
            [notice(new_event_id(), loss_reason=2), notice(new_event_id(), "loss", price_cpm_micros=None)],
        ),
        ("truth", [truth(new_event_id(), p_click=1, clicked=True), truth(new_event_id())]),
    ],
)
def test_the_batch_path_and_the_one_by_one_checks_make_the_same_rows(kind: str, events: list[dict]) -> None:
    window = Window.around()
    one_by_one = [KINDS[kind].row(event, window) for event in events]
    assert KINDS[kind].rows([orjson.dumps(event) for event in events], window) == one_by_one
    assert all(type(value) is float for row in one_by_one for value in row if isinstance(value, float))


def test_the_batch_path_leaves_a_batch_with_anything_odd_to_the_one_by_one_checks() -> None:
    window = Window.around()
    good = orjson.dumps(decision(new_event_id()))
    for odd in [
        b"[1]",
        orjson.dumps(decision(new_event_id(), campaign_id=True)),
        orjson.dumps(decision(new_event_id(), price_micros=-1)),
        orjson.dumps(decision(new_event_id(), user_key="a\x00b")),
        orjson.dumps({k: v for k, v in decision(new_event_id()).items() if k != "os"}),
        orjson.dumps(decision(event_id_at(datetime.now(UTC) + timedelta(days=2)))),
    ]:
        assert KINDS["decision"].rows([good, odd], window) is None, odd
    assert KINDS["notice"].rows([orjson.dumps(notice(new_event_id(), "lost"))], window) is None


def partition_of(table: str, event_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE event_id = %s", [event_id])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_events_go_to_the_partition_of_their_decision_day(redis_client) -> None:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    before = event_id_at(midnight - timedelta(milliseconds=1))
    after = event_id_at(midnight)
    # The impression of yesterday's last decision fires today: it stays with its decision.
    emit_many(
        [
            (EventKind.DECISION, decision(before)),
            (EventKind.DECISION, decision(after)),
            (EventKind.IMPRESSION, impression(before, at=ms(midnight) + 5000)),
        ]
    )

    ingest.drain("worker-1")

    yesterday, today = (midnight - timedelta(days=1)).strftime("%Y%m%d"), midnight.strftime("%Y%m%d")
    assert partition_of("delivery_decision", before) == f"delivery_decision_p{yesterday}"
    assert partition_of("delivery_decision", after) == f"delivery_decision_p{today}"
    assert partition_of("delivery_impression", before) == f"delivery_impression_p{yesterday}"
    partitions = existing_partitions()
    for table in EVENT_TABLES:
        assert {midnight.date(), midnight.date() - timedelta(days=1)} <= partitions[table]


def test_ensure_partitions_is_idempotent() -> None:
    day = datetime.now(UTC).date() + timedelta(days=1)
    first = ensure_partitions([day])
    assert ensure_partitions([day, day]) == []
    assert all(day in days for days in existing_partitions().values())
    assert set(first) <= {f"{table}_p{day:%Y%m%d}" for table in EVENT_TABLES}


def test_retention_drops_old_partitions_only(redis_client) -> None:
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (95, 91, 90, 89, 0)]
    ensure_partitions(days)
    kept_id = event_id_at(datetime(days[2].year, days[2].month, days[2].day, 12, tzinfo=UTC))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO delivery_truth VALUES (%s, %s, 0.1, 0.1, false, false)",
            [kept_id, datetime(days[2].year, days[2].month, days[2].day, 12, tzinfo=UTC)],
        )

    dropped = drop_partitions_before(today - timedelta(days=90))

    assert sorted(dropped) == sorted(f"{t}_p{d:%Y%m%d}" for t in EVENT_TABLES for d in days[:2])
    partitions = existing_partitions()
    for table in EVENT_TABLES:
        assert not partitions[table] & set(days[:2])
        assert set(days[2:]) <= partitions[table]
    assert TruthEvent.objects.filter(event_id=kept_id).exists()


def test_maintenance_prepares_the_next_days_and_applies_the_retention_setting(settings) -> None:
    settings.EVENT_RETENTION_DAYS = 10
    today = datetime.now(UTC).date()
    ensure_partitions([today - timedelta(days=11), today - timedelta(days=10)])

    from delivery.models.events import maintain_partitions

    _, dropped = maintain_partitions(today)

    partitions = existing_partitions()
    for table in EVENT_TABLES:
        assert {today, today + timedelta(days=1), today + timedelta(days=2)} <= partitions[table]
        assert today - timedelta(days=10) in partitions[table]
        assert today - timedelta(days=11) not in partitions[table]
    assert f"delivery_click_p{today - timedelta(days=11):%Y%m%d}" in dropped
    assert maintain_partitions(today) == ([], [])


def test_event_rows_are_append_only(redis_client) -> None:
    emit_many([(EventKind.DECISION, decision(new_event_id()))])
    ingest.drain("worker-1")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        DecisionEvent.objects.update(price_micros=0)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        DecisionEvent.objects.all().delete()


def test_idle_consumers_are_forgotten_unless_they_hold_entries(redis_client) -> None:
    emit_many([(EventKind.DECISION, decision(new_event_id())) for _ in range(2)])
    ingest.ensure_group(redis_client)
    redis_client.xreadgroup(ingest.GROUP, "holding", {STREAM: ">"}, count=1)
    [[_, [(entry_id, _)]]] = redis_client.xreadgroup(ingest.GROUP, "done", {STREAM: ">"}, count=1)
    redis_client.xack(STREAM, ingest.GROUP, entry_id)

    assert ingest.forget_idle_consumers(idle_ms=0) == ["done"]
    assert [c["name"] for c in redis_client.xinfo_consumers(STREAM, ingest.GROUP)] == [b"holding"]


def test_the_maintenance_task_prepares_the_next_days(redis_client) -> None:
    today = datetime.now(UTC).date()
    maintain_partitions_task.delay()
    assert {today, today + timedelta(days=2)} <= existing_partitions()["delivery_notice"]


@pytest.mark.django_db(transaction=True)
def test_the_celery_task_drains_the_stream(redis_client) -> None:
    emit_many((EventKind.DECISION, decision(new_event_id())) for _ in range(20))
    assert drain_events.delay().get() == 20
    assert DecisionEvent.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_workers_draining_at_once_write_every_event_once(redis_client) -> None:
    ids = [new_event_id() for _ in range(3000)]
    emit_many((EventKind.DECISION, decision(i)) for i in ids)
    emit_many((EventKind.NOTICE, notice(i)) for i in ids[:1000])
    results: list[ingest.DrainResult] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            results.append(ingest.drain(name, batch_size=250))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(r.entries for r in results) == 4000
    assert sum(r.inserted_total for r in results) == 4000
    assert (DecisionEvent.objects.count(), NoticeEvent.objects.count()) == (3000, 1000)
    assert redis_client.xlen(STREAM) == 0
