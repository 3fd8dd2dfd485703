"""Printing query results as a rich table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum

from rich.table import Table

from graphstore.cli.context import console
from graphstore.store.base import QueryResult


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def print_result(result: QueryResult, fmt: OutputFormat, title: str | None = None) -> None:
    """Write rows to stdout in the chosen format (CSV/JSON are plain, for pipes)."""
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(result.records(), default=str, indent=2) + "\n")
    elif fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        table = Table(title=title)
        for column in result.columns:
            table.add_column(column)
        for row in result.rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
