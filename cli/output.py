"""Printing rows (query results, reports) as a rich table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import numbers
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rich.table import Table

from graphstore.cli.context import console

if TYPE_CHECKING:
    from graphstore.store.base import QueryResult


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def print_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: OutputFormat, title: str | None = None
) -> None:
    """Write rows to stdout in the chosen format (CSV/JSON are plain, for pipes)."""
    if fmt is OutputFormat.json:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, default=str, indent=2) + "\n")
    elif fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(shown(v) for v in row))
        console.print(table)


def shown(value: Any) -> str:
    """A table cell: floats at 4 significant digits (CSV and JSON keep every digit), None as empty."""
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):  # numpy floats too
        return f"{value:.4g}"
    return str(value)


def print_result(result: QueryResult, fmt: OutputFormat, title: str | None = None) -> None:
    """A query result's rows."""
    print_rows(result.columns, result.rows, fmt, title)
