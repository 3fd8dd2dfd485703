"""`graphstore query NAME --param key=value`: run a named query from cypher/queries on the configured store."""

from __future__ import annotations

import typer
from rich.table import Table

from graphstore.cli.context import console, settings_of
from graphstore.cli.output import OutputFormat, print_result
from graphstore.errors import QueryError
from graphstore.store import open_store
from graphstore.store.queries import get_query, load_catalog


def parse_params(items: list[str]) -> dict[str, str]:
    """`key=value` strings to a dict; a malformed item is a QueryError naming it."""
    out = {}
    for item in items:
        if "=" not in item:
            raise QueryError(f"--param {item!r} is not key=value.", "Example: --param graph_id=demo-weights")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def list_queries() -> None:
    """Print every named query with its parameters."""
    table = Table(title="named queries (cypher/queries)")
    for column in ("name", "parameters", "description", "dialects"):
        table.add_column(column)
    for query in load_catalog().values():
        dialects = "both" if "any" in query.texts else ", ".join(sorted(query.texts))
        table.add_row(query.name, query.signature(), query.description, dialects)
    console.print(table)


def query(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Query name (see --list)."),
    param: list[str] = typer.Option([], "--param", "-p", help="Query parameter as key=value (repeatable)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="Output format."),
    list_all: bool = typer.Option(False, "--list", help="List the named queries and their parameters."),
) -> None:
    """Run a named Cypher query against the configured graph store and print the rows.

    Example: graphstore query hubs --param graph_id=demo-weights --param limit=5 --format csv
    """
    if list_all or not name:
        list_queries()
        return
    given = parse_params(param)
    get_query(name).bind(given)  # name and parameter values checked before connecting
    with open_store(settings_of(ctx)) as store:
        result = store.run_query(name, given)
    print_result(result, fmt, title=f"{name} ({store.uri})")


def register(root: typer.Typer) -> None:
    root.command("query")(query)
