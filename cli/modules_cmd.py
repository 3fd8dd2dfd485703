"""`graphstore modules`: an adapter over graphstore.jobs.checkpoint_reports.MODULES."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli.adapter import job_command
from graphstore.cli.context import console
from graphstore.jobs.checkpoint_reports import MODULES, ModulesResult


def render(done: ModulesResult, _cli: dict[str, Any]) -> None:
    """Modules table, per-level counts against the ground truth, and the verdict."""
    result = done.result
    table = Table(title=f"modules of {done.checkpoint.name} (run {done.run_id}), pruned arch {result.arch}")
    for column in ("level", "inputs", "units (layer:index)"):
        table.add_column(column)
    for m in result.modules:
        table.add_row(str(m.level), ",".join(map(str, m.inputs)) or "-", " ".join(f"{la}:{i}" for la, i in m.units))
    console.print(table)
    console.print(f"detected modules per level: {result.modules_per_level}")
    if result.success is None:
        console.print("no ground truth (not a boolean-modular checkpoint): nothing scored")
        return
    console.print(f"ground truth: {result.ground_truth}, level-1 input sets {result.truth_inputs}")
    verdict = "[green]success[/]" if result.success else "[red]failure[/]: " + "; ".join(result.reasons)
    console.print(f"result: {verdict}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add `graphstore modules` to the root app."""
    root.command("modules")(job_command(MODULES, render))
