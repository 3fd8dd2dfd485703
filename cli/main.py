"""Root of the `graphstore` CLI: global options, command groups, and error reporting that names the fix."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

from graphstore.cli.context import CliState, err_console
from graphstore.errors import GraphstoreError

app = typer.Typer(
    name="graphstore",
    help="Train and prune networks, extract their graphs, store them in Neo4j or an embedded store, analyse them.\n\n"
    "Example: graphstore demo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Modules under graphstore.cli; each has register(app). Adding a command group is adding one module here.
COMMAND_MODULES = [
    "config_cmd",
    "db_cmd",
    "store_cmd",
    "services_cmd",
    "query_cmd",
    "demo_cmd",
    "ingest_cmd",
    "train_cmd",
    "runs_cmd",
    "analyze_cmd",
    "prune_cmd",
    "prune_structured_cmd",
    "prune_sculpt_cmd",
    "prune_layers_cmd",
    "modules_cmd",
    "robustness_cmd",
]


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, "--config", help="TOML config file (else $GRAPHSTORE_CONFIG, "
                                       "./graphstore.toml, ~/.config/graphstore/config.toml)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Directory for embedded data "
                                         "(env GRAPHSTORE_DATA_DIR)."),
    graph_store: str | None = typer.Option(None, "--graph-store", help="Embedded path or bolt:// / neo4j:// URI "
                                           "(env GRAPHSTORE_GRAPH_STORE)."),
    database_url: str | None = typer.Option(None, "--database-url", help="Tracking DB URL "
                                            "(env GRAPHSTORE_DATABASE_URL)."),
    neo4j_user: str | None = typer.Option(None, "--neo4j-user", help="Neo4j user (env GRAPHSTORE_NEO4J_USER)."),
    neo4j_password: str | None = typer.Option(None, "--neo4j-password", help="Neo4j password "
                                              "(env GRAPHSTORE_NEO4J_PASSWORD)."),
) -> None:
    """Global options apply to every command; flags beat environment, which beats the config file."""
    flags = {
        "data_dir": data_dir,
        "graph_store": graph_store,
        "database_url": database_url,
        "neo4j_user": neo4j_user,
        "neo4j_password": neo4j_password,
    }
    ctx.obj = CliState(flags=flags, config=str(config) if config else None)


def _register() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"graphstore.cli.{name}")
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: run the app; a GraphstoreError becomes a message, a hint and exit code 2."""
    try:
        app(args=argv, prog_name="graphstore")
    except GraphstoreError as exc:
        err_console.print(f"[bold red]Error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[yellow]Hint:[/] {exc.hint}", highlight=False)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
