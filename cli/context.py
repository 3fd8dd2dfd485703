"""Shared CLI state: global flags become Settings; console helpers for tables and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console

from graphstore.cli.tables import TableConsole
from graphstore.config import Resolved, Settings, mask_text, resolve_settings

console = TableConsole()  # tables never cut a header or value (cli/tables.py)
err_console = Console(stderr=True)
_resolved: list[Resolved] = []  # the running command's settings, for the error boundary's "Settings:" line


@dataclass
class CliState:
    """Global options from the root callback; settings are resolved once, on first use."""

    flags: dict[str, Any] = field(default_factory=dict)
    config: str | None = None
    _resolved: Resolved | None = None

    @property
    def resolved(self) -> Resolved:
        """The settings with where each came from; a config file from the current folder is announced on stderr."""
        if self._resolved is None:
            self._resolved = resolve_settings(self.flags, self.config)
            _resolved[:] = [self._resolved]
            found = self._resolved.config_file
            if found is not None and found.in_cwd:
                names = ", ".join(self._resolved.from_file()) or "nothing the environment or flags do not override"
                err_console.print(
                    f"Note: using the config file {found.path.absolute()} in the current folder (it sets: {names}).",
                    highlight=False,
                    markup=False,
                )
        return self._resolved

    @property
    def settings(self) -> Settings:
        return self.resolved.settings


def resolved_of(ctx: typer.Context) -> Resolved:
    """The effective settings of the running command and where each came from."""
    root = ctx.find_root()
    state = root.obj if isinstance(root.obj, CliState) else CliState()
    root.obj = state
    return state.resolved


def settings_of(ctx: typer.Context) -> Settings:
    """The effective Settings for the running command."""
    return resolved_of(ctx).settings


def graph_store_source(resolved: Resolved) -> str:
    """E.g. "graph store bolt://127.0.0.1:7687 (from ./graphstore.toml)": the address and the setting's origin."""
    return f"graph store {mask_text(resolved.settings.graph_store_uri)} ({address_origin(resolved, 'graph_store')})"


def tracking_source(resolved: Resolved) -> str:
    """E.g. "tracking DB postgresql://u:****@h/db (from $GRAPHSTORE_DATABASE_URL)", the URL masked."""
    return f"tracking DB {mask_text(resolved.settings.tracking_url)} ({address_origin(resolved, 'database_url')})"


def address_origin(resolved: Resolved, name: str) -> str:
    """E.g. "from ./graphstore.toml"; a default address lies under data_dir, so then it names data_dir's origin."""
    origin, data_dir = resolved.origin(name), resolved.origin("data_dir")
    if origin != "default":
        return f"from {origin}"
    return "default" if data_dir == "default" else f"under data_dir from {data_dir}"


def settings_line() -> str | None:
    """Where the running command's servers came from (None before settings were resolved)."""
    return f"{graph_store_source(_resolved[0])}; {tracking_source(_resolved[0])}" if _resolved else None
