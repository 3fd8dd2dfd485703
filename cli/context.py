"""Shared CLI state: global flags become Settings; console helpers for tables and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console

from graphstore.config import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    """Global options from the root callback; settings are resolved once, on first use."""

    flags: dict[str, Any] = field(default_factory=dict)
    config: str | None = None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.flags, self.config)
        return self._settings


def settings_of(ctx: typer.Context) -> Settings:
    """The effective Settings for the running command."""
    root = ctx.find_root()
    state = root.obj if isinstance(root.obj, CliState) else CliState()
    root.obj = state
    return state.settings
