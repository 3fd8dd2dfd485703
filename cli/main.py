"""Root of the `graphstore` CLI: global options, the command table (imported lazily), and the error boundary."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from graphstore.cli.boundary import run_guarded
from graphstore.cli.context import CliState
from graphstore.cli.lazy import LazyCommand, LazyGroup

# Every root command: the cli modules whose register(app) adds it, and its one-line help (shown by --help without
# importing the command). Adding a command is adding its module and one line here.
COMMANDS = [
    LazyCommand(
        "demo",
        ("demo_cmd",),
        "Train and prune a small CNN on digits, ingest its graphs, find communities, and query hubs.",
    ),
    LazyCommand(
        "train",
        ("train_cmd",),
        "Train a model on a dataset; checkpoints to <data_dir>/runs/<run_id>/epoch_<k>.pt, metrics to the DB.",
    ),
    LazyCommand(
        "prune",
        ("prune_cmd", "prune_structured_cmd", "prune_sculpt_cmd", "prune_layers_cmd"),
        "Prune trained networks (IMP, T-IMP, structured, sculpt, layers).",
    ),
    LazyCommand(
        "ingest", ("ingest_cmd",), "Extract graphs from a checkpoint and store them (graph store + tracking DB)."
    ),
    LazyCommand(
        "extract", ("ingest_cmd",), "Extract one graph from a checkpoint and write it to a file, without a store."
    ),
    LazyCommand("analyze", ("analyze_cmd",), "Analyse a stored graph: communities, centrality, statistics."),
    LazyCommand(
        "compare",
        ("analyze_cmd",),
        "Compare two graphs on the same nodes (epochs, seeds, pruning rounds, noise levels)",
    ),
    LazyCommand(
        "query", ("query_cmd",), "Run a named Cypher query against the configured graph store and print the rows."
    ),
    LazyCommand(
        "noise", ("robustness_cmd",), "Noise robustness (003 eq. 4.1): Jaccard and CNS of the noisy latent kNN graph"
    ),
    LazyCommand(
        "topology",
        ("robustness_cmd",),
        "Zeroth-order topology (METHODS F): per-layer NP, normalised NP, kappa* (measured, and kappa_004 in 004's "
        "count), MST overlap and its bounds",
    ),
    LazyCommand(
        "modules",
        ("modules_cmd",),
        "Detect modules per level in a sculpted MLP checkpoint; compare with the Boolean task's ground truth.",
    ),
    LazyCommand(
        "experiment",
        ("experiment_cmd",),
        "Reproduce the research documents' experiments: a grid of cells, each a pipeline of jobs, one run each.",
    ),
    LazyCommand(
        "report",
        ("report_cmd",),
        "Write reports (self-contained HTML + Markdown with figures) of runs, graphs and experiments.",
    ),
    LazyCommand(
        "browse",
        ("browse_cmd",),
        "Print the Neo4j Browser address of the configured Neo4j graph store, with the connection filled in.",
    ),
    LazyCommand("runs", ("runs_cmd",), "Inspect tracked runs (training, pruning, ingestion, analyses)."),
    LazyCommand("store", ("store_cmd",), "Manage the graph store (embedded Ladybug or Neo4j)."),
    LazyCommand(
        "db", ("db_cmd",), "Create, upgrade and inspect the tracking database (SQLite by default, PostgreSQL by URL)."
    ),
    LazyCommand("config", ("config_cmd",), "Inspect configuration."),
    LazyCommand(
        "services",
        ("services_cmd",),
        "Local Neo4j (+ Browser, GDS, APOC) and PostgreSQL servers for tests and development.",
    ),
]
LazyGroup.table = {c.name: c for c in COMMANDS}

app = typer.Typer(
    name="graphstore",
    cls=LazyGroup,
    help="Train and prune networks, extract their graphs, store them in Neo4j or an embedded store, analyse them.\n\n"
    "Example: graphstore demo",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        help="TOML config file (else $GRAPHSTORE_CONFIG, ./graphstore.toml, ~/.config/graphstore/config.toml).",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Directory for embedded data (env GRAPHSTORE_DATA_DIR)."
    ),
    graph_store: str | None = typer.Option(
        None, "--graph-store", help="Embedded path or bolt:// / neo4j:// URI (env GRAPHSTORE_GRAPH_STORE)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Tracking DB URL (env GRAPHSTORE_DATABASE_URL)."
    ),
    neo4j_user: str | None = typer.Option(None, "--neo4j-user", help="Neo4j user (env GRAPHSTORE_NEO4J_USER)."),
    neo4j_password: str | None = typer.Option(
        None, "--neo4j-password", help="Neo4j password (env GRAPHSTORE_NEO4J_PASSWORD)."
    ),
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


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: run the app inside the error boundary (message + hint, exit 2; Ctrl-C, 130)."""
    return run_guarded(lambda: app(args=argv, prog_name="graphstore"))


if __name__ == "__main__":
    sys.exit(main())
