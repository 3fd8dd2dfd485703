"""The store-import job: a first load of large graph files into the stopped local Neo4j with neo4j-admin's offline
importer (much faster than writing into a running server; it replaces the whole database), recorded in tracking."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from graphstore import services
from graphstore.errors import GraphExists, ServiceError
from graphstore.extract.files import read_parquet
from graphstore.graph import Graph
from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.safe_fs import check_private_dir, ensure_private_dir
from graphstore.services import neo4j_dist
from graphstore.services.neo4j_server import neo4j_status
from graphstore.store.neo4j_import import ImportReport, import_offline
from graphstore.tracking.repo import Tracking


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


def import_label(home: Path) -> str:
    """What tracking records as the store of graphs the offline importer loaded into home."""
    return f"neo4j-admin import into {home}"


def replaced_graphs(tracking: Tracking, home: Path, state: dict) -> list[str]:
    """Tracked graphs of the database an import replaces: loaded into home offline, or written to its server at
    the address of its last start (earlier starts used other ports, which tracking cannot tie to home)."""
    uris = {import_label(home), *(state[k] for k in ("bolt_uri",) if state.get(k))}
    return [g.graph_id for g in tracking.list_graphs() if g.store_uri in uris]


def run_links(tracking: Tracking, graphs: list[Graph]) -> dict[str, int]:
    """Graph id -> run id of the bundles whose run this tracking DB does not hold (recorded without the link)."""
    runs = {g.run_id for g in graphs if g.run_id is not None}
    missing = {r for r in runs if tracking.get_run(r) is None}
    return {g.graph_id: g.run_id for g in graphs if g.run_id in missing}


def private_home(run_root: Path) -> Path:
    """The Neo4j home inside run_root, both private folders (0700) of ours, never reached through a symlink."""
    home = run_root / "neo4j"
    for folder in (run_root, home):
        ensure_private_dir(folder, "Neo4j run dir")
        os.chmod(folder, 0o700)  # checked above: ours and no symlink; an imported database is for its owner only
    return home


def import_offline_tracked(
    context: JobContext, graphs: list[Graph], run_root: Path, *, overwrite: bool = False
) -> ImportReport:
    """Import into the stopped local Neo4j of `graphstore services`, with each graph's tracking record following
    (writing -> complete, or failed); an existing database needs overwrite, since the import replaces it whole.

    Tracked graphs of the replaced database are marked incomplete first and their records removed once the import
    succeeded, so tracking never lists a graph as complete that the store no longer holds. A bundle whose run is not
    in this tracking DB is recorded without the run link (report.unlinked says which).
    """
    home = private_home(Path(run_root).expanduser().absolute())
    state = check_importable(home, run_root, overwrite)
    dist = Path(state["dist"]) if state.get("dist") else neo4j_dist.ensure_dist()
    with context.open_tracking() as tracking:
        ids = {g.graph_id for g in graphs}
        gone = [i for i in replaced_graphs(tracking, home, state) if i not in ids]
        for graph_id in gone:
            tracking.fail_graph(graph_id, f"being replaced by an offline import into {home}")
        unlinked = run_links(tracking, graphs)
        for graph in graphs:
            run_id = None if graph.graph_id in unlinked else graph.run_id
            tracking.begin_graph(
                graph.graph_id, graph.kind, graph.params, import_label(home), run_id=run_id, replace=True
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
        for graph_id in gone:
            tracking.drop_graph(graph_id)
    report.removed, report.unlinked = gone, unlinked
    return report


def run_store_import(context: JobContext, params: StoreImportParams) -> StoreImportResult:
    """Read the files, then import them into the local server's (stopped) database."""
    settings = context.settings
    root = Path(params.run_dir) if params.run_dir else services.default_run_root(settings.data_dir)
    root = root.expanduser().absolute()  # not resolve(): a symlinked run dir is refused, not followed
    check_private_dir(root, "Neo4j run dir")  # a planted or foreign run dir: refused before any work
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
JOBS.register(STORE_IMPORT)
