"""First load of graphs into a fresh, stopped local Neo4j with `neo4j-admin database import full`.

The offline importer writes store files directly (no transactions), so it beats any Bolt write on a first load of
a large graph; it needs the database stopped and replaces it entirely. The graphs are written as CSV (Arrow's
writer, no Python loop over rows) in the same shape the online store writes: every node :GraphNode plus its
label with uid, graph_id, key and its properties; relationships with their properties only; one :Graph node per
graph with status complete (the import is all or nothing). The schema (constraints, indexes) is created when the
server starts and a store connects (`Neo4jStore.init_schema`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from graphstore.errors import ServiceError
from graphstore.graph import EdgeTable, Graph, NodeTable
from graphstore.safe_fs import atomic_write_text, ensure_private_dir
from graphstore.store.base import COMPLETE, check_finite_edges, graph_node_params
from graphstore.store.embedded import uid_column

ADMIN_CLASS = "org.neo4j.server.startup.Neo4jAdminCommand"
CSV_TYPES = {"b": "boolean", "i": "long", "u": "long", "f": "double"}


@dataclass
class ImportReport:
    """What one offline import did."""

    graph_ids: list[str]
    nodes: int
    edges: int
    csv_seconds: float
    import_seconds: float
    output: str
    removed: list[str] = field(default_factory=list)  # tracked graphs of the replaced database, records removed
    unlinked: dict[str, int] = field(default_factory=dict)  # graph id -> its run, absent from the tracking DB


def _typed(name: str, values: np.ndarray) -> tuple[str, pa.Array]:
    """The CSV header of a property column (name:type) and its Arrow values."""
    kind = values.dtype.kind
    if kind in CSV_TYPES:
        return f"{name}:{CSV_TYPES[kind]}", pa.array(values)
    return name, pa.array([None if v is None else str(v) for v in values], pa.string())


def node_frame(graph: Graph, table: NodeTable) -> pa.Table:
    """One label's nodes in the importer's CSV layout."""
    n = len(table)
    columns = {
        "uid:ID": graph.uid_array(table.keys),
        "graph_id": pa.repeat(pa.scalar(graph.graph_id), n),
        "key:long": pa.array(table.keys, pa.int64()),
    }
    columns.update(_typed(name, values) for name, values in table.props.items())
    columns[":LABEL"] = pa.repeat(pa.scalar(f"GraphNode;{table.label}"), n)
    return pa.table(columns)


def edge_frame(graph: Graph, table: EdgeTable) -> pa.Table:
    """One relationship type in the importer's CSV layout (endpoints by uid)."""
    columns = {
        ":START_ID": uid_column(graph, table.src_label, table.src),
        ":END_ID": uid_column(graph, table.dst_label, table.dst),
        ":TYPE": pa.repeat(pa.scalar(table.type), len(table)),
    }
    columns.update(_typed(name, values) for name, values in table.props.items())
    return pa.table(columns)


def graph_frame(graph: Graph) -> pa.Table:
    """The :Graph node of a graph, already complete (the importer loads everything or nothing)."""
    params = graph_node_params(graph)
    progress = {
        "nodes": {k: len(t) for k, t in graph.nodes.items()},
        "edges": {k: len(t) for k, t in graph.edges.items()},
    }
    row = {
        "graph_id": params["graph_id"],
        "kind": params["kind"],
        "checkpoint": params["checkpoint"],
        "params": params["params"],
        "created_at": params["created_at"],
        "status": COMPLETE,
        "progress": json.dumps(progress),
    }
    columns = {":ID(Graph)": pa.array([graph.graph_id])}
    columns.update({name: pa.array([value], pa.string()) for name, value in row.items()})
    columns["run_id:long"] = pa.array([params["run_id"]], pa.int64())
    columns["node_count:long"] = pa.array([graph.node_count], pa.int64())
    columns["edge_count:long"] = pa.array([graph.edge_count], pa.int64())
    columns[":LABEL"] = pa.array(["Graph"])
    return pa.table(columns)


def write_csvs(graphs: Sequence[Graph], folder: Path) -> tuple[list[Path], list[Path]]:
    """CSV files (one per graph and label / type) for the importer; returns (node files, relationship files)."""
    ensure_private_dir(folder, "importer folder")
    options = pcsv.WriteOptions(quoting_style="needed")
    node_files, rel_files = [], []
    for i, graph in enumerate(graphs):
        graph.validate()
        check_finite_edges(graph)
        frames = [(f"g{i}-Graph", graph_frame(graph))]
        frames += [(f"g{i}-{label}", node_frame(graph, table)) for label, table in sorted(graph.nodes.items())]
        for name, frame in frames:
            pcsv.write_csv(frame, folder / f"{name}.nodes.csv", options)
            node_files.append(folder / f"{name}.nodes.csv")
        for rel_type, table in sorted(graph.edges.items()):
            pcsv.write_csv(edge_frame(graph, table), folder / f"g{i}-{rel_type}.rels.csv", options)
            rel_files.append(folder / f"g{i}-{rel_type}.rels.csv")
    return node_files, rel_files


def run_import(
    home: Path,
    dist: Path,
    node_files: list[Path],
    rel_files: list[Path],
    *,
    database: str = "neo4j",
    java: str = "java",
    timeout: float = 3600,
) -> str:
    """`neo4j-admin database import full` of a Neo4j home (NEO4J_HOME/conf) with the distribution's jars."""
    cmd = [
        java,
        "-cp",
        f"{dist / 'lib'}/*",
        ADMIN_CLASS,
        "database",
        "import",
        "full",
        database,
        *(f"--nodes={p}" for p in node_files),
        *(f"--relationships={p}" for p in rel_files),
        "--overwrite-destination=true",
        "--skip-duplicate-nodes=false",
        "--bad-tolerance=0",
        f"--report-file={home / 'import.report'}",
    ]
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("JAVA_OPTS", "HEAP_SIZE")},
        "NEO4J_HOME": str(home),
        "NEO4J_CONF": str(home / "conf"),
    }
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, umask=0o077)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "IMPORT DONE" not in output:
        raise ServiceError(
            f"neo4j-admin import failed (exit {proc.returncode}):\n{output[-3000:]}",
            "Stop the server first (`graphstore services stop`); the import replaces the whole "
            "database, so it is meant for a first load into a fresh server.",
        )
    return output


def importer_home(home: Path) -> Path:
    """A Neo4j home for the importer that shares home's data dir and memory settings (its own conf and logs), in
    private folders of ours (no symlink followed), so the CSV copies of the graphs are readable by the owner only."""
    tool = home / "import" / "graphstore-admin"
    for folder in (home / "import", tool, tool / "conf", tool / "csv"):
        ensure_private_dir(folder, "importer folder")
    conf = home / "conf" / "neo4j.conf"
    kept = [
        line
        for line in (conf.read_text().splitlines() if conf.exists() else [])
        if line.startswith(("server.memory.", "dbms.memory.", "server.jvm."))
    ]
    lines = [
        *kept,
        f"server.directories.data={home / 'data'}",
        f"server.directories.logs={tool / 'logs'}",
        f"server.directories.run={tool / 'run'}",
    ]
    atomic_write_text(tool / "conf" / "neo4j.conf", "\n".join(lines) + "\n", mode=0o600)
    return tool


def import_offline(
    graphs: Sequence[Graph], home: Path, dist: Path, *, database: str = "neo4j", java: str = "java"
) -> ImportReport:
    """Write the graphs as CSV under home/import and import them into home's stopped database, replacing it.

    home is a Neo4j home as `graphstore services` lays it out (conf/, data/); the server must not be running.
    """
    tool = importer_home(home)
    start = time.perf_counter()
    node_files, rel_files = write_csvs(graphs, tool / "csv")
    csv_seconds = time.perf_counter() - start
    output = run_import(tool, dist, node_files, rel_files, database=database, java=java)
    for path in (*node_files, *rel_files):
        path.unlink(missing_ok=True)
    return ImportReport(
        [g.graph_id for g in graphs],
        sum(g.node_count for g in graphs),
        sum(g.edge_count for g in graphs),
        csv_seconds,
        time.perf_counter() - start - csv_seconds,
        output,
    )
