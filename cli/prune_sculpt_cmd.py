"""`graphstore prune sculpt`: an adapter over graphstore.jobs.prune.SCULPT (neural sculpting, docs/METHODS.md E)."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli import prune_cmd
from graphstore.cli.context import console, err_console
from graphstore.jobs.prune import SCULPT


def render(run: Any, _cli: dict[str, Any]) -> None:
    """Accepted steps, then the kept network: density, architecture, accuracy, settings, checkpoint."""
    result = run.result
    table = Table(title=f"sculpt run {run.run_id}: accepted steps ({len(result.steps)} tried)")
    for column in ("step", "phase", "P", "size", "acc", "density", "units"):
        table.add_column(column, justify="right")
    for s in (s for s in result.steps if s.accepted):
        table.add_row(
            str(s.index), s.phase, f"{s.p:g}", str(s.size), f"{s.acc:.4f}", f"{s.density:.2%}", str(s.units_kept)
        )
    console.print(table)
    if not result.met:
        err_console.print(f"[yellow]Threshold not met:[/] {result.message}", highlight=False)
    settings = f", P_u {result.p_unit:g}, P_e {result.p_edge:g}" if result.met else ""
    console.print(
        f"kept network: density {result.density:.2%}, architecture {result.arch}, "
        f"accuracy {result.state.acc:.4f}{settings} ({result.seconds:.1f} s)"
    )
    console.print(f"checkpoint: {run.checkpoint}")


def attach(group: typer.Typer) -> None:
    """Add the command to a `prune` group."""
    group.command("sculpt")(prune_cmd.command(SCULPT, render))


attach(prune_cmd.app)


def register(root: typer.Typer) -> None:
    """The command is attached to the prune group on import; this only makes sure the group is on the root."""
    prune_cmd.register(root)
