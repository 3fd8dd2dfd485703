"""`graphstore experiment list|run|show`: adapters over graphstore.experiments (definitions, the run job, reports)."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

import typer
from rich.table import Table

from graphstore.cli.adapter import OUTPUT_PANEL, PROGRESS, Extra, job_command, show_progress
from graphstore.cli.context import console, err_console
from graphstore.cli.output import OutputFormat, print_rows
from graphstore.experiments.claims import FAILS, HOLDS, Verdict
from graphstore.experiments.export import CSV_COLUMNS, cell_rows, long_rows, one_line, report_data
from graphstore.experiments.results import Stat, Summary
from graphstore.experiments.runner import EXPERIMENT, ExperimentResult
from graphstore.experiments.show import LIST, SHOW, ExperimentReport, Listing

app = typer.Typer(
    name="experiment",
    help="Reproduce the research documents' experiments: a grid of cells, each a pipeline of jobs, one run each.\n\n"
    "Example: graphstore experiment run layer-pruning --scale smoke --set seed=0,1",
    no_args_is_help=True,
)


def render_list(listing: Listing, _cli: dict[str, Any]) -> None:
    """The definitions on offer, then the recent experiment runs."""
    table = Table(title="experiments (graphstore experiment run NAME)")
    for column in ("name", "document", "cells smoke/paper", "title", "file"):
        table.add_column(column)
    for o in listing.offered:
        cells = "/".join(str(o.cells.get(s, "-")) for s in ("smoke", "paper"))
        where = f"{o.path} (replaces the shipped {o.replaces.name})" if o.replaces else str(o.path)
        table.add_row(o.name, o.document, cells, o.error or o.title, where)
    console.print(table)
    if listing.runs:
        runs = Table(title="recent experiment runs (graphstore experiment show ID)")
        for column in ("id", "experiment", "scale", "status", "cells", "started"):
            runs.add_column(column)
        for r in listing.runs:
            scale, cells = str(r.params.get("scale", "")), str(r.params.get("cells", ""))
            runs.add_row(str(r.id), r.name, scale, r.status, cells, f"{r.created_at:%Y-%m-%d %H:%M}")
        console.print(runs)


def _cell(value: Any) -> str:
    """A summary cell as text."""
    return value.show() if isinstance(value, Stat) else "" if value is None else str(value)


def summary_table(summary: Summary) -> Table:
    """One summarised result table: group columns, then each value as mean ± std (n)."""
    spec = summary.spec
    table = Table(title=f"{spec.name}: {spec.title}" if spec.title else spec.name)
    for column in (*spec.group, *spec.values):
        table.add_column(column, justify="right")
    for row in summary.rows:
        table.add_row(*(_cell(row.get(c)) for c in (*spec.group, *spec.values)))
    return table


FORMAT = Extra(
    "fmt",
    OutputFormat,
    typer.Option(
        OutputFormat.table,
        "--format",
        "-f",
        help="table (for reading), json (run, cells, tables, paper values, claims with verdicts) or csv (the tables, "
        "one row per table, group and column; the cells' status and errors as table 'cells').",
        rich_help_panel=OUTPUT_PANEL,
    ),
)
VERDICT_STYLE = {HOLDS: "green", FAILS: "red"}


def verdict_table(verdicts: list[Verdict]) -> Table:
    """One row per claim: its id, the verdict, the numbers behind it, the statement and its source."""
    table = Table(title="the document's claims (verdict at this scale)")
    for column in ("claim", "verdict", "numbers", "statement", "source"):
        table.add_column(column)
    for v in verdicts:
        style = VERDICT_STYLE.get(v.status, "yellow")
        table.add_row(v.claim.id, f"[{style}]{v.status}[/]", v.detail, v.claim.statement, v.claim.source)
    return table


def render_show(report: ExperimentReport, cli: dict[str, Any]) -> None:
    """`experiment show` in the chosen format: tables for reading, JSON or CSV for programs."""
    fmt = cli.get("fmt", OutputFormat.table)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(report_data(report), default=str, indent=2) + "\n")
    elif fmt is OutputFormat.csv:
        print_rows(CSV_COLUMNS, long_rows(report.summaries) + cell_rows(report.cells), fmt)
    else:
        render_report(report)


def render_report(report: ExperimentReport, _cli: dict[str, Any] | None = None) -> None:
    """Cells, summarised tables, the paper's values beside ours, and the claims' verdicts."""
    run = report.run
    console.print(
        f"[bold]experiment run {run.id}[/] {run.name} ({run.params.get('scale')}, document "
        f"{run.params.get('document', '?')}): {run.status}"
    )
    if run.error:
        console.print(f"[red]{run.error}[/]")
    if report.note:
        console.print(f"[yellow]{report.note}[/]")
    cells = Table(title="cells")
    for column in ("run", "cell", "status", "error"):
        cells.add_column(column)
    for c in report.cells:
        cells.add_row(str(c.id), str(c.params.get("key", "")), c.status, one_line(c.error))
    console.print(cells)
    for summary in report.summaries:
        if summary.rows:
            console.print(summary_table(summary))
    if report.comparisons:
        paper = Table(title="beside the paper (ours - paper)")
        for column in ("table", "where", "column", "paper", "ours", "difference", "source"):
            paper.add_column(column)
        for cmp in report.comparisons:
            p, diff = cmp.paper, cmp.difference
            where = ", ".join(f"{k}={v}" for k, v in p.where.items())
            ours = cmp.ours.show() if cmp.ours else "not measured"
            paper.add_row(
                p.table, where, p.column, f"{p.value:g}", ours, "" if diff is None else f"{diff:+.4g}", p.source
            )
        console.print(paper)
    if report.verdicts:
        console.print(verdict_table(report.verdicts))


def render_run(result: ExperimentResult, cli: dict[str, Any]) -> None:
    """The run's report, then a summary line; failed cells make the command exit 1."""
    if result.report is not None:
        render_report(result.report)
    done = len(result.outcomes) - len(result.failed)
    err_console.print(
        f"experiment run {result.run_id}: {done} cell(s) completed, {len(result.failed)} failed, "
        f"{len(result.skipped)} skipped as done, in {result.seconds:.1f} s"
    )
    if result.failed:
        sets = "".join(f" --set {shlex.quote(s)}" for s in result.sets)
        err_console.print(
            f"Failed cells are recorded with their errors; fix the cause and continue with: graphstore experiment run "
            f"{shlex.quote(result.given or result.name)} --scale {result.scale}{sets} --resume",
            markup=False,
            highlight=False,
            soft_wrap=True,  # one line: the command can be copied as printed
        )
        raise typer.Exit(1)


app.command("list")(job_command(LIST, render_list))
app.command("run")(job_command(EXPERIMENT, render_run, extras=(PROGRESS,), progress=show_progress))
app.command("show")(job_command(SHOW, render_show, extras=(FORMAT,)))


def register(root: typer.Typer) -> None:
    """Add the `experiment` group to the root app."""
    root.add_typer(app, name="experiment")
