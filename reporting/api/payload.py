"""The report API's JSON answer, made from the table the dashboards show (reporting.tables).

Each row holds its dimensions, each with its value (an id, a code, a day, a local hour) and the label
shown for it, and its metrics with exact values: money as integer micros of the account currency
(`spend_micros`) and the same amount as a decimal string (`spend`, "12.3456"), counts as integers,
rates as fractions (`ctr` 0.0123), null where there is nothing to divide by. A value that is "none"
(a credit has no creative, an event no known country) is null, with a label that says so.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from accounts.money import micros_to_decimal
from reporting import rollup
from reporting.query import ENTITY_DIMENSIONS, FINE_DIMENSIONS, Spec
from reporting.tables import Cell, Column, Table

if TYPE_CHECKING:
    from reporting.jobs import ReportQuery

_NONE_VALUES = frozenset(ENTITY_DIMENSIONS + FINE_DIMENSIONS)  # where 0 or "" means "none"


def report_data(spec: Spec, report: ReportQuery, table: Table) -> dict[str, Any]:
    dimension_count = table.dimension_count
    dimensions = table.columns[:dimension_count]
    metrics = table.columns[dimension_count:]
    watermark = rollup.watermark()
    return {
        "advertiser": spec.advertiser.pk,
        "currency": spec.advertiser.currency,
        "time_zone": spec.zone_name,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "dimensions": [column.key for column in dimensions],
        "metrics": [column.key for column in metrics],
        "filters": {name: list(values) for name, values in spec.filters.items()},
        "sort": table.sort,
        "order": "desc" if table.descending else "asc",
        "watermark": watermark.isoformat() if watermark else None,
        "columns": [_column(column) for column in table.columns],
        "rows": [
            {
                "dimensions": {
                    column.key: _dimension(column, cell)
                    for column, cell in zip(dimensions, row, strict=False)
                },
                "metrics": metric_values(metrics, row[dimension_count:]),
            }
            for row in table.rows
        ],
        "totals": metric_values(metrics, table.total[dimension_count:]),
        "row_count": len(table.rows),
    }


def metric_fields(column: Column) -> list[str]:
    """Where a metric's values are in a row's `metrics`: money twice, in micros and as a decimal."""
    return [f"{column.key}_micros", column.key] if column.kind == "money" else [column.key]


def metric_values(columns: list[Column], cells: list[Cell]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column, cell in zip(columns, cells, strict=True):
        if column.kind == "money":
            values[f"{column.key}_micros"] = cell.value
            values[column.key] = None if cell.value is None else format(micros_to_decimal(cell.value), "f")
        else:
            values[column.key] = cell.value
    return values


def _column(column: Column) -> dict[str, Any]:
    fields = [column.key] if column.kind == "dimension" else metric_fields(column)
    return {"key": column.key, "label": column.label, "kind": column.kind, "fields": fields}


def _dimension(column: Column, cell: Cell) -> dict[str, Any]:
    value = cell.value
    if column.key in _NONE_VALUES and value in (0, ""):
        value = None
    elif isinstance(value, (datetime, date)):  # a local hour keeps its offset: 2025-03-30T03:00:00+02:00
        value = value.isoformat()
    return {"value": value, "label": cell.text}
