"""`graphstore runs list|show`: runs in the tracking DB with their parameters, checkpoints and metrics."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import typer
from rich.table import Table

from graphstore.cli.adapter import OUTPUT_PANEL, Extra, job_command
from graphstore.cli.context import console, settings_of
from graphstore.cli.output import OutputFormat, print_rows
from graphstore.errors import TrackingError
from graphstore.jobs.runs import RUNS_LIST, RunsTable

app = typer.Typer(help="Inspect tracked runs (training, pruning, ingestion, analyses).", no_args_is_help=True)


FORMAT = Extra(
    "fmt",
    OutputFormat,
    typer.Option(OutputFormat.table, "--format", "-f", help="table, csv or json.", rich_help_panel=OUTPUT_PANEL),
)


def _render_list(result: RunsTable, cli: dict[str, Any]) -> None:
    print_rows(result.columns, result.rows, cli["fmt"], title="runs")


app.command("list")(job_command(RUNS_LIST, _render_list, extras=(FORMAT,)))


@app.command("show")
def show(ctx: typer.Context, run_id: int = typer.Argument(..., help="Run id (see `graphstore runs list`).")) -> None:
    """Show one run: what ran (its parameters), its checkpoints and its metrics per step.

    Example: graphstore runs show 3
    """
    from graphstore.tracking import open_tracking  # deferred: `runs list` reads SQLite without SQLAlchemy

    with open_tracking(settings_of(ctx).tracking_url) as tracking:
        run = tracking.get_run(run_id)
        if run is None:
            raise TrackingError(f"Run {run_id} is not in the tracking database.", "List runs: graphstore runs list")
        checkpoints = tracking.list_checkpoints(run_id)
        metrics = tracking.list_metrics(run_id)
    console.print(
        f"[bold]run {run.id}[/] {run.kind} {run.name!r}: {run.status}"
        f"{' (parent ' + str(run.parent_run_id) + ')' if run.parent_run_id else ''}"
    )
    console.print(f"graphstore {run.version} {run.git_commit or ''}, seed {run.seed}, device {run.device}")
    if run.error:
        console.print(f"[red]error:[/] {run.error}")
    console.print_json(json.dumps(run.params, default=str))
    if checkpoints:
        table = Table(title="checkpoints")
        for column in ("epoch", "round", "sparsity", "path"):
            table.add_column(column)
        for ck in checkpoints:
            table.add_row(
                str(ck.epoch),
                "" if ck.round is None else str(ck.round),
                "" if ck.sparsity is None else f"{ck.sparsity:.4f}",
                ck.path,
            )
        console.print(table)
    if metrics:
        console.print(_metrics_table(metrics))


def _metrics_table(metrics: list) -> Table:
    """Metrics pivoted to one row per step and one column per (split, name)."""
    by_step: dict[int, dict[str, float]] = defaultdict(dict)
    for m in metrics:
        by_step[m.step][f"{m.split}/{m.name}" if m.split else m.name] = m.value
    columns = sorted({c for row in by_step.values() for c in row})
    table = Table(title="metrics")
    table.add_column("step")
    for column in columns:
        table.add_column(column)
    for step in sorted(by_step):
        table.add_row(str(step), *(_fmt(by_step[step].get(c)) for c in columns))
    return table


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="runs")
