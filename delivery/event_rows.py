"""How each kind of event becomes a row of its table: the fields, their checks, and the SQL.

Two ways to the same rows. `Kind.rows` takes a whole batch of one kind at once, column by column,
with every check a C loop (map, zip, min, max, set): events as the emitters write them cost a
couple of microseconds each. When anything in the batch is off (a missing field, a wrong type, a
value out of range, a NUL), it gives up, and `Kind.row` checks each event alone, field by field,
naming the first wrong one for the dead-letter stream.

Each table starts with (event_id, decided_at), both from the event id: a UUIDv7 starts with its
48-bit unix time in milliseconds, the decision's time, which is also the partition key.
"""

from __future__ import annotations

import ipaddress
import operator
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from delivery.models.events import retention_days

USER_AGENT_MAX_LENGTH = 512
# Events stamped further ahead than this are refused: a clock that wrong would fill odd partitions.
MAX_FUTURE = timedelta(days=1)
NOTICES = frozenset({"win", "billing", "loss"})
CHARGE_REASONS = frozenset({"impression", "click"})

_BIGINT_MAX = 2**63 - 1
_MS_MIN, _MS_MAX = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 .. 2100-01-01
_UUID7 = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
_ADDRESS_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_NoneType = type(None)
_ESCAPED_NUL = b"\\u0000"


class BadEvent(ValueError):
    """An event that can never be written; it goes to the dead-letter stream with this message."""


def decided_ms(event_id: str) -> int:
    return int(event_id[:8] + event_id[9:13], 16)


@dataclass(frozen=True, slots=True)
class Window:
    """The decision times accepted: the days kept (retention) up to a little ahead of now."""

    oldest_ms: int
    newest_ms: int

    @classmethod
    def around(cls, now: datetime | None = None) -> Window:
        now = now or datetime.now(UTC)
        oldest = datetime.combine(now.date() - timedelta(days=retention_days()), datetime.min.time(), UTC)
        return cls(int(oldest.timestamp() * 1000), int((now + MAX_FUTURE).timestamp() * 1000))

    def check(self, event_id: str, ms: int) -> None:
        if not self.oldest_ms <= ms < self.newest_ms:

            def day(ms: int) -> str:
                return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()

            raise BadEvent(
                f"event_id: {event_id} was made at {datetime.fromtimestamp(ms / 1000, UTC).isoformat()}, "
                f"outside the days kept ({day(self.oldest_ms)} to {day(self.newest_ms)})"
            )


# One value at a time: each check returns what is written, or raises TypeError / ValueError.


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if "\x00" in value:
        raise ValueError("contains a NUL character")  # PostgreSQL text cannot hold one
    return value


def _user_agent(value: Any) -> str:
    return _text(value)[:USER_AGENT_MAX_LENGTH]


def _reason(value: Any) -> str:
    """A loss reason: OpenRTB sends a numeric code, our own notices a word; empty when none."""
    if value is None:
        return ""
    if type(value) is int:
        return str(value)
    return _text(value)


def _notice(value: Any) -> str:
    if value not in NOTICES:
        raise ValueError("expected win, billing or loss")
    return str(value)


def _count(value: Any) -> int:
    """Ids and amounts of micros: never negative, and within PostgreSQL's bigint."""
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if not 0 <= value <= _BIGINT_MAX:
        raise ValueError("not between 0 and 2**63 - 1")
    return value


def _optional_count(value: Any) -> int | None:
    return None if value is None else _count(value)


def _float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _epoch_ms(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected epoch milliseconds, got {type(value).__name__}")
    if not _MS_MIN <= value < _MS_MAX:
        raise ValueError("not epoch milliseconds between 2000 and 2100")
    return value


def _ip(value: Any) -> str | None:
    """The address if it is one. An impression with an odd address is still an impression (and
    billed): the row is kept with no address rather than lost."""
    if value is None or value == "":
        return None
    text = _text(value)
    for family in _ADDRESS_FAMILIES:  # the C parser first: ipaddress is slow for every impression
        try:
            socket.inet_pton(family, text)
        except OSError:
            continue
        return text
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if getattr(address, "scope_id", None):  # fe80::1%eth0: PostgreSQL's inet has no zone
        address = ipaddress.IPv6Address(int(address))
    return str(address)


# A whole column at a time, for the batch path: its types are already known to be in the column's
# `types`; each returns the column to write, or raises ValueError for the per-event checks to name.

Values = Sequence[Any]


def _as_is(column: Values) -> Values:
    return column


def _counts(column: Values) -> Values:
    if min(column) < 0 or max(column) > _BIGINT_MAX:
        raise ValueError
    return column


def _optional_counts(column: Values) -> Values:
    present = list(filter(partial(operator.is_not, None), column))
    if present:
        _counts(present)
    return column


def _floats(column: Values) -> Values:
    return list(map(float, column))  # ints among them: binary COPY writes a float8 only from a float


def _epochs_ms(column: Values) -> Values:
    if min(column) < _MS_MIN or max(column) >= _MS_MAX:
        raise ValueError
    return column


def _ips(column: Values) -> Values:
    return list(map(_ip, column))


def _user_agents(column: Values) -> Values:
    if max(map(len, column)) <= USER_AGENT_MAX_LENGTH:
        return column
    return [text[:USER_AGENT_MAX_LENGTH] for text in column]


def _notices(column: Values) -> Values:
    if not set(column) <= NOTICES:
        raise ValueError
    return column


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(value: Any) -> str:
    if type(value) is not str or not _ISO_DAY.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    date.fromisoformat(value)  # a real day, not 2026-02-31
    return value


def _days(column: Values) -> Values:
    for value in set(column):
        _day(value)
    return column


def _ledger_kind(value: Any) -> str:
    if value != "charge":
        raise ValueError("only charges come through the stream")
    return value


def _ledger_kinds(column: Values) -> Values:
    if set(column) != {"charge"}:
        raise ValueError
    return column


def _charge_reason(value: Any) -> str:
    if value not in CHARGE_REASONS:
        raise ValueError(f"expected one of {', '.join(sorted(CHARGE_REASONS))}")
    return str(value)


def _charge_reasons(column: Values) -> Values:
    if not set(column) <= CHARGE_REASONS:
        raise ValueError
    return column


def _reasons(column: Values) -> Values:
    return list(map(_reason, column))


_MS_TO_TIMESTAMP = "timestamptz 'epoch' + {} * interval '1 millisecond'"


REQUIRED = object()


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    check: Callable[[Any], Any]  # one value, with a message for each way it can be wrong
    temp_type: str  # its type in the COPY's temporary table (binary COPY: int8, float8, text, bool)
    types: frozenset[type]  # the exact types the batch path takes
    checks: Callable[[Values], Values] = _as_is  # the batch path's check of the whole column
    expression: str = "{}"  # how the table's value is made from the temporary table's
    # What an event written before the field existed gets (events on the stream across a deploy);
    # REQUIRED: such an event is refused.
    missing: Any = REQUIRED


def text(
    name: str,
    check: Callable[[Any], Any] = _text,
    checks: Callable[[Values], Values] = _as_is,
    *,
    missing: Any = REQUIRED,
) -> Column:
    return Column(name, check, "text", frozenset({str}), checks, missing=missing)


def count(name: str, *, null: bool = False, missing: Any = REQUIRED) -> Column:
    if null:
        return Column(
            name, _optional_count, "int8", frozenset({int, _NoneType}), _optional_counts, missing=missing
        )
    return Column(name, _count, "int8", frozenset({int}), _counts, missing=missing)


def number(name: str) -> Column:
    return Column(name, _float, "float8", frozenset({float, int}), _floats)


def boolean(name: str) -> Column:
    return Column(name, _bool, "bool", frozenset({bool}))


def epoch_ms(name: str) -> Column:
    return Column(name, _epoch_ms, "int8", frozenset({int}), _epochs_ms, _MS_TO_TIMESTAMP)


def ip_address(name: str) -> Column:
    return Column(name, _ip, "text", frozenset({str, _NoneType}), _ips, "{}::inet")


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: a dict key per batch
class Kind:
    """One kind of event: the table it goes to, and how its fields are checked and written."""

    name: str
    table: str
    columns: tuple[Column, ...]
    temp_table: str = field(init=False)
    temp_types: list[str] = field(init=False)
    create_temp_sql: str = field(init=False)
    copy_sql: str = field(init=False)
    insert_new_sql: str = field(init=False)
    insert_from_temp_sql: str = field(init=False)
    insert_row_sql: str = field(init=False)
    _getter: Callable[[dict[str, Any]], tuple[Any, ...]] = field(init=False)
    defaults: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        names = ["event_id", "decided_at", *(c.name for c in self.columns)]
        types = ["text", "int8", *(c.temp_type for c in self.columns)]
        expressions = ["{}::uuid", _MS_TO_TIMESTAMP, *(c.expression for c in self.columns)]
        temp = f"ingest_{self.name}"
        listed = ", ".join(names)
        selected = ", ".join(e.format(n) for n, e in zip(names, expressions, strict=True))
        values = ", ".join(e.format("%s") for e in expressions)
        derived = {  # frozen: everything is worked out once, here
            "temp_table": temp,
            "temp_types": types,
            # Made once per connection and emptied by each commit: creating and dropping five
            # tables per batch costs PostgreSQL about as much as a fifth of the rows' inserts.
            "create_temp_sql": f"CREATE TEMP TABLE IF NOT EXISTS {temp} "
            f"({', '.join(f'{n} {t}' for n, t in zip(names, types, strict=True))}) ON COMMIT DELETE ROWS",
            "copy_sql": f"COPY {temp} ({listed}) FROM STDIN (FORMAT BINARY)",
            "insert_new_sql": f"INSERT INTO {self.table} ({listed}) SELECT {selected} FROM {temp}",  # noqa: S608
            "insert_from_temp_sql": f"INSERT INTO {self.table} ({listed}) SELECT {selected} FROM {temp} "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            "insert_row_sql": f"INSERT INTO {self.table} ({listed}) VALUES ({values}) ON CONFLICT DO NOTHING",  # noqa: S608
            "_getter": operator.itemgetter("event_id", *(c.name for c in self.columns)),
            "defaults": {c.name: c.missing for c in self.columns if c.missing is not REQUIRED},
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def rows(self, raws: list[bytes], window: Window) -> list[tuple[Any, ...]] | None:
        """The rows of a batch of this kind's events (their JSON), or None when any of them needs
        the per-event checks."""
        if not raws:
            return []
        if _ESCAPED_NUL in b"".join(raws):
            return None
        try:
            events = list(map(orjson.loads, raws))
            try:
                values = list(map(self._getter, events))
            except KeyError:
                if not self.defaults:
                    raise
                # Events written before a field existed: the field's default, then the same checks.
                values = [self._getter({**self.defaults, **event}) for event in events]
        except (orjson.JSONDecodeError, KeyError, TypeError):  # TypeError: an event not an object
            return None
        columns: list[Values] = list(zip(*values, strict=True))
        event_ids = columns[0]
        if set(map(type, event_ids)) != {str} or not all(map(_UUID7.fullmatch, event_ids)):
            return None
        decided = list(map(decided_ms, event_ids))
        if min(decided) < window.oldest_ms or max(decided) >= window.newest_ms:
            return None
        for position, column in enumerate(self.columns, start=1):
            if not set(map(type, columns[position])) <= column.types:
                return None
            try:
                columns[position] = column.checks(columns[position])
            except ValueError:
                return None
        return list(zip(event_ids, decided, *columns[1:], strict=True))

    def row(self, data: Any, window: Window) -> tuple[Any, ...]:
        """The row of one event, or BadEvent naming the first field that is wrong."""
        if type(data) is not dict:
            raise BadEvent(f"data: expected an object, got {type(data).__name__}")
        event_id = data.get("event_id")
        if type(event_id) is not str or not _UUID7.fullmatch(event_id):
            raise BadEvent("event_id: expected a UUIDv7 string")
        ms = decided_ms(event_id)
        window.check(event_id, ms)
        values: list[Any] = [event_id, ms]
        for column in self.columns:
            try:
                value = (
                    data[column.name] if column.missing is REQUIRED else data.get(column.name, column.missing)
                )
                values.append(column.check(value))
            except KeyError:
                raise BadEvent(f"{column.name}: missing") from None
            except (TypeError, ValueError, OverflowError) as exc:
                raise BadEvent(f"{column.name}: {exc}") from None
        return tuple(values)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "decision",
            "delivery_decision",
            (
                epoch_ms("at"),
                text("request_id"),
                text("source"),
                text("slot_id"),
                count("placement_id", null=True),
                count("advertiser_id"),
                count("campaign_id"),
                count("ad_group_id"),
                count("creative_id"),
                text("user_key"),
                text("country"),
                text("device_type"),
                text("os"),
                # What the models learn from beside the fields above (delivery.ml.features).
                text("region", missing=""),
                text("language", missing=""),
                count("age", null=True, missing=None),
                text("gender", missing=""),
                text("interests", missing=""),  # interest segments, sorted, comma-separated
                text("keywords", missing=""),  # the page's keywords, sorted, comma-separated
                count("publisher_id", null=True, missing=None),
                count("exposures", missing=0),
                count("bid_cpm_micros"),
                count("price_cpm_micros"),
                count("price_micros"),
                text("currency"),
                text("billing_event"),
                number("pctr"),
                number("pcvr"),
                boolean("test"),
            ),
        ),
        Kind(
            "impression",
            "delivery_impression",
            (
                epoch_ms("at"),
                ip_address("ip"),
                text("user_agent", _user_agent, _user_agents),
                text("ivt_reason"),
            ),
        ),
        Kind(
            "click",
            "delivery_click",
            (
                epoch_ms("at"),
                ip_address("ip"),
                text("user_agent", _user_agent, _user_agents),
                text("ivt_reason"),
                boolean("had_impression"),
            ),
        ),
        Kind(
            "notice",
            "delivery_notice",
            (
                text("notice", _notice, _notices),
                epoch_ms("at"),
                count("price_cpm_micros", null=True),
                Column("loss_reason", _reason, "text", frozenset({str, int, _NoneType}), _reasons),
            ),
        ),
        # A billable event's charge, accepted against its budget in Redis (delivery.budget): into the
        # ledger, where the unique event id makes a second write of the same charge nothing.
        Kind(
            "charge",
            "campaigns_ledgerentry",
            (
                Column("kind", _ledger_kind, "text", frozenset({str}), _ledger_kinds),
                Column("reason", _charge_reason, "text", frozenset({str}), _charge_reasons),
                count("advertiser_id"),
                count("campaign_id"),
                count("ad_group_id"),
                count("creative_id"),
                count("amount_micros"),
                text("currency"),
                Column("day", _day, "text", frozenset({str}), _days, "{}::date"),
                epoch_ms("at"),
            ),
        ),
        # The traffic simulator's ground truth, kept beside the events it explains.
        Kind(
            "truth",
            "delivery_truth",
            (
                number("p_click"),
                number("p_conversion"),
                boolean("clicked"),
                boolean("converted"),
            ),
        ),
    )
}
KINDS_BY_NAME = {name.encode(): kind for name, kind in KINDS.items()}
