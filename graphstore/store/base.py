"""The GraphStore contract and the write orchestration both backends share.

A write marks the graph `writing` on its :Graph node, writes node tables then edge tables in batches, records
progress after each batch (in the batch's own transaction where the backend has them), and ends `complete`. A
failure or interrupt leaves it `incomplete` with its progress, so it can be resumed or dropped - never shown as
complete. A batch commits only if the stored progress does not already hold its rows, so a retried batch (its
first commit acknowledged or not) never duplicates nodes or relationships.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from graphstore.errors import ConfigError, GraphExists, GraphNotFound, InvalidGraph
from graphstore.graph import EdgeTable, Graph, NodeTable, check_graph_id, check_identifier
from graphstore.store.queries import run_named

COMPLETE, WRITING, INCOMPLETE = "complete", "writing", "incomplete"
ProgressCallback = Callable[[str, int, int], None]


@dataclass
class GraphInfo:
    """What a store knows about one stored graph (from its :Graph node)."""

    graph_id: str
    kind: str
    status: str
    node_count: int = 0
    edge_count: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, dict[str, int]] = field(default_factory=dict)
    run_id: int | None = None
    checkpoint: str | None = None
    created_at: str | None = None
    error: str | None = None


@dataclass
class QueryResult:
    """Rows of a query with their column names."""

    columns: list[str]
    rows: list[list[Any]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class WriteReport:
    """What one write did."""

    graph_id: str
    nodes: int
    edges: int
    seconds: float
    resumed: bool


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_batch_size(value: Any) -> int:
    """A batch size is a positive whole number of rows; anything else is a ConfigError naming the fix."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(
            f"batch_size must be a positive number of rows, got {value!r}.",
            "Set batch_size in the config file, GRAPHSTORE_BATCH_SIZE or --batch-size to a positive "
            "number, e.g. 20000.",
        )
    return int(value)


def batches(n: int, size: int, start: int = 0) -> Iterator[tuple[int, int]]:
    """[start, stop) ranges covering start..n in steps of size: never empty, never overlapping."""
    size = check_batch_size(size)
    for lo in range(max(start, 0), n, size):
        yield lo, min(lo + size, n)


@dataclass(frozen=True)
class Batch:
    """Rows [lo, hi) of one node table (part 'nodes') or edge table (part 'edges')."""

    part: str
    name: str
    lo: int
    hi: int


def _ahead_key(part: str, name: str) -> str:
    return f"{part}/{name}"


def record_batch(progress: dict, batch: Batch) -> dict | None:
    """Progress with the batch's rows recorded, or None when any of them already are (a replayed batch).

    progress[part][name] is the count of rows written as a prefix of the table; batches that finished ahead of
    that prefix (parallel writers) wait in progress['ahead'] until the gap before them closes.
    """
    new = copy.deepcopy(progress)
    prefix = new.setdefault(batch.part, {}).get(batch.name, 0)
    ahead_all = new.setdefault("ahead", {})
    ahead = sorted(tuple(r) for r in ahead_all.get(_ahead_key(batch.part, batch.name), []))
    if batch.lo < prefix or any(lo < batch.hi and batch.lo < hi for lo, hi in ahead):
        return None
    ahead = sorted([*ahead, (batch.lo, batch.hi)])
    while ahead and ahead[0][0] == prefix:
        prefix = ahead.pop(0)[1]
    new[batch.part][batch.name] = prefix
    if ahead:
        ahead_all[_ahead_key(batch.part, batch.name)] = [list(r) for r in ahead]
    else:
        ahead_all.pop(_ahead_key(batch.part, batch.name), None)
    if not ahead_all:
        new.pop("ahead")
    return new


def pending_ranges(progress: dict, part: str, name: str, n: int) -> list[tuple[int, int]]:
    """The row ranges of one table that the recorded progress does not cover yet."""
    start = progress.get(part, {}).get(name, 0)
    out = []
    for lo, hi in sorted(tuple(r) for r in progress.get("ahead", {}).get(_ahead_key(part, name), [])):
        if lo > start:
            out.append((start, lo))
        start = max(start, hi)
    if start < n:
        out.append((start, n))
    return out


def covered_ranges(progress: dict, part: str, name: str) -> list[tuple[int, int]]:
    """The row ranges of one table that the recorded progress holds."""
    prefix = progress.get(part, {}).get(name, 0)
    ahead = [(int(lo), int(hi)) for lo, hi in progress.get("ahead", {}).get(_ahead_key(part, name), [])]
    return sorted([(0, prefix)] if prefix else []) + sorted(ahead)


def merge_progress(progress: dict, other: dict) -> dict:
    """progress with every row range that other records added (for progress kept in several places, such as
    parallel writers' own records)."""
    merged = copy.deepcopy(progress)
    for part in ("nodes", "edges"):
        names = set(other.get(part, {})) | {
            key.split("/", 1)[1] for key in other.get("ahead", {}) if key.startswith(part + "/")
        }
        for name in sorted(names):
            for lo, hi in covered_ranges(other, part, name):
                for a, b in pending_ranges(merged, part, name, hi):
                    if max(a, lo) < b:
                        merged = record_batch(merged, Batch(part, name, max(a, lo), b)) or merged
    return merged


def check_finite_edges(graph: Graph) -> None:
    """Refuse NaN or infinite edge properties: analyses would silently read them from a 'complete' graph."""
    for edges in graph.edges.values():
        for name, values in edges.props.items():
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                bad = ~np.isfinite(values)
                first = int(np.flatnonzero(bad)[0])
                raise InvalidGraph(
                    f"Graph {graph.graph_id}: {int(bad.sum())} {edges.type} relationships have a non-finite "
                    f"{name!r} (first: {int(edges.src[first])}->{int(edges.dst[first])} = {values[first]}).",
                    f"Fix the {edges.type}.{name} values before storing (drop or clip them, e.g. "
                    "np.nan_to_num), or exclude those edges.",
                )


@dataclass
class WriteState:
    """One graph write in progress: the recorded batches per table (the JSON kept on the graph's record, so a
    resume continues from it), the rows written so far out of all, and who to tell after each batch."""

    progress: dict[str, Any]
    done: int
    total: int
    on_progress: ProgressCallback | None = None

    @classmethod
    def of(cls, graph: Graph, progress: dict[str, Any], on_progress: ProgressCallback | None) -> WriteState:
        """The state of a write that starts (or resumes) from `progress`."""
        total = graph.node_count + graph.edge_count
        pending = sum(
            hi - lo
            for part, tables in (("nodes", graph.nodes), ("edges", graph.edges))
            for name, table in tables.items()
            for lo, hi in pending_ranges(progress, part, name, len(table))
        )
        return cls(progress, total - pending, total, on_progress)

    def note(self, batch: Batch) -> None:
        """Record one committed batch in the in-memory progress and report it."""
        recorded = record_batch(self.progress, batch)
        if recorded is not None:
            self.progress.clear()
            self.progress.update(recorded)
        self.done += batch.hi - batch.lo
        if self.on_progress:
            self.on_progress(f"{batch.part} {batch.name}", self.done, self.total)


class GraphStore(ABC):
    """A place graphs live: the embedded Ladybug database or a Neo4j server."""

    dialect: str = ""
    uri: str = ""

    def __init__(self, batch_size: int = 20_000) -> None:
        self.batch_size = batch_size

    @property
    def batch_size(self) -> int:
        """Rows per write batch (always >= 1)."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._batch_size = check_batch_size(value)

    # ---- primitives a backend implements -------------------------------------------------------------
    @abstractmethod
    def init_schema(self) -> None:
        """Create constraints, indexes and tables (idempotent)."""

    @abstractmethod
    def execute(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult:
        """Run one Cypher statement with driver parameters."""

    def read(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult:
        """Run one read-only statement; a clustered server may answer it from a follower (default: `execute`)."""
        return self.execute(cypher, params)

    @abstractmethod
    def graph_info(self, graph_id: str) -> GraphInfo | None:
        """The :Graph node of a graph id, or None."""

    @abstractmethod
    def list_graphs(self) -> list[GraphInfo]:
        """Every :Graph node, newest first."""

    @abstractmethod
    def _delete_graph(self, graph_id: str) -> None:
        """Remove every node, relationship and the :Graph node of a graph id."""

    @abstractmethod
    def _create_graph_node(self, graph: Graph) -> None:
        """Create the :Graph node with status `writing` and empty progress."""

    @abstractmethod
    def _set_graph_fields(self, graph_id: str, fields: dict[str, Any]) -> None:
        """Update properties of the :Graph node."""

    @abstractmethod
    def _write_nodes(self, graph: Graph, table: NodeTable, batch: Batch) -> bool:
        """Write one batch of nodes with its progress in one transaction; False (nothing written) when replayed."""

    @abstractmethod
    def _write_edges(self, graph: Graph, table: EdgeTable, batch: Batch) -> bool:
        """Write one batch of relationships with its progress in one transaction; False when replayed."""

    @abstractmethod
    def _read_nodes(self, graph_id: str, label: str) -> NodeTable:
        """All nodes of one label in a graph."""

    @abstractmethod
    def _read_edges(self, graph_id: str, rel_type: str) -> EdgeTable | None:
        """All relationships of one type in a graph, or None when there are none."""

    @abstractmethod
    def _stored_labels(self, graph_id: str) -> list[str]:
        """Labels present in a graph."""

    @abstractmethod
    def _stored_types(self, graph_id: str) -> list[str]:
        """Relationship types present in a graph."""

    @abstractmethod
    def stored_types(self, graph_id: str) -> dict[str, list[str]]:
        """Relationship types present in a graph, each with the property names its relationships carry (sorted)."""

    @abstractmethod
    def _set_node_props(self, graph_id: str, label: str, keys: np.ndarray, props: dict[str, np.ndarray]) -> None:
        """Set properties on existing nodes by key."""

    def close(self) -> None:  # noqa: B027 - backends without connections need not override it
        """Release connections."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- batch sizes: a backend may prefer whole tables (bulk COPY) ---------------------------------------
    def node_batch_rows(self, table: NodeTable) -> int:
        return self.batch_size

    def edge_batch_rows(self, table: EdgeTable) -> int:
        return self.batch_size

    # ---- the shared contract ---------------------------------------------------------------------------
    def write_graph(
        self, graph: Graph, *, replace: bool = False, resume: bool = False, on_progress: ProgressCallback | None = None
    ) -> WriteReport:
        """Write a graph in batches; refuse an existing id unless replace (or resume an incomplete one)."""
        graph.validate()
        check_finite_edges(graph)
        start = time.perf_counter()
        progress = self._prepare_write(graph, replace=replace, resume=resume)
        resumed = bool(progress["nodes"] or progress["edges"])
        try:
            self._write_all(graph, progress, on_progress)
            self._set_graph_fields(
                graph.graph_id,
                {
                    "status": COMPLETE,
                    "node_count": graph.node_count,
                    "edge_count": graph.edge_count,
                    "progress": json.dumps(progress),
                    "error": None,
                },
            )
        except BaseException as exc:
            self._mark_incomplete(graph.graph_id, exc)
            raise
        return WriteReport(graph.graph_id, graph.node_count, graph.edge_count, time.perf_counter() - start, resumed)

    def _prepare_write(self, graph: Graph, replace: bool, resume: bool) -> dict:
        info = self.graph_info(graph.graph_id)
        if info is not None:
            if replace:
                self._remove_graph(graph.graph_id)
            elif resume and info.status != COMPLETE:
                if info.kind != graph.kind:
                    raise GraphExists(
                        f"Graph {graph.graph_id} is a {info.kind} graph; cannot resume it as {graph.kind}.",
                        "Use --replace to start over.",
                    )
                self._set_graph_fields(graph.graph_id, {"status": WRITING, "error": None})
                return self._checked_progress(graph.graph_id, {"nodes": {}, "edges": {}, **info.progress})
            else:
                raise self.exists_error(info)
        self._create_graph_node(graph)
        return {"nodes": {}, "edges": {}}

    def _checked_progress(self, graph_id: str, progress: dict) -> dict:
        """The recorded progress a resume may trust (backends whose crash recovery can lose rows check it)."""
        return progress

    @staticmethod
    def exists_error(info: GraphInfo) -> GraphExists:
        if info.status == COMPLETE:
            return GraphExists(
                f"Graph {info.graph_id} already exists ({info.kind}, {info.node_count} nodes, "
                f"{info.edge_count} edges).",
                "Pass --replace to overwrite it, or choose another --graph-id.",
            )
        return GraphExists(
            f"Graph {info.graph_id} exists but is {info.status} (an earlier write did not finish).",
            f"Pass --resume to continue it, --replace to start over, or run "
            f"`graphstore store drop-graph {info.graph_id}`.",
        )

    def _write_all(self, graph: Graph, progress: dict, on_progress: ProgressCallback | None) -> None:
        state = WriteState.of(graph, progress, on_progress)
        for part, tables, batch_rows, write in (
            ("nodes", graph.nodes, self.node_batch_rows, self._write_nodes),
            ("edges", graph.edges, self.edge_batch_rows, self._write_edges),
        ):
            for name in sorted(tables):
                self._write_table(graph, part, name, tables[name], batch_rows, write, state)

    def _write_table(
        self,
        graph: Graph,
        part: str,
        name: str,
        table: NodeTable | EdgeTable,
        batch_rows: Callable[[Any], int],
        write: Callable[..., bool],
        state: WriteState,
    ) -> None:
        """Write one node (or edge) table in batches from its recorded progress, reporting each batch."""
        for batch in self.table_batches(part, name, len(table), batch_rows(table), state.progress):
            write(graph, self.batch_rows_of(table, batch), batch)
            state.note(batch)

    @staticmethod
    def table_batches(part: str, name: str, n: int, size: int, progress: dict, first: int = 0) -> list[Batch]:
        """The batches still to write for rows first..n-1 of one table, in order, from its recorded progress."""
        return [
            Batch(part, name, lo, hi)
            for start, stop in pending_ranges(progress, part, name, n)
            if max(start, first) < stop
            for lo, hi in batches(stop, size, max(start, first))
        ]

    def batch_rows_of(self, table: NodeTable | EdgeTable, batch: Batch) -> NodeTable | EdgeTable:
        """The rows of a table that a batch writes (a backend may write a table in another fixed row order)."""
        return table.slice(batch.lo, batch.hi)

    def _mark_incomplete(self, graph_id: str, exc: BaseException) -> None:
        """Best effort: a failed or interrupted write is never left looking complete."""
        with contextlib.suppress(Exception):  # the original error is what the user needs to see
            self._set_graph_fields(graph_id, {"status": INCOMPLETE, "error": f"{type(exc).__name__}: {exc}"[:2000]})

    def drop_graph(self, graph_id: str) -> None:
        """Delete a graph (complete or not); an unknown id is an error that lists the stored ones."""
        if self.graph_info(graph_id) is None:
            raise self.not_found(graph_id)
        self._remove_graph(graph_id)

    def pending_drops(self) -> dict[str, int]:
        """Drops whose records are still being deleted in the background (a store that drops in the call: none)."""
        return {"drops": 0, "nodes": 0}

    def wait_for_drops(self, timeout: float = 600.0) -> float:
        """Block until background drops are done; seconds waited (none here)."""
        return 0.0

    def _remove_graph(self, graph_id: str) -> None:
        """Mark the graph incomplete, then delete it: a delete that fails part-way never leaves it 'complete'."""
        self._set_graph_fields(
            graph_id,
            {
                "status": INCOMPLETE,
                "error": "being dropped (drop or replace did not finish); drop it again or write it with --replace",
            },
        )
        self._delete_graph(graph_id)

    def not_found(self, graph_id: str) -> GraphNotFound:
        """GraphNotFound naming the closest stored ids."""
        ids = [g.graph_id for g in self.list_graphs()]
        close = difflib.get_close_matches(graph_id, ids, n=5, cutoff=0.4)
        if close:
            hint = f"Did you mean: {', '.join(close)}?"
        elif ids:
            hint = f"Stored graphs: {', '.join(ids[:20])}."
        else:
            hint = "The store holds no graphs yet; run `graphstore ingest`."
        return GraphNotFound(f"Graph {graph_id!r} is not in the store ({self.uri}).", hint)

    def read_graph(
        self,
        graph_id: str,
        *,
        labels: list[str] | None = None,
        rel_types: list[str] | None = None,
        allow_incomplete: bool = False,
    ) -> Graph:
        """Read a stored graph back, whole or restricted to some labels / relationship types."""
        info = self.graph_info(check_graph_id(graph_id))
        if info is None:
            raise self.not_found(graph_id)
        if info.status != COMPLETE and not allow_incomplete:
            raise GraphNotFound(
                f"Graph {graph_id} is {info.status}, not complete.",
                f"Resume the write with --resume, or drop it: graphstore store drop-graph {graph_id}",
            )
        graph = Graph(graph_id, info.kind, params=info.params, run_id=info.run_id, checkpoint=info.checkpoint)
        for label in labels if labels is not None else self._stored_labels(graph_id):
            graph.nodes[check_identifier(label, "Label")] = self._read_nodes(graph_id, label)
        for rel_type in rel_types if rel_types is not None else self._stored_types(graph_id):
            edges = self._read_edges(graph_id, check_identifier(rel_type, "Relationship type"))
            if edges is not None and edges.src_label in graph.nodes and edges.dst_label in graph.nodes:
                graph.edges[rel_type] = edges
        return graph

    def write_node_properties(self, graph_id: str, label: str, keys: np.ndarray, props: dict[str, np.ndarray]) -> None:
        """Write analysis results as node properties (as a GDS .write procedure would)."""
        if self.graph_info(graph_id) is None:
            raise self.not_found(graph_id)
        check_identifier(label, "Label")
        for name in props:
            check_identifier(name, "Property")
        keys = np.asarray(keys, dtype=np.int64)
        for lo, hi in batches(len(keys), self.batch_size):
            self._set_node_props(graph_id, label, keys[lo:hi], {k: np.asarray(v)[lo:hi] for k, v in props.items()})

    def run_query(self, name: str, params: dict[str, Any] | None = None) -> QueryResult:
        """Run a named query from cypher/queries with its declared parameters, checked against this store."""
        return run_named(self, name, params or {})


CREATE_GRAPH_NODE = (
    "CREATE (g:Graph {graph_id: $graph_id, kind: $kind, run_id: $run_id, checkpoint: $checkpoint, params: $params, "
    "created_at: $created_at, status: $status, progress: $progress, node_count: 0, edge_count: 0})"
)


def graph_node_params(graph: Graph) -> dict[str, Any]:
    """Parameters of CREATE_GRAPH_NODE for a graph about to be written."""
    return {
        "graph_id": graph.graph_id,
        "kind": graph.kind,
        "run_id": graph.run_id,
        "checkpoint": graph.checkpoint,
        "params": graph.params_json(),
        "created_at": now_iso(),
        "status": WRITING,
        "progress": json.dumps({"nodes": {}, "edges": {}}),
    }


def info_from_record(rec: dict[str, Any]) -> GraphInfo:
    """GraphInfo from the properties of a :Graph node (JSON text fields decoded)."""
    return GraphInfo(
        graph_id=rec["graph_id"],
        kind=rec.get("kind") or "",
        status=rec.get("status") or INCOMPLETE,
        node_count=int(rec.get("node_count") or 0),
        edge_count=int(rec.get("edge_count") or 0),
        params=json.loads(rec.get("params") or "{}"),
        progress=json.loads(rec.get("progress") or "{}"),
        run_id=rec.get("run_id"),
        checkpoint=rec.get("checkpoint"),
        created_at=rec.get("created_at"),
        error=rec.get("error"),
    )
