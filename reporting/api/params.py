"""A report request's parameters: the query string of `GET /reports`, or the JSON body of
`POST /report-jobs`, validated into a ReportQuery (reporting.jobs) and an advertiser id.

The same fields read both: lists are comma-separated in a query string (`dimensions=day,campaign`)
and JSON arrays in a body; ids are digits in a query string and JSON integers in a body. Each bad
parameter is named in the 400, and a value that could reach SQL (an id past bigint, a year 0 day, a
zone PostgreSQL does not know) is refused here.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import pycountry
from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.targeting import DEVICE_TYPES
from reporting.jobs import FORMATS, ORDERS, ReportQuery
from reporting.query import DIMENSIONS, METRICS, ReportError
from reporting.tables import DEFAULT_METRICS

MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
MAX_ID = 2**63 - 1  # PostgreSQL's bigint
MAX_ITEMS = 1000
DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
ID_FILTERS = ("campaign", "ad_group", "creative", "placement")


@cache
def time_zones() -> frozenset[str]:
    # The same names an advertiser's time zone may have (accounts.models.validate_time_zone).
    return frozenset(zoneinfo.available_timezones())


@cache
def country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


def _in_query_string(field: serializers.Field) -> bool:
    return bool(field.context.get("query_string"))


class IdField(serializers.IntegerField):
    """An object id: digits in a query string, a JSON integer in a body (never "12", 12.0 or true)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        if _in_query_string(self):
            if not (isinstance(data, str) and data.isascii() and data.isdigit()):
                self.fail("invalid")
        elif isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATE)
class DayField(serializers.Field):
    """A day written YYYY-MM-DD exactly, from 2000 to 2999 (the years a report can cover)."""

    default_error_messages = {
        "invalid": "A day written YYYY-MM-DD.",
        "range": f"A day from {EARLIEST} to {LATEST}.",
    }

    def to_internal_value(self, data: Any) -> date:
        if not (isinstance(data, str) and DAY.fullmatch(data)):
            self.fail("invalid")
        try:
            value = date.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if not EARLIEST <= value <= LATEST:
            self.fail("range")
        return value

    def to_representation(self, value: date) -> str:
        return value.isoformat()


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class ListParam(serializers.Field):
    """A list without repeats: comma-separated in a query string, a JSON array in a body. `item`
    turns one raw item (and whether it came as text) into its value, or into an _Invalid."""

    default_error_messages = {
        "not_a_list": "A comma-separated list, such as a,b.",
        "not_an_array": "A JSON array.",
        "empty": "Give at least one value, or leave the parameter out.",
        "too_many": f"At most {MAX_ITEMS} values.",
        "twice": "{value} is named twice.",
    }

    def __init__(self, item: Callable[[Any, bool], Any], **kwargs: Any) -> None:
        self.item = item
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> tuple[Any, ...]:
        text = _in_query_string(self)
        if text:
            if not isinstance(data, str):
                self.fail("not_a_list")
            raw = data.split(",") if data else []
        else:
            if not isinstance(data, list):
                self.fail("not_an_array")
            raw = data
        if not raw:
            self.fail("empty")
        if len(raw) > MAX_ITEMS:
            self.fail("too_many")
        values: list[Any] = []
        errors: list[str] = []
        for item in raw:
            value = self.item(item, text)
            if isinstance(value, _Invalid):
                errors.append(value.message)
            elif value in values:
                errors.append(self.error_messages["twice"].format(value=value))
            else:
                values.append(value)
        if errors:
            raise serializers.ValidationError(errors[:5])
        return tuple(values)

    def to_representation(self, value: Any) -> list[Any]:
        return list(value)


@dataclass(frozen=True, slots=True)
class _Invalid:
    message: str


def _name_of(names: tuple[str, ...], what: str) -> Callable[[Any, bool], Any]:
    def parse(item: Any, text: bool) -> Any:
        if isinstance(item, str) and item in names:
            return item
        shown = item if isinstance(item, str) else repr(item)
        return _Invalid(f"Unknown {what} {shown[:40]!r}: use {', '.join(names)}.")

    return parse


def _id(item: Any, text: bool) -> Any:
    """Digits in a query string; a JSON integer in a body."""
    if text and isinstance(item, str) and item.isascii() and item.isdigit():
        item = int(item)
    if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= MAX_ID:
        return item
    shown = item if isinstance(item, str) else repr(item)
    return _Invalid(f"{shown[:40]!r} is not an id (a whole number from 1).")


def _country(item: Any, text: bool) -> Any:
    if isinstance(item, str) and item.upper() in country_codes():
        return item.upper()
    shown = item if isinstance(item, str) else repr(item)
    return _Invalid(f"{shown[:40]!r} is not an ISO 3166-1 alpha-2 country code, such as US.")


class ReportParams(serializers.Serializer):
    """What a report asks; `read()` below validates a request's parameters with it. Its `query` is
    the validated question (a ReportQuery), made by the same rules as a schedule's."""

    advertiser = IdField(help_text="The advertiser account whose figures these are.")
    start = DayField(help_text="The first day, YYYY-MM-DD.")
    end = DayField(help_text=f"The last day (included); at most {MAX_DAYS} days in all.")
    time_zone = serializers.CharField(
        required=False,
        max_length=64,
        help_text="IANA name whose days (and hours) the report uses; by default the account's. Only zones "
        "a whole number of hours from UTC in the range (the rollups are by the UTC hour).",
    )
    dimensions = ListParam(_name_of(DIMENSIONS, "dimension"), required=False)
    metrics = ListParam(_name_of(METRICS, "metric"), required=False)
    campaign = ListParam(_id, required=False)
    ad_group = ListParam(_id, required=False)
    creative = ListParam(_id, required=False)
    placement = ListParam(_id, required=False)
    country = ListParam(_country, required=False)
    device = ListParam(_name_of(DEVICE_TYPES, "device type"), required=False)
    sort = serializers.CharField(required=False, max_length=40)
    order = serializers.ChoiceField(ORDERS, required=False)
    format = serializers.ChoiceField(FORMATS, required=False)

    def validate_time_zone(self, value: str) -> str:
        if value not in time_zones():
            raise serializers.ValidationError(
                f"Unknown time zone {value[:64]!r}: use an IANA name, such as Europe/Paris."
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs["start"], attrs["end"]
        if end < start:
            raise serializers.ValidationError({"end": ["The range ends before it starts."]})
        if (end - start).days + 1 > MAX_DAYS:
            raise serializers.ValidationError({"end": [f"At most {MAX_DAYS} days in one report."]})
        filters = {name: attrs[name] for name in (*ID_FILTERS, "country", "device") if name in attrs}
        try:
            attrs["query"] = ReportQuery(
                dimensions=attrs.get("dimensions", ()),
                metrics=attrs.get("metrics") or DEFAULT_METRICS,
                filters=filters,
                start=start,
                end=end,
                time_zone=attrs.get("time_zone", ""),
                sort=attrs.get("sort", ""),
                order=attrs.get("order", ""),
            )
        except ReportError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from None
        return attrs


def single_values(params: QueryDict | Mapping[str, Any], *, query_string: bool) -> dict[str, Any]:
    """The request's parameters, each given once and each known (else 400 naming it): a typo such
    as `dimension=day` must not silently answer a different report."""
    known = set(ReportParams().fields)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in params:
        if name not in known:
            errors[name] = [f"Unknown parameter: use {', '.join(sorted(known))}."]
            continue
        if query_string and isinstance(params, QueryDict):
            given = params.getlist(name)
            if len(given) > 1:
                errors[name] = ["Give this parameter once (lists are comma-separated)."]
                continue
            values[name] = given[0]
        else:
            values[name] = params[name]
    if errors:
        raise serializers.ValidationError(errors)
    return values


def read(params: QueryDict | Mapping[str, Any], *, query_string: bool) -> tuple[int, ReportQuery, str]:
    """(advertiser id, the question, the format asked or "") from a query string or a JSON body."""
    if not isinstance(params, Mapping):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = ReportParams(
        data=single_values(params, query_string=query_string), context={"query_string": query_string}
    )
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return data["advertiser"], data["query"], data.get("format", "")
