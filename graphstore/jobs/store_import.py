"""The store-import job: a first load of large graph files into the stopped local Neo4j with neo4j-admin's offline
importer (much faster than writing into a running server; it replaces the whole database), recorded in tracking."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graphstore import services
from graphstore.errors import GraphExists, ServiceError
from graphstore.extract.files import read_parquet
from graphstore.graph import Graph
from graphstore.jobs.base import JobContext, JobSpec, register
from graphstore.services import neo4j_dist
from graphstore.services.neo4j_server import neo4j_status
from graphstore.store.neo4j_import import ImportReport, import_offline


@dataclass(frozen=True)
class StoreImportParams:
    """First load of large graphs into the stopped local Neo4j with neo4j-admin's offline importer."""

    files: tuple[str, ...] = field(
        metadata={
            "help": "Graph files written by `graphstore extract` (.parquet or .zip).",
            "argument": True,
            "repeat": True,
        }
    )
    run_dir: str | None = field(
        default=None, metadata={"help": "Run root of the local servers (default: <data_dir>/services)."}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Replace the server's existing database (all its graphs)."}
    )


@dataclass
class StoreImportResult:
    """What the importer loaded, and the run root whose server to start next."""

    report: ImportReport
    run_root: Path


def check_importable(home: Path, run_root: Path, overwrite: bool) -> dict:
    """The server's state, once sure the offline importer may write its database: stopped, and empty or overwritten."""
    state = neo4j_status(home)
    if state["running"]:
        raise ServiceError(
            f"The Neo4j server of {home} is running; the offline importer needs it stopped.",
            f"Stop it (`graphstore services stop --run-dir {run_root}`), import, then start it again.",
        )
    if (home / "data" / "databases" / "neo4j").exists() and not overwrite:
        raise GraphExists(
            f"The Neo4j database in {home} already exists; an offline import replaces it whole (every graph in it).",
            "Pass --overwrite to replace it, or write into the running server with `graphstore ingest` instead.",
        )
    return state


def import_offline_tracked(
    context: JobContext, graphs: list[Graph], run_root: Path, *, overwrite: bool = False
) -> ImportReport:
    """Import into the stopped local Neo4j of `graphstore services`, with each graph's tracking record following
    (writing -> complete, or failed); an existing database needs overwrite, since the import replaces it whole."""
    home = Path(run_root).expanduser().resolve() / "neo4j"
    state = check_importable(home, run_root, overwrite)
    dist = Path(state["dist"]) if state.get("dist") else neo4j_dist.ensure_dist()
    with context.open_tracking() as tracking:
        for graph in graphs:
            tracking.begin_graph(
                graph.graph_id,
                graph.kind,
                graph.params,
                f"neo4j-admin import into {home}",
                run_id=graph.run_id,
                replace=True,
            )
        try:
            report = import_offline(graphs, home, dist)
        except BaseException as exc:
            for graph in graphs:
                tracking.fail_graph(graph.graph_id, f"{type(exc).__name__}: {exc}"[:2000], status="failed")
            raise
        seconds = (report.csv_seconds + report.import_seconds) / max(len(graphs), 1)
        for graph in graphs:
            tracking.finish_graph(graph.graph_id, graph.node_count, graph.edge_count, seconds)
    return report


def run_store_import(context: JobContext, params: StoreImportParams) -> StoreImportResult:
    """Read the files, then import them into the local server's (stopped) database."""
    settings = context.settings
    root = Path(params.run_dir) if params.run_dir else services.default_run_root(settings.data_dir)
    root = root.expanduser().resolve()
    check_importable(root / "neo4j", root, params.overwrite)  # before reading what may be gigabytes
    context.status(f"reading {len(params.files)} graph file(s) ...")
    graphs = [read_parquet(Path(f)) for f in params.files]
    return StoreImportResult(import_offline_tracked(context, graphs, root, overwrite=params.overwrite), root)


STORE_IMPORT = JobSpec(
    "store-import",
    StoreImportParams.__doc__ or "",
    StoreImportParams,
    run_store_import,
    "graphstore store import big.parquet --overwrite",
)
register(STORE_IMPORT)
