"""The embedded graph store: Ladybug (the maintained Kuzu fork), Cypher in-process, no server.

Each node and edge table is written with one bulk `COPY` (Ladybug's fast path) in a transaction that also records
progress, and is skipped when the progress already holds it (replay-safe). The rows reach the COPY through a
temporary Parquet file written in Arrow pieces of `copy_rows` rows, so this process holds one piece, not the
table: splitting a table across several COPYs instead was slower per row after the first (Ladybug merges each
later COPY into the existing adjacency lists; bench/RESULTS.md). Edges are copied in source order (faster
adjacency builds).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphstore.errors import GraphExists, StoreUnavailable
from graphstore.graph import EdgeTable, Graph, NodeTable
from graphstore.safe_fs import check_data_file
from graphstore.store.base import (
    CREATE_GRAPH_NODE,
    Batch,
    GraphInfo,
    GraphStore,
    QueryResult,
    batches,
    check_batch_size,
    graph_node_params,
    info_from_record,
    record_batch,
)
from graphstore.store.schema import schema_statements

GRAPH_FIELDS = (
    "graph_id",
    "kind",
    "run_id",
    "checkpoint",
    "params",
    "created_at",
    "status",
    "progress",
    "node_count",
    "edge_count",
    "error",
)
BASE_NODE_COLUMNS = ("uid", "graph_id", "key")
COPY_ROWS = 500_000
PARQUET_ROW_GROUP = 100_000


def ladybug_type(values: np.ndarray) -> str:
    """The Ladybug column type for a numpy column."""
    kind = values.dtype.kind
    if kind == "b":
        return "BOOLEAN"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "DOUBLE"
    return "STRING"


def arrow_column(values: np.ndarray | None, type_name: str, n: int) -> pa.Array:
    """An Arrow array for a column of the declared Ladybug type (all nulls when the graph lacks it)."""
    arrow_type = {"BOOLEAN": pa.bool_(), "INT64": pa.int64(), "DOUBLE": pa.float64()}.get(type_name, pa.string())
    if values is None:
        return pa.nulls(n, arrow_type)
    if arrow_type == pa.string():
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.array(values, arrow_type)


class EmbeddedStore(GraphStore):
    """Graphs in a Ladybug database directory on local disk."""

    dialect = "ladybug"

    def __init__(
        self, path: str | Path, batch_size: int = 20_000, read_only: bool = False, copy_rows: int = COPY_ROWS
    ) -> None:
        super().__init__(batch_size)
        self.copy_rows = check_batch_size(copy_rows)
        import ladybug  # deferred: only an open embedded store needs the engine, not users of its helpers

        self.path = Path(path).expanduser()
        self.uri = str(self.path)
        check_data_file(self.path, "embedded graph store")  # its WAL and lock files are created beside it by name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = ladybug.Database(str(self.path), read_only=read_only)
        except RuntimeError as exc:
            raise StoreUnavailable(
                f"Cannot open the embedded graph store at {self.path}: {exc}",
                "Another graphstore process may hold it open; close it, or pass another --graph-store path.",
            ) from exc
        self._conn = ladybug.Connection(self._db)
        self.init_schema()

    def close(self) -> None:
        self._conn.close()
        self._db.close()

    # ---- basics -----------------------------------------------------------------------------------------
    def init_schema(self) -> None:
        for statement in schema_statements("ladybug"):
            self._conn.execute(statement)

    def _run(self, cypher: str, params: dict[str, Any] | None = None) -> Any:
        """Ladybug's result of one statement (it answers a list only for several statements: the last counts)."""
        result = self._conn.execute(cypher, params or {})
        return result[-1] if isinstance(result, list) else result

    def execute(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult:
        result = self._run(cypher, params)
        return QueryResult(list(result.get_column_names()), [list(r) for r in result.get_all()])

    def _columns(self, table: str) -> dict[str, str]:
        rows = self.execute(f"CALL table_info('{table}') RETURN *").records()
        return {r["name"]: r["type"] for r in rows}

    def _tables(self, kind: str) -> list[str]:
        return [r["name"] for r in self.execute("CALL show_tables() RETURN *").records() if r["type"] == kind]

    def _connections(self, rel_type: str) -> list[tuple[str, str]]:
        rows = self.execute(f"CALL show_connection('{rel_type}') RETURN *").rows
        return [(r[0], r[1]) for r in rows]

    # ---- graph nodes --------------------------------------------------------------------------------------
    def graph_info(self, graph_id: str) -> GraphInfo | None:
        cols = ", ".join(f"g.{f} AS {f}" for f in GRAPH_FIELDS)
        recs = self.execute(f"MATCH (g:Graph) WHERE g.graph_id = $id RETURN {cols}", {"id": graph_id}).records()
        return info_from_record(recs[0]) if recs else None

    def list_graphs(self) -> list[GraphInfo]:
        cols = ", ".join(f"g.{f} AS {f}" for f in GRAPH_FIELDS)
        recs = self.execute(f"MATCH (g:Graph) RETURN {cols} ORDER BY g.created_at DESC, g.graph_id").records()
        return [info_from_record(r) for r in recs]

    def _create_graph_node(self, graph: Graph) -> None:
        self.execute(CREATE_GRAPH_NODE, graph_node_params(graph))

    def _set_graph_fields(self, graph_id: str, fields: dict[str, Any]) -> None:
        sets = ", ".join(f"g.`{name}` = ${name}" for name in fields)
        self.execute(f"MATCH (g:Graph) WHERE g.graph_id = $graph_id SET {sets}", {"graph_id": graph_id, **fields})

    def _checked_progress(self, graph_id: str, progress: dict) -> dict:
        """Progress checked against the rows stored: after a SIGKILL around a COMMIT, Ladybug's recovery can keep the
        progress a COPY recorded and lose the COPY's rows, so a table whose rows are all gone is copied again (each
        table is one COPY: all or nothing); rows that the progress does not account for are refused, not resumed."""
        checked = {**progress, "nodes": dict(progress.get("nodes") or {}), "edges": dict(progress.get("edges") or {})}
        counts = {
            "nodes": ("NODE", "MATCH (n:{}) WHERE n.graph_id = $g RETURN count(*)"),
            "edges": ("REL", "MATCH ()-[r:{}]->() WHERE r.graph_id = $g RETURN count(*)"),
        }
        for part, (kind, cypher) in counts.items():
            tables = [t for t in self._tables(kind) if t != "Graph"]
            for name in tables:
                checked[part].setdefault(name, 0)
            for name, claimed in list(checked[part].items()):
                held = self._count(cypher.format(name), graph_id) if name in tables else 0
                if held == 0:
                    del checked[part][name]
                elif held != claimed:
                    raise GraphExists(
                        f"Cannot resume {graph_id}: its progress records {claimed} {name} rows but the store holds "
                        f"{held}.",
                        "Pass --replace to write the graph again from scratch.",
                    )
        if checked != progress:
            self._set_graph_fields(graph_id, {"progress": json.dumps(checked)})
        return checked

    def _delete_graph(self, graph_id: str) -> None:
        for label in self._tables("NODE"):
            if label != "Graph":
                self.execute(f"MATCH (n:{label}) WHERE n.graph_id = $g DETACH DELETE n", {"g": graph_id})
        self.execute("MATCH (g:Graph) WHERE g.graph_id = $g DELETE g", {"g": graph_id})

    # ---- schema on demand -----------------------------------------------------------------------------------
    def _ensure_node_table(self, table: NodeTable) -> dict[str, str]:
        self.execute(
            f"CREATE NODE TABLE IF NOT EXISTS {table.label}(uid STRING, graph_id STRING, key INT64, PRIMARY KEY(uid))"
        )
        return self._ensure_props(table.label, table.props)

    def _ensure_rel_table(self, table: EdgeTable) -> dict[str, str]:
        self.execute(
            f"CREATE REL TABLE IF NOT EXISTS {table.type}(FROM {table.src_label} TO {table.dst_label}, graph_id STRING)"
        )
        if (table.src_label, table.dst_label) not in self._connections(table.type):
            raise ValueError(
                f"Relationship {table.type} is declared between other labels "
                f"{self._connections(table.type)}, not {table.src_label}->{table.dst_label}."
            )
        return self._ensure_props(table.type, table.props)

    def _ensure_props(self, table_name: str, props: dict[str, np.ndarray]) -> dict[str, str]:
        columns = self._columns(table_name)
        for name, values in props.items():
            wanted = ladybug_type(values)
            if name not in columns:
                self.execute(f"ALTER TABLE {table_name} ADD `{name}` {wanted}")
                columns[name] = wanted
            elif _canonical(columns[name]) != wanted and not (columns[name] == "DOUBLE" and wanted == "INT64"):
                raise ValueError(f"Property {table_name}.{name} is stored as {columns[name]}, this graph has {wanted}.")
        return columns

    # ---- writes -------------------------------------------------------------------------------------------
    def node_batch_rows(self, table: NodeTable) -> int:
        return max(len(table), 1)

    def edge_batch_rows(self, table: EdgeTable) -> int:
        return max(len(table), 1)

    def _scratch_dir(self) -> str | None:
        """Where COPY source files go: beside the database (same disk), unless its path would need quoting."""
        parent = str(self.path.parent)
        return None if any(c in parent for c in "'\\") else parent

    def _copy(
        self, table_name: str, pieces: Iterator[pa.Table], graph_id: str, batch: Batch, options: str = ""
    ) -> bool:
        """Stream the pieces into a Parquet file and COPY it, with the progress after it, in one transaction.

        Skipped (False) when the progress already holds the batch. One COPY per table: Ladybug copies into a
        relationship table that already holds rows much more slowly, so the table is not split across COPYs;
        the file keeps this process's memory at one piece.
        """
        self._conn.execute("BEGIN TRANSACTION")
        try:
            stored = self._run("MATCH (g:Graph) WHERE g.graph_id = $g RETURN g.progress", {"g": graph_id}).get_all()
            progress = record_batch(json.loads(stored[0][0] or "{}") if stored else {}, batch)
            if progress is None:
                self._conn.execute("ROLLBACK")
                return False
            with tempfile.TemporaryDirectory(prefix=".graphstore-copy-", dir=self._scratch_dir()) as tmp:
                source = Path(tmp) / "rows.parquet"
                _write_parquet(source, pieces)
                self._conn.execute(f"COPY {table_name} FROM '{source}'{options}")
            self._conn.execute(
                "MATCH (g:Graph) WHERE g.graph_id = $g SET g.progress = $p", {"g": graph_id, "p": json.dumps(progress)}
            )
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(RuntimeError):  # a failed COPY may already have ended the transaction
                self._conn.execute("ROLLBACK")
            raise
        return True

    def _write_nodes(self, graph: Graph, table: NodeTable, batch: Batch) -> bool:
        columns = self._ensure_node_table(table)

        def pieces() -> Iterator[pa.Table]:
            for lo, hi in batches(len(table), self.copy_rows):
                keys = table.keys[lo:hi]
                data = {
                    "uid": graph.uid_array(keys),
                    "graph_id": pa.repeat(pa.scalar(graph.graph_id), hi - lo),
                    "key": pa.array(keys, pa.int64()),
                }
                for name, type_name in columns.items():
                    if name not in BASE_NODE_COLUMNS:
                        values = table.props.get(name)
                        data[name] = arrow_column(None if values is None else values[lo:hi], type_name, hi - lo)
                yield pa.table(data)

        return self._copy(table.label, pieces(), graph.graph_id, batch)

    def _write_edges(self, graph: Graph, table: EdgeTable, batch: Batch) -> bool:
        columns = self._ensure_rel_table(table)
        order = np.argsort(table.src, kind="stable")  # Ladybug builds adjacency lists faster from sorted input

        def pieces() -> Iterator[pa.Table]:
            for lo, hi in batches(len(table), self.copy_rows):
                rows = order[lo:hi]
                data = {
                    "from": uid_column(graph, table.src_label, table.src[rows]),
                    "to": uid_column(graph, table.dst_label, table.dst[rows]),
                    "graph_id": pa.repeat(pa.scalar(graph.graph_id), hi - lo),
                }
                for name, type_name in columns.items():
                    if name != "graph_id":
                        values = table.props.get(name)
                        data[name] = arrow_column(None if values is None else values[rows], type_name, hi - lo)
                yield pa.table(data)

        options = ""
        if len(self._connections(table.type)) > 1:
            options = f" (from='{table.src_label}', to='{table.dst_label}')"
        return self._copy(table.type, pieces(), graph.graph_id, batch, options)

    def _set_node_props(self, graph_id: str, label: str, keys: np.ndarray, props: dict[str, np.ndarray]) -> None:
        self._ensure_props(label, props)
        uids = [f"{graph_id}:{int(k)}" for k in keys]
        columns = {name: np.asarray(values).tolist() for name, values in props.items()}
        rows = [{"uid": uid, **{name: col[i] for name, col in columns.items()}} for i, uid in enumerate(uids)]
        sets = ", ".join(f"n.`{name}` = r.`{name}`" for name in props)
        self.execute(f"UNWIND $rows AS r MATCH (n:{label}) WHERE n.uid = r.uid SET {sets}", {"rows": rows})

    # ---- reads --------------------------------------------------------------------------------------------
    def _count(self, cypher: str, graph_id: str) -> int:
        return int(self.execute(cypher, {"g": graph_id}).rows[0][0])

    def _stored_labels(self, graph_id: str) -> list[str]:
        return [
            label
            for label in sorted(self._tables("NODE"))
            if label != "Graph" and self._count(f"MATCH (n:{label}) WHERE n.graph_id = $g RETURN count(*)", graph_id)
        ]

    def _stored_types(self, graph_id: str) -> list[str]:
        return [
            t
            for t in sorted(self._tables("REL"))
            if self._count(f"MATCH ()-[r:{t}]->() WHERE r.graph_id = $g RETURN count(*)", graph_id)
        ]

    def stored_types(self, graph_id: str) -> dict[str, list[str]]:
        out = {}
        for rel_type in sorted(self._tables("REL")):
            names = sorted(c for c in self._columns(rel_type) if c != "graph_id")
            counts = "".join(f", count(r.`{c}`)" for c in names)  # count(x) skips nulls: columns this graph uses
            row = self.execute(
                f"MATCH ()-[r:{rel_type}]->() WHERE r.graph_id = $g RETURN count(*){counts}", {"g": graph_id}
            ).rows[0]
            if row[0]:
                out[rel_type] = [c for c, n in zip(names, row[1:], strict=True) if n]
        return out

    def _read_nodes(self, graph_id: str, label: str) -> NodeTable:
        names = [c for c in self._columns(label) if c not in ("uid", "graph_id")]
        cols = ", ".join(f"n.`{c}` AS `{c}`" for c in names)
        result = self._run(
            f"MATCH (n:{label}) WHERE n.graph_id = $g RETURN {cols} ORDER BY n.key", {"g": graph_id}
        ).get_as_arrow()
        props = {c: _to_numpy(result.column(c)) for c in names if c != "key"}
        props = {c: v for c, v in props.items() if not _all_null(v)}
        return NodeTable(label, result.column("key").to_numpy(), props)

    def _read_edges(self, graph_id: str, rel_type: str) -> EdgeTable | None:
        names = [c for c in self._columns(rel_type) if c != "graph_id"]
        extra = "".join(f", r.`{c}` AS `{c}`" for c in names)
        for src_label, dst_label in self._connections(rel_type):
            result = self._run(
                f"MATCH (a:{src_label})-[r:{rel_type}]->(b:{dst_label}) WHERE r.graph_id = $g "
                f"RETURN a.key AS src, b.key AS dst{extra}",
                {"g": graph_id},
            ).get_as_arrow()
            if result.num_rows:
                props = {c: _to_numpy(result.column(c)) for c in names}
                props = {c: v for c, v in props.items() if not _all_null(v)}
                return EdgeTable(
                    rel_type,
                    src_label,
                    dst_label,
                    result.column("src").to_numpy(),
                    result.column("dst").to_numpy(),
                    props,
                )
        return None


def _write_parquet(path: Path, pieces: Iterator[pa.Table]) -> None:
    """Write Arrow pieces one after another as row groups of one Parquet file (memory: one piece)."""
    writer = None
    try:
        for piece in pieces:
            if writer is None:
                writer = pq.ParquetWriter(path, piece.schema, compression="snappy", use_dictionary=["graph_id"])
            writer.write_table(piece, row_group_size=PARQUET_ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


def _canonical(type_name: str) -> str:
    """Ladybug reports BOOLEAN columns as BOOL; compare types by one name."""
    return "BOOLEAN" if type_name == "BOOL" else type_name


def uid_column(graph: Graph, label: str, keys: np.ndarray) -> pa.Array:
    """uids of edge endpoints: the label's node uids built once, then gathered by position (no per-edge strings)."""
    node_keys = graph.nodes[label].keys
    if len(node_keys) and node_keys[0] == 0 and np.array_equal(node_keys, np.arange(len(node_keys))):
        return pc.take(graph.uid_array(node_keys), pa.array(keys))
    order = np.argsort(node_keys, kind="stable")
    return pc.take(graph.uid_array(node_keys[order]), pa.array(np.searchsorted(node_keys, keys, sorter=order)))


def _to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """Arrow column to numpy; strings and columns with nulls become object arrays."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or column.null_count:
        return np.asarray(column.to_pylist(), dtype=object)
    return column.to_numpy()


def _all_null(values: np.ndarray) -> bool:
    return values.dtype == object and all(v is None for v in values)
