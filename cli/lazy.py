"""A Typer group whose commands are imported on first use, so `graphstore --help` costs no more than Typer.

`--help` lists the commands from a static table (name, the modules that register it, its one-line help); running a
command imports only its own modules. tests/test_cli_lazy.py checks the table against the commands' docstrings.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer._click.exceptions import UsageError  # Typer vendors click: its errors are this class, not click's
from typer.core import TyperCommand, TyperGroup, TyperOption


@dataclass(frozen=True)
class LazyCommand:
    """One root command: the cli modules whose `register(app)` adds it, and its one-line help."""

    name: str
    modules: tuple[str, ...]
    help: str


def load_command(spec: LazyCommand) -> Any:
    """Import the command's modules and build its click command (a group for command groups)."""
    scratch = typer.Typer()
    for module in spec.modules:
        importlib.import_module(f"graphstore.cli.{module}").register(scratch)
    group = typer.main.get_group(scratch)
    command = group.commands.get(spec.name)
    if command is None:
        raise LookupError(f"graphstore.cli modules {spec.modules} do not register a command {spec.name!r}")
    return command


class LazyGroup(TyperGroup):
    """Root group: `--help` shows placeholders built from the table; resolving a command imports it."""

    table: dict[str, LazyCommand] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.table)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = self.table.get(cmd_name)
        if spec is None:
            return None
        return TyperCommand(name=cmd_name, help=spec.help, short_help=spec.help)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name in self.table and name not in self.commands:
            self.commands[name] = load_command(self.table[name])
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            raise with_suggestion(exc, name, list(self.table)) from None


def with_suggestion(exc: UsageError, typo: str | None, known: list[str]) -> UsageError:
    """The usage error with "Did you mean ...?" from the command table (Typer's own looks only at loaded commands)."""
    matches = get_close_matches(typo, known) if typo and "Did you mean" not in exc.message else []
    if matches:
        exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
    return exc


def flag_type_hidden(option: TyperOption, ctx: Any) -> str | None:
    """Help shows no value type after a flag (`--progress/--no-progress` takes no value, so `<bool>` misleads)."""
    if option.is_flag:
        return None
    return _DISPLAY_TYPE_RICH(option, ctx)


_DISPLAY_TYPE_RICH = TyperOption.display_type_rich
TyperOption.display_type_rich = flag_type_hidden  # type: ignore[method-assign,assignment]
