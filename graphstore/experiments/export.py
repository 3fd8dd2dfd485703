"""An experiment run's results as plain data: JSON (run, cells, tables, paper values, claims and verdicts) and long
CSV rows (one row per table, group and column: mean, std, n; the cells as table `cells`, their status and whole
error as text), for `experiment show --format json|csv`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphstore.experiments.results import PaperComparison, Stat, Summary

if TYPE_CHECKING:
    from graphstore.experiments.show import ExperimentReport
    from graphstore.tracking.records import RunRecord

CSV_COLUMNS = ["table", "group", "column", "mean", "std", "n", "text"]


def stat_data(value: Any) -> Any:
    """A summary cell: a Stat as {mean, std, n} (or {text, n}); a group value as itself."""
    if not isinstance(value, Stat):
        return value
    if value.mean is None:
        return {"text": value.text, "n": value.n}
    return {"mean": value.mean, "std": value.std, "n": value.n}


def summary_data(summary: Summary) -> dict[str, Any]:
    """One summarised table: its spec and rows (group values, then each value column's mean, std, n)."""
    spec = summary.spec
    rows = [{k: stat_data(v) for k, v in row.items()} for row in summary.rows]
    return {
        "name": spec.name,
        "title": spec.title,
        "group": list(spec.group),
        "values": list(spec.values),
        "rows": rows,
    }


def comparison_data(c: PaperComparison) -> dict[str, Any]:
    """A paper value beside ours."""
    p = c.paper
    return {
        "table": p.table,
        "where": p.where,
        "column": p.column,
        "paper": p.value,
        "ours": stat_data(c.ours) if c.ours else None,
        "difference": c.difference,
        "source": p.source,
    }


def report_data(report: ExperimentReport) -> dict[str, Any]:
    """The whole run as JSON-ready data."""
    run = report.run
    return {
        "run": {
            "id": run.id,
            "experiment": run.name,
            "status": run.status,
            "scale": run.params.get("scale"),
            "document": run.params.get("document"),
            "error": run.error,
        },
        "note": report.note or None,
        "cells": [
            {"run": c.id, "key": c.params.get("key"), "status": c.status, "error": c.error} for c in report.cells
        ],
        "tables": [summary_data(s) for s in report.summaries],
        "paper": [comparison_data(c) for c in report.comparisons],
        "claims": [v.as_dict() for v in report.verdicts],
    }


def long_rows(summaries: list[Summary]) -> list[list[Any]]:
    """Every summary cell as one CSV row: table, group ('k=v; k=v'), column, mean, std, n, text."""
    out: list[list[Any]] = []
    for summary in summaries:
        for row in summary.rows:
            group = "; ".join(f"{g}={row.get(g)}" for g in summary.spec.group)
            for column in summary.value_columns:
                value = row.get(column)
                if isinstance(value, Stat):
                    out.append([summary.spec.name, group, column, value.mean, value.std, value.n, value.text])
    return out


def cell_rows(cells: list[RunRecord]) -> list[list[Any]]:
    """Every cell as CSV rows of table `cells`: its status, and its error whole (message and hint) when it failed."""
    out: list[list[Any]] = []
    for cell in cells:
        key = cell.params.get("key", "")
        out.append(["cells", key, "status", None, None, None, cell.status])
        if cell.error:
            out.append(["cells", key, "error", None, None, None, cell.error])
    return out


def one_line(error: str | None) -> str:
    """An error (message, then `Hint: ...` on its own line) as one line for a table cell, nothing cut."""
    return " ".join(line.strip() for line in (error or "").splitlines() if line.strip())
