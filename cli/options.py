"""Typer options generated from parameter dataclasses (graphstore.nn.params): one --option per field.

Lives in cli/ so that graphstore.nn never imports typer; the dataclasses stay the single source of the
options' names, help, defaults and choices.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Iterable
from typing import Any

import typer

from graphstore.nn.params import field_help, field_types, show_value


def cli_parameters(cls: type, exclude: Iterable[str] = ()) -> list[Any]:
    """One typer option (an inspect.Parameter) per dataclass field: --kebab-name, help, default, choices.

    Scalars keep their type (bools become --x/--no-x flags); other types are taken as text and parsed by
    `from_mapping` (e.g. "0,1,5" for a tuple of epochs); their default is None, meaning the dataclass default.
    """
    hints, out = field_types(cls), []
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        kind, flag = hints[f.name], "--" + f.name.replace("_", "-")
        choices = f.metadata.get("choices")
        scalar = kind in (int, float, str, bool)
        default = f.default if scalar and f.default is not dataclasses.MISSING else None
        decl = f"{flag}/--no-{flag[2:]}" if kind is bool else flag
        shown = scalar or f.default in (None, dataclasses.MISSING)
        text = field_help(f) if shown else f"{field_help(f)} [default: {show_value(f.default)}]"
        option = typer.Option(default, decl, help=text, show_default=scalar)
        annotation = typing.Literal[tuple(map(str, choices))] if choices and kind is str else kind  # noqa
        out.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=annotation if scalar else str | None,
            )
        )
    return out
