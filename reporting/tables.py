"""A report as a table: the one shape the dashboards show, the exports write and the API returns,
so that what is exported is what is on screen.

A cell keeps its exact value (money in micros, rates as fractions, counts) and its text as shown.
Exports write the exact value in the account's units (reporting.exports), the screen the text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from babel.numbers import get_currency_symbol

from accounts.money import micros_to_decimal, minor_units
from reporting import query
from reporting.query import DIMENSION_LABELS, METRIC_LABELS, MONEY_METRICS, RATIO_METRICS, Spec, Totals

DEFAULT_METRICS = ("spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "cvr", "cpa", "roas")


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # a dimension or a metric name
    label: str
    kind: str  # "dimension", "count", "money" or "ratio"

    @property
    def numeric(self) -> bool:
        return self.kind != "dimension"


@dataclass(frozen=True, slots=True)
class Cell:
    """A value and how it is shown: `shown` for a dimension's label (or "Total"), else the text of
    `metric`'s value in `currency`, made only when asked for (the API and exports never ask)."""

    value: Any  # the dimension's value, or the metric's exact value (None: nothing to divide by)
    shown: str | None = None
    metric: str = ""
    currency: str = ""

    @property
    def text(self) -> str:
        if self.shown is not None:
            return self.shown
        return format_metric(self.metric, self.value, self.currency)

    def export(self, column: Column) -> Any:
        """The value an export writes: money as a decimal of the account currency, rates as
        fractions, counts as integers, dimensions as their label."""
        if column.kind == "dimension":
            return self.text
        if self.value is None:
            return None
        if column.kind == "money":
            return micros_to_decimal(self.value)
        return self.value


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[list[Cell]]
    total: list[Cell]  # the dimensions' cells read "Total"
    sort: str
    descending: bool

    @property
    def dimension_count(self) -> int:
        return sum(1 for c in self.columns if c.kind == "dimension")


def metric_kind(name: str) -> str:
    if name in MONEY_METRICS:
        return "money"
    if name in RATIO_METRICS:
        return "ratio"
    return "count"


@functools.cache
def _money_format(currency: str) -> tuple[str, int]:
    """The account currency's symbol and decimals as babel's en_US pattern shows them."""
    return get_currency_symbol(currency, locale="en_US"), minor_units(currency)


def format_money(micros: int, currency: str) -> str:
    """accounts.money.format_micros's text, without parsing babel's pattern for every cell of a
    report of thousands (it was most of the time of a large one)."""
    symbol, places = _money_format(currency)
    amount = micros_to_decimal(abs(micros)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{'-' if micros < 0 else ''}{symbol}{amount:,}"


def format_metric(name: str, value: int | float | None, currency: str) -> str:
    if value is None:
        return "\u2013"  # an en dash: nothing to divide by
    if name in MONEY_METRICS:
        return format_money(int(value), currency)
    if name == "roas":
        return f"{value:.2f}\u00d7"  # 3.20x: conversion value per unit of spend
    if name in RATIO_METRICS:
        return f"{value * 100:.2f}%"
    return f"{int(value):,}"


def metric_cells(totals: Totals, metrics: Sequence[str], currency: str) -> list[Cell]:
    cells = []
    for name in metrics:
        value = totals.metric(name)
        cells.append(Cell(value, None, name, currency))
    return cells


def build(
    spec: Spec,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    sort: str = "",
    descending: bool = True,
    limit: int | None = None,
) -> Table:
    """The report of `spec` as a table, sorted by `sort` (a metric or dimension of the table; by
    default the dimensions in order, or spend for an entity), then cut to `limit` rows."""
    metrics = query.metric_columns(metrics)
    currency = spec.advertiser.currency
    dims = spec.dimensions
    answer = query.run(spec)
    rows = answer if dims else []
    names = {d: query.labels(spec.advertiser, d, {row.key[i] for row in rows}) for i, d in enumerate(dims)}
    columns = [Column(d, DIMENSION_LABELS[d], "dimension") for d in dims]
    columns += [Column(m, METRIC_LABELS[m], metric_kind(m)) for m in metrics]
    keys = [c.key for c in columns]
    if sort not in keys:
        sort, descending = (dims[0], False) if dims and dims[0] in query.TIME_DIMENSIONS else ("spend", True)
        if sort not in keys:
            sort = keys[0] if keys else ""
    if sort in dims:
        position = dims.index(sort)
        rows.sort(key=lambda row: _sortable(sort, row.key[position], names[sort]), reverse=descending)
    elif sort:
        # Rows without a value (a rate over nothing) go last whichever the direction.
        with_value = [r for r in rows if r.totals.metric(sort) is not None]
        without = [r for r in rows if r.totals.metric(sort) is None]
        with_value.sort(key=lambda row: row.totals.metric(sort) or 0, reverse=descending)
        rows = with_value + without
    every = rows
    if limit is not None:
        rows = rows[:limit]
    table_rows = [
        [Cell(row.key[i], names[d][row.key[i]]) for i, d in enumerate(dims)]
        + metric_cells(row.totals, metrics, currency)
        for row in rows
    ]
    # The total of every row (those cut by `limit` too): no second query.
    grand = sum((row.totals for row in every), query.ZERO) if dims else answer[0].totals
    total = [Cell(None, "Total" if i == 0 else "") for i in range(len(dims))] + metric_cells(
        grand, metrics, currency
    )
    return Table(columns, table_rows, total, sort, descending)


def _sortable(dimension: str, value: Any, names: dict[Any, str]) -> Any:
    """Times sort by time; entities, countries and devices by the name shown."""
    return value if dimension in query.TIME_DIMENSIONS else names.get(value, str(value)).lower()
