"""`graphstore report run|graph|experiment ID`, `report compare ID ID ...` and `report --all`: adapters over the
report jobs (graphstore.report.job, graphstore.report.compare)."""

from __future__ import annotations

from typing import Any

import typer

from graphstore.cli.adapter import PROGRESS, job_command, show_progress
from graphstore.cli.context import console, settings_of
from graphstore.cli.progress import job_progress
from graphstore.jobs.base import JobContext
from graphstore.report.compare import COMPARE_REPORT
from graphstore.report.job import (
    ALL_REPORTS,
    EXPERIMENT_REPORT,
    GRAPH_REPORT,
    OUT_HELP,
    RUN_REPORT,
    AllReportsParams,
    BatchResult,
    ReportError,
    Written,
)

app = typer.Typer(
    help="Write reports (self-contained HTML + Markdown with figures) of runs, graphs and experiments.\n\n"
    "Example: graphstore report --all --out reports",
    invoke_without_command=True,
)


def render_written(done: Written, _cli: dict[str, Any]) -> None:
    """Where the report went, and the sections it had to leave out."""
    console.print(f"[bold]{done.title}[/]")
    console.print(f"HTML:     {done.html}", highlight=False)
    console.print(f"Markdown: {done.markdown} ({len(done.figures)} figure files)", highlight=False)
    if done.omitted:
        console.print(f"Omitted (the report says why): {', '.join(done.omitted)}", highlight=False)


def render_batch(done: BatchResult) -> None:
    """The index page and a count per kind; failures with their errors."""
    kinds = {k: sum(1 for w in done.written if w.kind == k) for k in ("experiment", "run", "graph")}
    console.print(", ".join(f"{n} {k} reports" for k, n in kinds.items()) + f" in {done.folder}", highlight=False)
    for kind, id, error in done.failed:
        console.print(f"[red]failed[/] {kind} {id}: {error}", highlight=False)
    console.print(f"Index: {done.index_html}", highlight=False)


@app.callback()
def report(
    ctx: typer.Context,
    all_reports: bool = typer.Option(False, "--all", help="Report every experiment, run and graph, with an index."),
    out: str = typer.Option("", "--out", help=OUT_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Write reports (self-contained HTML + Markdown with figures) of runs, graphs and experiments."""
    if ctx.invoked_subcommand is not None:
        if all_reports:
            raise typer.BadParameter("--all reports everything; give it without a subcommand.", param_hint="--all")
        return
    if not all_reports:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    with job_progress(progress) as (on_progress, on_status, on_note):
        done = ALL_REPORTS.run(JobContext(settings_of(ctx), on_progress, on_status, on_note), AllReportsParams(out))
    render_batch(done)
    if done.failed:
        total = len(done.failed) + len(done.written)
        raise ReportError(
            f"{len(done.failed)} of {total} reports failed (listed above and on the index {done.index_html}).",
            "Fix the cause given for each (a full disk: free space or choose another --out), then run "
            "`graphstore report --all` again; the reports written are complete.",
        )


def register(root: typer.Typer) -> None:
    """Add `graphstore report` to the root app."""
    for spec in (RUN_REPORT, GRAPH_REPORT, EXPERIMENT_REPORT, COMPARE_REPORT):
        app.command(spec.name)(job_command(spec, render_written, extras=(PROGRESS,), progress=show_progress))
    root.add_typer(app, name="report")
