"""`graphstore analyze NAME` (one subcommand per registered analysis) and `graphstore compare`: job adapters."""

from __future__ import annotations

import json
from typing import Any

import typer

from graphstore.analysis.base import ANALYSES
from graphstore.cli.adapter import job_command
from graphstore.cli.context import console
from graphstore.jobs.analyze import COMPARE, CompareResult, analysis_job

app = typer.Typer(
    help="Analyse a stored graph: communities, centrality, statistics. Results become node "
    "properties (as GDS .write does) and a record in the tracking DB.",
    no_args_is_help=True,
)


def render_analysis(done: Any, _cli: dict[str, Any]) -> None:
    """Which analysis ran where, how long, and its summary as JSON."""
    console.print(f"[bold]{done.name}[/] on {done.graph_id} ({done.engine}, {done.seconds:.2f} s)")
    console.print_json(json.dumps(done.summary, default=str))


def render_compare(done: CompareResult, _cli: dict[str, Any]) -> None:
    """The value, and the summary as JSON."""
    console.print(f"[bold]{done.method}[/]({done.a}, {done.b}) = {done.summary['value']}")
    console.print_json(json.dumps(done.summary))


def register(root: typer.Typer) -> None:
    """Add `graphstore analyze <name>` for every registered analysis, and `graphstore compare`."""
    for name in ANALYSES.names():
        app.command(name)(job_command(analysis_job(name), render_analysis))
    root.add_typer(app, name="analyze")
    root.command("compare")(job_command(COMPARE, render_compare))
