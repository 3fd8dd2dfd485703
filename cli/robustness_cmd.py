"""`graphstore noise` and `graphstore topology`: adapters over graphstore.jobs.checkpoint_reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import typer

from graphstore.analysis.topology_report import ROUND_COLUMNS
from graphstore.cli.adapter import Extra, job_command
from graphstore.cli.output import OutputFormat, print_rows
from graphstore.cli.progress import job_progress
from graphstore.jobs.checkpoint_reports import NOISE, TOPOLOGY, NoiseResult, TopologyResult

FORMAT = Extra("fmt", OutputFormat, typer.Option(OutputFormat.table, "--format", "-f", help="Output format."))


def _cell(value: Any) -> Any:
    """Floats to 4 decimals for printing; NaN and None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return round(value, 4) if isinstance(value, float) else value


def _print(columns: Sequence[str], rows: list[list[Any]], fmt: OutputFormat, title: str) -> None:
    """Rows as a table (rounded) or CSV/JSON (full precision)."""
    shown = [[_cell(v) for v in row] for row in rows] if fmt is OutputFormat.table else rows
    print_rows(list(columns), shown, fmt, title)


def render_noise(result: NoiseResult, cli: dict[str, Any]) -> None:
    """One row per noise level."""
    p = result.params
    _print(
        ("p", "jaccard", "cns", "accuracy"),
        [[r.p, r.jaccard, r.cns, r.accuracy] for r in result.rows],
        cli["fmt"],
        f"noise robustness of {result.checkpoint.name} (k={p.k}, {p.metric}, {p.split}; run {result.run_id})",
    )


def render_topology(result: TopologyResult, cli: dict[str, Any]) -> None:
    """The layer table and totals, or the per-round table."""
    if result.round_rows:
        _print(ROUND_COLUMNS, result.round_rows, cli["fmt"], result.title)
        return
    _print(result.layer_columns, result.layer_rows, cli["fmt"], result.title)
    _print(("total", "value"), [[k, v] for k, v in result.totals.items()], cli["fmt"], "model totals")


def register(root: typer.Typer) -> None:
    """Add `graphstore noise` and `graphstore topology` to the root app."""
    status = lambda _cli: job_progress(True)  # noqa: E731
    root.command("noise")(job_command(NOISE, render_noise, extras=(FORMAT,), progress=status))
    root.command("topology")(job_command(TOPOLOGY, render_topology, extras=(FORMAT,), progress=status))
