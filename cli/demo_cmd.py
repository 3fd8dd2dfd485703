"""`graphstore demo`: an adapter over graphstore.jobs.demo (a researcher's day through the real jobs)."""

from __future__ import annotations

from typing import Any

import typer

from graphstore.cli.adapter import PROGRESS, Extra, job_command, show_progress
from graphstore.cli.analyze_cmd import render_analysis
from graphstore.cli.context import console, settings_of
from graphstore.cli.ingest_cmd import render as render_ingest
from graphstore.cli.output import OutputFormat, print_rows
from graphstore.cli.progress import job_progress
from graphstore.cli.prune_cmd import render_rounds
from graphstore.jobs.base import JobContext
from graphstore.jobs.demo import DEMO, DemoResult
from graphstore.report.demo import demo_report

REPORT = Extra(
    "report",
    bool,
    typer.Option(True, "--report/--no-report", help="End by writing a report of the demo (<data_dir>/reports/demo)."),
)


def render(done: DemoResult, cli: dict[str, Any]) -> None:
    """Each step's result with a rule above it, then what to try next."""
    titles = (
        "train a dense network, then prune it (IMP with rewinding)",
        "ingest the pruned network's graphs",
        "communities of the co-activation graph",
        "the class tree of the co-activation graph",
    )
    renders = (
        lambda: render_rounds(done.pruning, cli),
        lambda: render_ingest(done.ingest, cli),
        lambda: render_analysis(done.analysis, cli),
        lambda: render_analysis(done.hierarchy, cli),
    )
    for number, (title, command, show) in enumerate(zip(titles, done.commands, renders, strict=True), start=1):
        console.rule(f"[bold]{number}. {title}[/]")
        console.print(f"$ {command}", highlight=False, markup=False)
        show()
    for number, step in enumerate(done.queries, start=len(titles) + 1):
        console.rule(f"[bold]{number}. {step.title}[/]")
        console.print(
            f"$ graphstore query {step.name} " + " ".join(f"-p {k}={v}" for k, v in step.params.items()),
            highlight=False,
            markup=False,
        )
        print_rows(step.columns, step.rows, OutputFormat.table)
    console.rule("[bold green]done[/]")
    console.print(
        f"Graphs are in {done.store}. Next: `graphstore runs list`, `graphstore store list`, "
        "`graphstore query --list`; with Neo4j (`graphstore services start`), open the Browser and explore "
        "the same graphs."
    )
    if cli.get("report", True):
        with job_progress(cli.get("progress", True)) as (on_progress, on_status, on_note):
            written = demo_report(JobContext(cli["settings"], on_progress, on_status, on_note), done)
        console.print(f"Report of this demo (opens offline in a browser): {written.index_html}", highlight=False)


def keep_settings(ctx: typer.Context, cli: dict[str, Any]) -> bool:
    """Hand the settings to the renderer, which writes the report after the job (never answers the command)."""
    cli["settings"] = settings_of(ctx)
    return False


def register(root: typer.Typer) -> None:
    """Add `graphstore demo` to the root app."""
    root.command("demo")(
        job_command(DEMO, render, extras=(PROGRESS, REPORT), before=keep_settings, progress=show_progress)
    )
