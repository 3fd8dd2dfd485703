"""`graphstore store init|status|list|drop-graph|import`: manage the configured graph store."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from graphstore.cli.adapter import job_command
from graphstore.cli.context import address_origin, console, resolved_of, settings_of
from graphstore.jobs.store_import import STORE_IMPORT, StoreImportResult
from graphstore.persist import drop_graph as drop_graph_everywhere
from graphstore.store import open_store

app = typer.Typer(help="Manage the graph store (embedded Ladybug or Neo4j).", no_args_is_help=True)


@app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the schema (constraints, indexes, tables); safe to run again.

    Example: graphstore --graph-store bolt://127.0.0.1:7687 store init
    """
    with open_store(settings_of(ctx)) as store:
        store.init_schema()
        console.print(f"Schema ready in {store.uri} ({store.dialect}).")


@app.command("list")
def list_graphs(ctx: typer.Context) -> None:
    """List stored graphs with their kind, status and counts.

    Example: graphstore store list
    """
    with open_store(settings_of(ctx)) as store:
        infos = store.list_graphs()
        table = Table(title=f"graphs in {store.uri}")
    for column in ("graph_id", "kind", "status", "nodes", "edges", "created_at"):
        table.add_column(column)
    for info in infos:
        style = "" if info.status == "complete" else "yellow"
        table.add_row(
            info.graph_id,
            info.kind,
            info.status,
            str(info.node_count),
            str(info.edge_count),
            info.created_at or "",
            style=style,
        )
    console.print(table)


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Say which store is configured, whether it answers, and how many graphs it holds.

    Example: graphstore store status
    """
    resolved = resolved_of(ctx)
    with open_store(resolved.settings) as store:
        infos = store.list_graphs()
        uri, dialect = store.uri, store.dialect
        drops = store.pending_drops()
    incomplete = [i.graph_id for i in infos if i.status != "complete"]
    console.print(f"store: {uri} ({dialect}, {address_origin(resolved, 'graph_store')}) - reachable")
    listed = f": {', '.join(incomplete)}" if incomplete else ""
    console.print(f"graphs: {len(infos)} ({len(incomplete)} incomplete{listed})")
    if drops["drops"]:
        console.print(
            f"dropped graphs still being deleted in the server's background: {drops['drops']} "
            f"({drops['nodes']:,} nodes left)"
        )


@app.command("drop-graph")
def drop_graph(ctx: typer.Context, graph_id: str = typer.Argument(..., help="The graph to delete.")) -> None:
    """Delete one graph (complete or incomplete) from the store.

    On Neo4j with APOC the graph is gone at once and its records are deleted in the server's background.

    Example: graphstore store drop-graph demo-weights
    """
    pending = drop_graph_everywhere(settings_of(ctx), graph_id)
    console.print(f"Dropped {graph_id} (store and tracking record).")
    if pending["drops"]:
        console.print(
            "Its nodes and relationships are deleted in the server's background; "
            "`graphstore store status` shows what is left."
        )


def render_import(done: StoreImportResult, _cli: dict[str, Any]) -> None:
    """What was imported, and how to start the server on it."""
    report = done.report
    console.print(
        f"Imported {', '.join(report.graph_ids)}: {report.nodes:,} nodes, {report.edges:,} relationships "
        f"(CSV {report.csv_seconds:.1f} s, import {report.import_seconds:.1f} s). Start the server: "
        f"graphstore services start --run-dir {done.run_root}"
    )
    if report.removed:
        console.print(
            f"The replaced database held {', '.join(report.removed)}: removed from tracking too "
            "(with their analyses), as from the store."
        )
    for graph_id, run_id in report.unlinked.items():
        console.print(
            f"Note: {graph_id} names run {run_id}, which is not in this tracking DB; recorded without a run link "
            "(the graph itself keeps run_id in its params)."
        )


import_command = job_command(STORE_IMPORT, render_import)
import_command.__doc__ = (
    f"{STORE_IMPORT.summary}\n\nMuch faster than writing into a running server, but it replaces "
    "the whole database and needs the server stopped: `graphstore services stop`, import, "
    "`graphstore services start`.\n\nExample: graphstore store import big.parquet --overwrite"
)
app.command("import")(import_command)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="store")
