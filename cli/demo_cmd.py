"""`graphstore demo`: an adapter over graphstore.jobs.demo (a researcher's day through the real jobs)."""

from __future__ import annotations

from typing import Any

import typer

from graphstore.cli.adapter import PROGRESS, job_command, show_progress
from graphstore.cli.analyze_cmd import render_analysis
from graphstore.cli.context import console
from graphstore.cli.ingest_cmd import render as render_ingest
from graphstore.cli.output import OutputFormat, print_rows
from graphstore.cli.prune_cmd import render_rounds
from graphstore.jobs.demo import DEMO, DemoResult


def render(done: DemoResult, cli: dict[str, Any]) -> None:
    """Each step's result with a rule above it, then what to try next."""
    console.rule("[bold]1. train a dense network, then prune it (IMP with rewinding)[/]")
    render_rounds(done.pruning, cli)
    console.rule("[bold]2. ingest the pruned network's graphs[/]")
    render_ingest(done.ingest, cli)
    console.rule("[bold]3. communities of the co-activation graph[/]")
    render_analysis(done.analysis, cli)
    for number, step in enumerate(done.queries, start=4):
        console.rule(f"[bold]{number}. {step.title}[/]  graphstore query {step.name} "
                     + " ".join(f"-p {k}={v}" for k, v in step.params.items()))
        print_rows(step.columns, step.rows, OutputFormat.table)
    console.rule("[bold green]done[/]")
    console.print(f"Graphs are in {done.store}. Next: `graphstore runs list`, `graphstore store list`, "
                  "`graphstore query --list`; with Neo4j (`graphstore services start`), open the Browser and explore "
                  "the same graphs.")


def register(root: typer.Typer) -> None:
    """Add `graphstore demo` to the root app."""
    root.command("demo")(job_command(DEMO, render, extras=(PROGRESS,), progress=show_progress))
