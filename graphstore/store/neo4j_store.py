"""The Neo4j graph store: the official driver, batched columnar writes in explicit transactions.

Where the server has graphstore's write plugin (graphstore.services.write_plugin, installed by `graphstore
services start`), a batch is one procedure call whose numeric columns travel as little-endian byte arrays and go
straight to the kernel's Write API; elsewhere it is a Cypher `UNWIND` over list parameters (about half as fast).

Values always travel as driver parameters; only validated identifiers (labels, types, property names) are
written into query text. Every stored node also carries the label :GraphNode so graph_id scoping uses an index.
Relationships carry only their own properties: their graph is the graph_id of their endpoints. Each batch commits
with its progress, under the :Graph node's lock, only if that progress does not already hold it (replay-safe).
Large tables go through `writers` parallel transactions in lanes (graphstore.store.lanes): node-disjoint ones for
relationships, row ranges for nodes; each lane records its batches on its own :GraphLane node, so the lanes'
commits never wait for one lock.
Deletes run in bounded `CALL (r) { ... } IN TRANSACTIONS`, so any graph size fits the server's transaction memory.
With two or more writers a drop splits the graph's nodes in two halves by internal id, deletes the relationships
between the halves (one writer), then each half's relationships and nodes in a lane of its own: the halves no
longer share a relationship record, so the lanes need not wait for each other's locks (bench/RESULTS.md, "Neo4j
drop and replace against the write": at most 0.75 of one writer's time on a random graph, with two free cores).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing
from functools import partial
from typing import Any

import neo4j
import numpy as np
from neo4j import NotificationDisabledClassification
from neo4j import exceptions as ex

from graphstore.errors import ConfigError, GraphNotFound
from graphstore.graph import EdgeTable, Graph, NodeTable
from graphstore.masking import mask_secret, mask_url
from graphstore.store import neo4j_drop
from graphstore.store.base import (
    CREATE_GRAPH_NODE,
    Batch,
    GraphInfo,
    GraphStore,
    ProgressCallback,
    QueryResult,
    WriteReport,
    WriteState,
    covered_ranges,
    graph_node_params,
    info_from_record,
    merge_progress,
    record_batch,
)
from graphstore.store.lanes import lanes_key, schedule, split_rows
from graphstore.store.neo4j_errors import driver_errors
from graphstore.store.neo4j_lanes import retry_deadlocks, run_lanes
from graphstore.store.neo4j_writer import PROCEDURES, CypherWriter, PluginWriter, Writer, column_list
from graphstore.store.schema import schema_statements

DELETE_BATCH = 10_000  # relationships per delete transaction
NOT_DEPRECATIONS = [
    c for c in NotificationDisabledClassification if c is not NotificationDisabledClassification.DEPRECATION
]
CUT_RELS = (  # only r is kept for the inner transactions (the planner's Eager holds every row in memory)
    "MATCH (a:GraphNode {graph_id: $g})-[r]->(b) WHERE (id(a) < $pivot) <> (id(b) < $pivot) WITH r "
    "CALL (r) { DELETE r } IN TRANSACTIONS OF $batch ROWS"
)
DELETE_HALF = (  # after the cut, every relationship of a half leaves one of its nodes
    "MATCH (a:GraphNode {graph_id: $g})-[r]->() WHERE (id(a) < $pivot) = $low WITH r "
    "CALL (r) { DELETE r } IN TRANSACTIONS OF $batch ROWS",
    "MATCH (n:GraphNode {graph_id: $g}) WHERE (id(n) < $pivot) = $low "
    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF $batch ROWS",
)
GRAPH_RECORD = "(g:Graph {graph_id: $g})"
LANE_RECORD = "(g:GraphLane {graph_id: $g, lane: $lane})"
MIN_LANE_ROWS = 50_000  # smaller relationship tables are written by one transaction at a time


def _plain(value: Any) -> Any:
    """Driver values (nodes, relationships, temporal types) as plain Python for tables and JSON."""
    if hasattr(value, "items") and hasattr(value, "element_id"):
        return dict(value.items())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


# Labels added for Neo4j Browser's stylesheet, which colours by label only (services/browser/style.grass): a sample
# gets :Class<label>, a neuron or patch :Layer<layer_index + 1> (inputs are :Layer0). Reads ignore them.
STYLE_LABELS = {
    "Sample": ("label", "Class", 0),
    "Neuron": ("layer_index", "Layer", 1),
    "Patch": ("layer_index", "Layer", 1),
}
STYLE_LABEL = "(Class|Layer)[0-9]+"  # a Cypher regular expression (=~) for them


class Neo4jStore(GraphStore):
    """Graphs in a Neo4j 5 database, reached over Bolt."""

    dialect = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str = "neo4j",
        password: str = "",
        database: str = "neo4j",
        batch_size: int = 20_000,
        use_plugin: bool = True,
        writers: int = 2,
        background_drops: bool = True,
    ) -> None:
        super().__init__(batch_size)
        self.writers = max(1, int(writers))
        self.lane_min_rows = MIN_LANE_ROWS
        self.uri = mask_url(uri)  # what messages, tables and the tracking DB show: never a secret
        self.database = database
        self._secrets = (password,)
        auth = (user, password) if password else None
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=10,
                # the server's deprecation notices reach Python as neo4j.warnings.Neo4jDeprecationWarning, a
                # DeprecationWarning (hidden by default, shown by pytest); other notices are not requested
                notifications_disabled_classifications=NOT_DEPRECATIONS,
                warn_notification_severity="WARNING",
            )
        except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
            raise ConfigError(
                f"Neo4j URI {self.uri} is not usable: {mask_secret(str(exc), password)}",
                "Give user and password in GRAPHSTORE_NEO4J_USER / GRAPHSTORE_NEO4J_PASSWORD, not in the URI.",
            ) from None
        self._node_ids: dict[tuple[str, str, bool], tuple[np.ndarray, np.ndarray]] = {}
        # One bookmark manager for every session: in a cluster a read (routed to a follower) sees this store's writes.
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        with self._errors():
            self._driver.verify_connectivity()
        self._user = user
        self.init_schema()
        self.writer: Writer = PluginWriter() if use_plugin and self._has_plugin() else CypherWriter()
        self.write_path = self.writer.name  # "plugin" or "cypher": what tables and benches show
        # drops retire a graph at once and delete its records in the server's background (store/neo4j_drop.py)
        self.background_drops = background_drops and neo4j_drop.available(self)
        self._deferred_drops: list[tuple[str, str]] | None = None  # a replace's retired graph, deleted after it
        if self.background_drops:
            with contextlib.suppress(neo4j.exceptions.Neo4jError):  # a read-only user still reads
                neo4j_drop.resume(self)

    def close(self) -> None:
        self._driver.close()

    def _errors(self) -> AbstractContextManager[None]:
        """Driver errors inside become graphstore errors naming this server and the fix (store/neo4j_errors.py)."""
        return driver_errors(self.uri, self._user_name(), self._secrets)

    def _user_name(self) -> str:
        return getattr(self, "_user", "neo4j")

    def _session(self, mode: str = neo4j.WRITE_ACCESS, kernel_ids: bool = False) -> Any:
        """A session on the store's database sharing the store's bookmarks (causal consistency in a cluster).

        kernel_ids: the statements use id() on purpose (the write plugin's kernel calls and the drop's halves need
        the numeric node ids elementId() does not give), so its deprecation notice is not requested for them.
        """
        if kernel_ids:
            return self._driver.session(
                database=self.database,
                default_access_mode=mode,
                bookmark_manager=self._bookmarks,
                notifications_disabled_classifications=list(NotificationDisabledClassification),
            )
        return self._driver.session(database=self.database, default_access_mode=mode, bookmark_manager=self._bookmarks)

    # ---- basics -----------------------------------------------------------------------------------------
    def init_schema(self) -> None:
        with self._errors(), self._session() as session:
            for statement in schema_statements("neo4j"):
                session.run(statement).consume()

    def _has_plugin(self) -> bool:
        """Whether the server has graphstore's write procedures (graphstore.services.write_plugin)."""
        return self.has_procedures(PROCEDURES)

    def has_procedures(self, names: tuple[str, ...]) -> bool:
        """Whether the server offers every one of these procedures."""
        rows = self.read(
            "SHOW PROCEDURES YIELD name WHERE name IN $names RETURN count(*) AS n", {"names": list(names)}
        ).rows
        return bool(rows) and rows[0][0] == len(names)

    def execute(self, cypher: str, params: dict[str, Any] | None = None, *, kernel_ids: bool = False) -> QueryResult:
        with self._errors(), self._session(kernel_ids=kernel_ids) as session:
            result = session.run(cypher, params or {})
            columns = list(result.keys())
            rows = [[_plain(v) for v in record.values()] for record in result]
        return QueryResult(columns, rows)

    def read(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult:
        """A read transaction (retried on transient errors): with a neo4j:// URI the driver routes it to a
        follower or read replica of a cluster; the server refuses a write in it."""

        def work(tx: Any) -> QueryResult:
            result = tx.run(cypher, params or {})
            columns = list(result.keys())
            return QueryResult(columns, [[_plain(v) for v in record.values()] for record in result])

        with self._errors(), self._session(neo4j.READ_ACCESS) as session:
            out: QueryResult = session.execute_read(work)
        return out

    def _write_tx(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        """Run statements in one explicit transaction (all or nothing)."""
        with self._errors(), self._session() as session, session.begin_transaction() as tx:
            for cypher, params in statements:
                tx.run(cypher, params).consume()
            tx.commit()

    def _write_batch(
        self, graph_id: str, batch: Batch, cypher: str, params: dict[str, Any], lane: int | None = None
    ) -> bool:
        """One batch and its progress in one transaction; rolled back (False) when the progress already holds it.

        The progress (on the :Graph node, or on the lane's :GraphLane node) is checked before the rows are written
        (a replay writes nothing, not even a node that the uid constraint would refuse) and again under that
        node's lock (SET to itself) after them, so check and update are atomic with respect to other writers,
        which serialise only on that last step.
        """
        record = GRAPH_RECORD if lane is None else LANE_RECORD
        keys = {"g": graph_id, "lane": lane}
        with self._errors(), self._session() as session, session.begin_transaction() as tx:
            for statement, run_batch in (
                (f"MATCH {record} RETURN g.progress AS p", True),
                (f"MATCH {record} SET g.progress = g.progress RETURN g.progress AS p", False),
            ):
                stored = tx.run(statement, keys).single()
                if stored is None:
                    raise GraphNotFound(
                        f"Graph {graph_id} was dropped while it was being written.",
                        "Write it again (with --replace if it was recreated meanwhile).",
                    )
                progress = record_batch(json.loads(stored["p"] or "{}"), batch)
                if progress is None:
                    tx.rollback()
                    return False
                if run_batch:
                    tx.run(cypher, params).consume()
            tx.run(f"MATCH {record} SET g.progress = $p", {**keys, "p": json.dumps(progress)}).consume()
            tx.commit()
        return True

    # ---- graph nodes --------------------------------------------------------------------------------------
    def graph_info(self, graph_id: str) -> GraphInfo | None:
        rows = self.read("MATCH (g:Graph {graph_id: $id}) RETURN properties(g) AS g", {"id": graph_id}).rows
        return info_from_record(rows[0][0]) if rows else None

    def list_graphs(self) -> list[GraphInfo]:
        rows = self.read("MATCH (g:Graph) RETURN properties(g) AS g ORDER BY g.created_at DESC, g.graph_id").rows
        return [info_from_record(r[0]) for r in rows]

    def _create_graph_node(self, graph: Graph) -> None:
        self._write_tx([(CREATE_GRAPH_NODE, graph_node_params(graph))])

    def _set_graph_fields(self, graph_id: str, fields: dict[str, Any]) -> None:
        self._write_tx(
            [("MATCH (g:Graph {graph_id: $graph_id}) SET g += $fields", {"graph_id": graph_id, "fields": fields})]
        )

    def write_graph(
        self, graph: Graph, *, replace: bool = False, resume: bool = False, on_progress: ProgressCallback | None = None
    ) -> WriteReport:
        """As the base class; a --replace deletes the old graph's records after the write, not beside it."""
        self._deferred_drops = []
        try:
            return super().write_graph(graph, replace=replace, resume=resume, on_progress=on_progress)
        finally:
            retired, self._deferred_drops = self._deferred_drops, None
            for tomb, graph_id in retired:
                neo4j_drop.submit(self, tomb, graph_id)

    def pending_drops(self) -> dict[str, int]:
        """Background drops still deleting records: how many, and the nodes they have left."""
        return neo4j_drop.status_fields(self) if self.background_drops else {"drops": 0, "nodes": 0}

    def wait_for_drops(self, timeout: float = 600.0) -> float:
        """Block until the background drops are done (seconds waited)."""
        return neo4j_drop.wait(self, timeout) if self.background_drops else 0.0

    def _delete_graph(self, graph_id: str) -> None:
        self._node_ids = {k: v for k, v in self._node_ids.items() if k[0] != graph_id}
        if self.background_drops:
            tomb = neo4j_drop.retire(self, graph_id)
            if self._deferred_drops is not None:
                self._deferred_drops.append((tomb, graph_id))
            else:
                neo4j_drop.submit(self, tomb, graph_id)
            return
        self._delete_now(graph_id)

    def _delete_now(self, graph_id: str) -> None:
        """Delete the graph's records in this call: two lanes (halves) when writers > 1, then one writer."""
        if self.writers > 1:
            self._delete_in_halves(graph_id)
        self.execute(  # with halves: what they left (nothing, unless their lanes gave up on deadlocks)
            "MATCH (:GraphNode {graph_id: $g})-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF $batch ROWS",
            {"g": graph_id, "batch": DELETE_BATCH},
        )
        self.execute(
            "MATCH (n:GraphNode {graph_id: $g}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF $batch ROWS",
            {"g": graph_id, "batch": DELETE_BATCH},
        )
        self.execute("MATCH (l:GraphLane {graph_id: $g}) DELETE l", {"g": graph_id})
        self.execute("MATCH (g:Graph {graph_id: $g}) DELETE g", {"g": graph_id})

    def _delete_in_halves(self, graph_id: str) -> None:
        """Cut the graph in two halves by node id (their relationships between deleted by one writer), then delete
        each half's relationships and nodes in a lane of its own. Every statement deletes only what is still there,
        so a drop that is interrupted is simply run again, and a lane chosen as a deadlock victim (seen once, on a
        graph a killed write had left) leaves its rest to the single-writer pass that follows."""
        pivot = self.execute(
            "MATCH (n:GraphNode {graph_id: $g}) RETURN percentileDisc(id(n), 0.5) AS p",
            {"g": graph_id},
            kernel_ids=True,
        ).rows[0][0]
        if pivot is None:
            return
        keys = {"g": graph_id, "pivot": pivot, "batch": DELETE_BATCH // 4}
        retry_deadlocks(partial(self._run_delete, (CUT_RELS,), keys))
        halves = [{**keys, "low": low} for low in (True, False)]
        with ThreadPoolExecutor(max_workers=len(halves), thread_name_prefix="graphstore-drop") as pool:
            lanes = [pool.submit(self._run_delete, DELETE_HALF, half) for half in halves]
            for lane in lanes:
                try:
                    lane.result()
                except ex.TransientError as exc:  # a deadlock victim: the single-writer pass after this finishes
                    if "DeadlockDetected" not in (exc.code or ""):
                        raise

    def _run_delete(self, statements: tuple[str, ...], params: dict[str, Any]) -> bool:
        """Delete statements in order (for _retry_deadlocks: each deletes only what is still there)."""
        for cypher in statements:
            self.execute(cypher, params, kernel_ids=True)
        return True

    # ---- writes -------------------------------------------------------------------------------------------
    def _write_all(self, graph: Graph, progress: dict, on_progress: Callable[..., None] | None) -> None:
        """The tables, then the labels Neo4j Browser colours by (set again on a resume: SET is idempotent)."""
        super()._write_all(graph, progress, on_progress)
        for label, prop, value, extra in style_labels(graph):
            self.execute(
                f"MATCH (n:{label} {{graph_id: $g}}) WHERE n.{prop} = $v SET n:{extra}",
                {"g": graph.graph_id, "v": value},
            )

    def _write_nodes(self, graph: Graph, table: NodeTable, batch: Batch, lane: int | None = None) -> bool:
        for kernel in (True, False):
            self._node_ids.pop((graph.graph_id, table.label, kernel), None)
        cypher, params = self.writer.nodes(graph, table)
        return self._write_batch(graph.graph_id, batch, cypher, params, lane)

    def _internal_ids(self, graph_id: str, label: str, keys: np.ndarray) -> np.ndarray:
        """Node handles for node keys, read once per (graph, label), then a vectorised lookup: the kernel's numeric
        ids for the write plugin, elementId() strings for the Cypher path.

        Relationship batches then match endpoints by id seek instead of two index lookups per row (about 3x
        faster). The ids are read after the nodes are committed, so they are valid for the write that follows.
        """
        kernel = self.writer.kernel_ids
        cached = self._node_ids.get((graph_id, label, kernel))
        if cached is None:
            handle = "id(n)" if kernel else "elementId(n)"
            keys_ids = self.execute(
                f"MATCH (n:{label} {{graph_id: $g}}) WITH n ORDER BY n.key RETURN collect(n.key) AS k, "
                f"collect({handle}) AS i",
                {"g": graph_id},
                kernel_ids=kernel,
            ).rows[0]
            ids = np.asarray(keys_ids[1], dtype=np.int64 if kernel else object)
            cached = (np.asarray(keys_ids[0], dtype=np.int64), ids)
            self._node_ids[(graph_id, label, kernel)] = cached
        node_keys, node_ids = cached
        return node_ids[np.searchsorted(node_keys, keys)]

    def _write_edges(self, graph: Graph, table: EdgeTable, batch: Batch, lane: int | None = None) -> bool:
        src = self._internal_ids(graph.graph_id, table.src_label, table.src)
        dst = self._internal_ids(graph.graph_id, table.dst_label, table.dst)
        cypher, params = self.writer.edges(table, src, dst)
        return self._write_batch(graph.graph_id, batch, cypher, params, lane)

    # ---- relationships in parallel lanes --------------------------------------------------------------------
    def _checked_progress(self, graph_id: str, progress: dict) -> dict:
        """The :Graph node's progress plus what the lanes of an interrupted parallel write recorded."""
        rows = self.read("MATCH (l:GraphLane {graph_id: $g}) RETURN l.progress AS p", {"g": graph_id}).rows
        for (lane_progress,) in rows:
            progress = merge_progress(progress, json.loads(lane_progress or "{}"))
        return progress

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
        """A large node or relationship table in lanes, a small one as the base class writes it."""
        lanes = self._lanes_for(graph.graph_id, part, name, len(table), state.progress)
        if lanes == 1:
            super()._write_table(graph, part, name, table, batch_rows, write, state)
        else:
            self._write_lanes(graph, part, name, lanes, state)

    def _lanes_for(self, graph_id: str, part: str, name: str, rows: int, progress: dict) -> int:
        """The lanes a table is written in: what its progress records (a resume keeps the row order it began
        with), else `writers` for a large table (recorded before its first batch), else 1."""
        key, recorded_lanes = lanes_key(part, name), progress.get("lanes", {})
        # A relationship table's lanes were recorded under its bare name before node tables had lanes.
        recorded = recorded_lanes.get(key, recorded_lanes.get(name) if part == "edges" else None)
        if recorded is not None or covered_ranges(progress, part, name):
            return int(recorded or 1)
        if self.writers == 1 or rows < max(self.lane_min_rows, 2 * self.batch_size):
            return 1
        progress.setdefault("lanes", {})[key] = self.writers
        self._set_graph_fields(graph_id, {"progress": json.dumps(progress)})
        return self.writers

    def _write_lanes(
        self,
        graph: Graph,
        part: str,
        name: str,
        lanes: int,
        state: WriteState,
    ) -> None:
        """Write one table round by round, its lanes side by side (one thread each); progress is recorded and
        reported here, in the calling thread, as the lanes' batches commit."""
        write: Callable[[Batch, int], bool]
        if part == "edges":
            edges = graph.edges[name]
            order, segments = schedule(edges.src, edges.dst, lanes)
            for label, keys in ((edges.src_label, edges.src[:1]), (edges.dst_label, edges.dst[:1])):
                self._internal_ids(graph.graph_id, label, keys)  # fill the id cache before the threads read it

            def write(batch: Batch, lane: int) -> bool:
                return self._write_edges(graph, edges.take(order[batch.lo : batch.hi]), batch, lane)

        else:
            nodes = graph.nodes[name]
            segments = split_rows(len(nodes), lanes)

            def write(batch: Batch, lane: int) -> bool:
                return self._write_nodes(graph, nodes.slice(batch.lo, batch.hi), batch, lane)

        lane_nodes = "UNWIND range(0, $n - 1) AS i MERGE (:GraphLane {graph_id: $g, lane: i})"
        self._write_tx([(lane_nodes, {"g": graph.graph_id, "n": lanes})])
        for rnd in sorted({seg.round for seg in segments}):
            work = {
                seg.lane: self.table_batches(part, name, seg.hi, self.batch_size, state.progress, seg.lo)
                for seg in segments
                if seg.round == rnd
            }
            with closing(run_lanes(write, work)) as committed:  # closed at once on an error
                for batch in committed:
                    state.note(batch)
        self._write_tx(  # the lanes' records move to the :Graph node in one transaction: nothing is lost between
            [
                (
                    "MATCH (g:Graph {graph_id: $g}) SET g.progress = $p",
                    {"g": graph.graph_id, "p": json.dumps(state.progress)},
                ),
                ("MATCH (l:GraphLane {graph_id: $g}) DELETE l", {"g": graph.graph_id}),
            ]
        )

    def _set_node_props(self, graph_id: str, label: str, keys: np.ndarray, props: dict[str, np.ndarray]) -> None:
        sets = ", ".join(f"n.`{name}` = ${'p_' + name}[i]" for name in props)
        uids = [f"{graph_id}:{int(k)}" for k in keys]
        self._write_tx(
            [
                (
                    f"UNWIND range(0, size($uid) - 1) AS i MATCH (n:{label} {{uid: $uid[i]}}) SET {sets}",
                    {"uid": uids, **{"p_" + k: column_list(np.asarray(v)) for k, v in props.items()}},
                )
            ]
        )

    # ---- reads --------------------------------------------------------------------------------------------
    def _stored_labels(self, graph_id: str) -> list[str]:
        rows = self.read(
            "MATCH (n:GraphNode {graph_id: $g}) UNWIND labels(n) AS l WITH DISTINCT l "
            "WHERE l <> 'GraphNode' AND NOT l =~ $style RETURN l ORDER BY l",
            {"g": graph_id, "style": STYLE_LABEL},
        ).rows
        return [r[0] for r in rows]

    def _stored_types(self, graph_id: str) -> list[str]:
        rows = self.read(
            "MATCH (:GraphNode {graph_id: $g})-[r]->() RETURN DISTINCT type(r) AS t ORDER BY t", {"g": graph_id}
        ).rows
        return [r[0] for r in rows]

    def stored_types(self, graph_id: str) -> dict[str, list[str]]:
        rows = self.read(
            "MATCH (:GraphNode {graph_id: $g})-[r]->() RETURN type(r) AS t, collect(DISTINCT keys(r)) AS ks ORDER BY t",
            {"g": graph_id},
        ).rows
        return {t: sorted({k for ks in key_lists for k in ks} - {"graph_id"}) for t, key_lists in rows}

    def _read_nodes(self, graph_id: str, label: str) -> NodeTable:
        rows = self.read(
            f"MATCH (n:{label} {{graph_id: $g}}) RETURN n.key AS key, properties(n) AS p ORDER BY key", {"g": graph_id}
        ).rows
        keys = np.array([r[0] for r in rows], dtype=np.int64)
        return NodeTable(label, keys, _columns([r[1] for r in rows], skip={"uid", "graph_id", "key"}))

    def _read_edges(self, graph_id: str, rel_type: str) -> EdgeTable | None:
        ends = self.read(
            f"MATCH (a:GraphNode {{graph_id: $g}})-[r:{rel_type}]->(b) RETURN "
            "[l IN labels(a) WHERE l <> 'GraphNode' AND NOT l =~ $style][0] AS a, "
            "[l IN labels(b) WHERE l <> 'GraphNode' AND NOT l =~ $style][0] AS b LIMIT 1",
            {"g": graph_id, "style": STYLE_LABEL},
        ).rows
        if not ends:
            return None
        src_label, dst_label = ends[0]
        rows = self.read(
            f"MATCH (a:{src_label} {{graph_id: $g}})-[r:{rel_type}]->(b:{dst_label}) "
            "RETURN a.key AS s, b.key AS t, properties(r) AS p ORDER BY s, t",
            {"g": graph_id},
        ).rows
        src = np.array([r[0] for r in rows], dtype=np.int64)
        dst = np.array([r[1] for r in rows], dtype=np.int64)
        return EdgeTable(rel_type, src_label, dst_label, src, dst, _columns([r[2] for r in rows], skip={"graph_id"}))


def _columns(records: list[dict[str, Any]], skip: set[str]) -> dict[str, np.ndarray]:
    """Property dicts to columns; a property missing on some rows becomes None there (object column)."""
    names = sorted({k for rec in records for k in rec} - skip)
    out = {}
    for name in names:
        values = [rec.get(name) for rec in records]
        out[name] = np.asarray(values, dtype=object) if any(v is None for v in values) else np.asarray(values)
    return out


def style_labels(graph: Graph) -> list[tuple[str, str, int, str]]:
    """(label, property, value, added label) for each value of an integer property in STYLE_LABELS."""
    found = []
    for label, (prop, prefix, offset) in STYLE_LABELS.items():
        table = graph.nodes.get(label)
        values = None if table is None else table.props.get(prop)
        if values is None or not np.issubdtype(np.asarray(values).dtype, np.integer):
            continue
        found += [(label, prop, int(v), f"{prefix}{int(v) + offset}") for v in np.unique(values) if v + offset >= 0]
    return found
