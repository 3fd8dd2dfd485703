"""`graphstore prune sculpt`: neural sculpting of an MLP on a Boolean task (unit then edge pruning, METHODS E).

Every option comes from graphstore.pruning.sculpt.SculptConfig (cli_parameters), so the CLI, the dataclass
and the tracking record agree. One line per pruning step on stderr; a summary table at the end.
"""

from __future__ import annotations

import inspect
from typing import Any

import typer
from rich.table import Table

from graphstore.cli import prune_cmd
from graphstore.cli.context import console, err_console, settings_of
from graphstore.cli.options import cli_parameters
from graphstore.nn import params as P

EXAMPLES = (
    "Example: graphstore prune sculpt --task input-separable --widths 24,24 --p-unit 65 --p-edge 1.5\n\n"
    "Example: graphstore prune sculpt --task 6,3,3,3 --sweep --p-units 70,60,50 --p-edges 2.5,1.5,0.5"
)


def sculpt_command(ctx: typer.Context, **kwargs: Any) -> None:
    """Neural sculpting: prune units by loss sensitivity, then edges by |w|, while accuracy stays >= threshold."""
    _run(ctx, **kwargs)


def _run(ctx: typer.Context, name: str | None, progress: bool, **values: Any) -> None:
    """Parse options, run the tracked sculpting, print the summary (and the message if the threshold failed)."""
    from graphstore.pruning.params import SculptConfig
    from graphstore.pruning.sculpt import run_sculpt

    method = P.from_mapping(SculptConfig, {k: v for k, v in values.items() if v is not None}, "prune sculpt")
    settings = settings_of(ctx)
    run = run_sculpt(settings.data_dir, settings.tracking_url, method, name, step_line if progress else None)
    print_summary(run)


def step_line(step: Any) -> None:
    """One progress line per pruning step."""
    verdict = "accepted" if step.accepted else "rejected"
    what = "dense training" if step.phase == "dense" else f"{step.phase} step {step.size} (P={step.p:g})"
    err_console.print(f"step {step.index}: {what}: acc {step.acc:.4f}, density {step.density:.2%}, "
                      f"{step.units_kept} units, {verdict}", highlight=False)


def print_summary(run: Any) -> None:
    """Accepted steps, then the kept network: density, architecture, accuracy, settings, checkpoint."""
    result = run.result
    table = Table(title=f"sculpt run {run.run_id}: accepted steps ({len(result.steps)} tried)")
    for column in ("step", "phase", "P", "size", "acc", "density", "units"):
        table.add_column(column, justify="right")
    for s in (s for s in result.steps if s.accepted):
        table.add_row(str(s.index), s.phase, f"{s.p:g}", str(s.size), f"{s.acc:.4f}", f"{s.density:.2%}",
                      str(s.units_kept))
    console.print(table)
    if not result.met:
        err_console.print(f"[yellow]Threshold not met:[/] {result.message}", highlight=False)
    settings = f", P_u {result.p_unit:g}, P_e {result.p_edge:g}" if result.met else ""
    console.print(f"kept network: density {result.density:.2%}, architecture {result.arch}, "
                  f"accuracy {result.state.acc:.4f}{settings} ({result.seconds:.1f} s)")
    console.print(f"checkpoint: {run.checkpoint}")


def _signature() -> inspect.Signature:
    """--name, --progress, then one option per SculptConfig field."""
    from graphstore.pruning.params import SculptConfig

    kw = inspect.Parameter.KEYWORD_ONLY
    fixed = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter("name", kw, annotation=str | None,
                          default=typer.Option(None, "--name", help="Run name in the tracking DB.")),
        inspect.Parameter("progress", kw, annotation=bool,
                          default=typer.Option(True, "--progress/--no-progress", help="One line per step.")),
    ]
    return inspect.Signature(fixed + cli_parameters(SculptConfig))


sculpt_command.__signature__ = _signature()  # type: ignore[attr-defined]
sculpt_command.__doc__ = f"{sculpt_command.__doc__}\n\n{EXAMPLES}"


def attach(group: typer.Typer) -> None:
    """Add the command to a `prune` group."""
    group.command("sculpt")(sculpt_command)


attach(prune_cmd.app)


def register(root: typer.Typer) -> None:
    """The command is attached to the prune group on import; this only makes sure the group is on the root."""
    prune_cmd.register(root)
