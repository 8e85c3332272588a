"""A table (reporting.tables) as CSV or XLSX: the rows on screen, with their exact values.

Money is written as a decimal amount of the account currency (the micros divided exactly, so
12.3456 stays 12.3456), rates as fractions, counts as integers; the header names the currency.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import xlsxwriter

from reporting.tables import Column, Table

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def header(column: Column, currency: str) -> str:
    return f"{column.label} ({currency})" if column.kind == "money" else column.label


def records(table: Table, *, with_total: bool = True) -> list[list[Any]]:
    """The table's rows as exported values (the total last)."""
    rows = [
        [cell.export(column) for cell, column in zip(row, table.columns, strict=True)] for row in table.rows
    ]
    # Without dimensions the total row is the whole report (a totals-only API request or schedule).
    if with_total and (table.rows or not table.dimension_count):
        rows.append(
            [
                cell.export(column) if column.numeric else cell.text
                for cell, column in zip(table.total, table.columns, strict=True)
            ]
        )
    return rows


def to_csv(table: Table, currency: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header(c, currency) for c in table.columns])
    for record in records(table):
        writer.writerow(["" if v is None else v for v in record])
    return out.getvalue().encode()


def to_xlsx(table: Table, currency: str, *, title: str = "Report") -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "constant_memory": True})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00####"})
    ratio = book.add_format({"num_format": "0.00%"})
    formats = {"money": money, "ratio": ratio}
    for col, column in enumerate(table.columns):
        sheet.write_string(0, col, header(column, currency), bold)
        sheet.set_column(col, col, 28 if column.kind == "dimension" else 16)
    for r, record in enumerate(records(table), start=1):
        for col, (value, column) in enumerate(zip(record, table.columns, strict=True)):
            if value is None:
                sheet.write_blank(r, col, None)
            elif column.kind == "dimension" or isinstance(value, str):
                sheet.write_string(r, col, str(value))
            elif column.key == "roas":
                sheet.write_number(r, col, float(value))
            else:
                sheet.write_number(r, col, float(value), formats.get(column.kind))
    book.close()
    return out.getvalue()


def render(table: Table, currency: str, fmt: str, *, title: str = "Report") -> bytes:
    if fmt == "xlsx":
        return to_xlsx(table, currency, title=title)
    return to_csv(table, currency)
