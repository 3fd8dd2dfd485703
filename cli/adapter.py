"""The generic CLI adapter: a job's parameter dataclass becomes a Typer command, its result goes to a renderer.

Options come from the dataclass fields (nested dataclasses are flattened into one namespace): `--kebab-name`, the
field's help and default, `choices` as a choice list, `flags` for extra spellings, `argument` for a positional
argument, `repeat` for a repeatable option; a nested field's `exclude` hides some of its fields (they keep their
defaults). Values are parsed and validated by graphstore.params.from_mapping,
so the CLI, the dataclass and the tracked record always agree. No command writes its own signature.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import typer

from graphstore.cli.context import settings_of
from graphstore.cli.progress import job_progress
from graphstore.errors import InvalidParams
from graphstore.jobs.base import JobContext, JobSpec
from graphstore.params import field_help, field_types, from_mapping, show_value, unwrap_optional

Render = Callable[[Any, dict[str, Any]], None]


@dataclass(frozen=True)
class Extra:
    """A CLI-only option (output format, --list, progress) handed to the renderer, never to the job."""

    name: str
    annotation: Any
    option: Any


OUTPUT_PANEL = "Output"
PROGRESS = Extra(
    "progress",
    bool,
    typer.Option(True, "--progress/--no-progress", help="Show progress bars.", rich_help_panel=OUTPUT_PANEL),
)


def list_option(what: str) -> Extra:
    """A `--list` flag that lists `what` instead of running the job."""
    return Extra(
        "list_all", bool, typer.Option(False, "--list", help=f"List {what}, then exit.", rich_help_panel=OUTPUT_PANEL)
    )


def show_progress(cli: dict[str, Any]) -> Any:
    """Progress bars unless --no-progress (for job_command's `progress`)."""
    return job_progress(cli.get("progress", True))


def is_nested(kind: Any) -> bool:
    """Whether a field's type is itself a parameter dataclass (flattened into the command's options)."""
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def panel_of(cls: type) -> str:
    """The help panel of a nested parameter dataclass: its `PANEL`, else its name without Params/Config."""
    name = getattr(cls, "PANEL", None) or re.sub(r"(Params|Config|Options)$", "", cls.__name__)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).capitalize() if not hasattr(cls, "PANEL") else name


def panels(cls: type, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """The help panel of each nested field path (fields of the top dataclass stay in "Options")."""
    hints, out = field_types(cls), {}
    for f in dataclasses.fields(cls):
        if is_nested(hints[f.name]):
            out[(*prefix, f.name)] = panel_of(hints[f.name])
            out.update(panels(hints[f.name], (*prefix, f.name)))
    return out


def walk(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dataclasses.Field, Any]]:
    """Every leaf field of a (nested) parameter dataclass: (path, field, resolved type)."""
    hints = field_types(cls)
    for f in dataclasses.fields(cls):
        if is_nested(hints[f.name]):
            hidden = set(f.metadata.get("exclude", ()))
            yield from ((p, g, k) for p, g, k in walk(hints[f.name], (*prefix, f.name)) if g.name not in hidden)
        else:
            yield (*prefix, f.name), f, hints[f.name]


def parameter(f: dataclasses.Field, kind: Any, panel: str | None = None) -> inspect.Parameter:
    """One Typer option (or argument) for a dataclass field, shown in the help panel `panel` (None: Options)."""
    meta, inner = f.metadata, unwrap_optional(kind)[1]
    annotation: Any
    default: Any
    scalar = inner in (int, float, str, bool)
    has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    if meta.get("repeat"):
        annotation, default = list[str], ([] if has_default else ...)
    elif scalar:
        annotation = kind
        default = f.default if f.default is not dataclasses.MISSING else ...
        if meta.get("choices") and inner is str:
            annotation = typing.Literal[tuple(map(str, meta["choices"]))]
    else:
        annotation, default = str | None, (None if has_default else ...)
    help_text = field_help(f)
    if not scalar and not meta.get("repeat") and f.default not in (None, dataclasses.MISSING):
        help_text = f"{help_text} [default: {show_value(f.default)}]"
    if meta.get("argument"):
        spec = typer.Argument(default, help=help_text, show_default=scalar)
    else:
        flag = "--" + f.name.replace("_", "-")
        decls = list(meta.get("flags", (flag,)))
        if inner is bool and not meta.get("repeat"):
            decls = [f"{flag}/--no-{flag[2:]}", *[d for d in decls if d != flag]]
        spec = typer.Option(
            default, *decls, help=help_text, show_default=scalar and default is not ..., rich_help_panel=panel
        )
    return inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=spec, annotation=annotation)


def parameters(cls: type) -> list[inspect.Parameter]:
    """The command's options for a parameter dataclass; a name used twice in the nesting is a programming error."""
    seen: dict[str, tuple[str, ...]] = {}
    out, nested_panels = [], panels(cls)
    for path, f, kind in walk(cls):
        if f.name in seen:
            raise TypeError(f"{cls.__name__}: option --{f.name} comes from {seen[f.name]} and {path}")
        seen[f.name] = path
        out.append(parameter(f, kind, nested_panels.get(path[:-1])))
    arguments = [p for p in out if isinstance(p.default, type(typer.Argument(None)))]
    return arguments + [p for p in out if p not in arguments]


def build(cls: type, values: dict[str, Any], what: str) -> Any:
    """The job's parameters from the command's values; a refused value is reported with a CLI hint."""
    try:
        return build_params(cls, values, what)
    except InvalidParams as exc:
        if exc.hint and not exc.hint.startswith("Known:"):
            raise
        raise InvalidParams(exc.message, "The command's --help lists every option with its default.") from None


def build_params(cls: type, values: dict[str, Any], what: str) -> Any:
    """The (nested) dataclass from the flat option values; None and [] mean the field's default."""
    hints, flat, nested = field_types(cls), {}, {}
    for f in dataclasses.fields(cls):
        value = values.get(f.name)
        if is_nested(hints[f.name]):
            hidden = set(f.metadata.get("exclude", ()))
            nested[f.name] = build_params(hints[f.name], {k: v for k, v in values.items() if k not in hidden}, what)
        elif value is not None and not (f.metadata.get("repeat") and not value):
            flat[f.name] = tuple(value) if f.metadata.get("repeat") else value
    made: Any = from_mapping(cls, flat, what)
    if not nested:
        return made
    try:
        return dataclasses.replace(made, **nested)
    except (TypeError, ValueError) as exc:
        raise InvalidParams(f"Invalid parameters for {what}: {exc}") from exc


def job_command(
    job: JobSpec,
    render: Render,
    *,
    extras: Sequence[Extra] = (),
    before: Callable[[typer.Context, dict[str, Any]], bool] | None = None,
    progress: Callable[[dict[str, Any]], Any] | None = None,
) -> Callable[..., None]:
    """A Typer command function that builds the job's parameters, runs it in a JobContext and renders the result.

    `before(ctx, extras)` may answer the command itself (e.g. --list) by returning True; `progress(extras)` gives a
    context manager yielding the (progress, status, note) callbacks for the run (default: notes only).
    """
    extra_names = {e.name for e in extras}

    def command(ctx: typer.Context, **values: Any) -> None:
        cli_values = {k: values.pop(k) for k in list(values) if k in extra_names}
        if before is not None and before(ctx, cli_values):
            return
        params = build(job.params, values, job.name)
        with progress(cli_values) if progress else job_progress(False) as (on_progress, on_status, on_note):
            result = job.run(JobContext(settings_of(ctx), on_progress, on_status, on_note), params)
        render(result, cli_values)

    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    extra_params = [
        inspect.Parameter(e.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=e.annotation, default=e.option)
        for e in extras
    ]
    command.__signature__ = inspect.Signature([ctx_param, *parameters(job.params), *extra_params])  # type: ignore
    command.__doc__ = f"{job.summary}\n\nExample: {job.example}" if job.example else job.summary
    command.__name__ = job.name.replace("-", "_")
    return command
