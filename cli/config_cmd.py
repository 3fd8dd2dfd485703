"""`graphstore config show`: the effective settings, secrets masked, and where each came from."""

from __future__ import annotations

import typer
from rich.table import Table

from graphstore.cli.context import console, settings_of
from graphstore.config import config_file_path

app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective settings (flags > GRAPHSTORE_* env > config file > defaults), secrets masked.

    Example: GRAPHSTORE_GRAPH_STORE=bolt://127.0.0.1:7687 graphstore config show
    """
    settings = settings_of(ctx)
    table = Table(title="graphstore settings")
    table.add_column("setting")
    table.add_column("value")
    for key, value in settings.masked().items():
        table.add_row(key, value)
    console.print(table)
    path = config_file_path(ctx.find_root().obj.config)
    console.print(f"config file: {path if path else '(none)'}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")
