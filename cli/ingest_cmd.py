"""`graphstore ingest` and `graphstore extract`: adapters over graphstore.jobs.ingest (options from its dataclasses)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli.adapter import PROGRESS, job_command, list_option, show_progress
from graphstore.cli.context import console
from graphstore.extract.registry import kinds
from graphstore.jobs.ingest import EXTRACT, INGEST, IngestResult
from graphstore.params import describe


def render(result: IngestResult, _cli: dict[str, Any]) -> None:
    """The summary table: one row per graph."""
    table = Table(title=f"{result.checkpoint.name} -> {result.target}")
    for column in ("kind", "graph id", "nodes", "edges", "extract s", "write s", "status"):
        table.add_column(column, justify="right" if column in ("nodes", "edges", "extract s", "write s") else "left")
    for o in result.outcomes:
        table.add_row(
            o.kind, o.graph_id, str(o.nodes), str(o.edges), f"{o.extract_s:.2f}", f"{o.write_s:.2f}", o.status
        )
    console.print(table)


def list_kinds(_ctx: typer.Context, cli: dict[str, Any]) -> bool:
    """--list: every graph kind with its parameters (answers the command)."""
    if not cli.get("list_all"):
        return False

    table = Table(title="graph kinds (--graphs; parameters via common options or --opt KIND.KEY=VALUE)")
    for column in ("kind", "description", "needs data", "parameters (default: help)"):
        table.add_column(column)
    for entry in kinds():
        opts = "\n".join(f"{n}={d}: {h}" for n, d, h in describe(entry.params)) or "-"
        table.add_row(entry.name, entry.summary, "yes" if entry.needs_data else "no", opts)
    console.print(table)
    return True


def register(root: typer.Typer) -> None:
    """Add `graphstore ingest` and `graphstore extract` to the root app."""
    listing = list_option("graph kinds and their parameters")
    root.command("ingest")(
        job_command(INGEST, render, extras=(PROGRESS, listing), before=list_kinds, progress=show_progress)
    )
    root.command("extract")(job_command(EXTRACT, render, extras=(PROGRESS,), progress=show_progress))
