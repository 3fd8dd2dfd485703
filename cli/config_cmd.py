"""`graphstore config show`: the effective settings, secrets masked, and where each came from."""

from __future__ import annotations

import typer
from rich.table import Table

from graphstore.cli.context import address_origin, console, resolved_of

app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)
DERIVED = {"graph_store (effective)": "graph_store", "database_url (effective)": "database_url"}


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective settings (flags > GRAPHSTORE_* env > config file > defaults), secrets masked, and
    where each came from (a flag, a variable, the config file, or the default).

    Example: GRAPHSTORE_GRAPH_STORE=bolt://127.0.0.1:7687 graphstore config show
    """
    resolved = resolved_of(ctx)
    table = Table(title="graphstore settings")
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for key, value in resolved.settings.masked().items():
        origin = address_origin(resolved, DERIVED[key]) if key in DERIVED else resolved.origin(key)
        table.add_row(key, value, origin)
    console.print(table)
    found = resolved.config_file
    where = f"{found.path.absolute()} ({found.chosen_by})" if found else "(none)"
    console.print(f"config file: {where}", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="config")
