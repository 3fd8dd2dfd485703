"""Dropping a Neo4j graph in the server's background: the graph is retired at once, its records deleted later.

Deleting a relationship costs the server about what creating it costs (bench/RESULTS.md, "Neo4j drop and replace"),
so a synchronous drop of a large graph takes about as long as its write. A retired graph is invisible at once: its
nodes trade their labels for :RetiredGraphNode (no index or constraint of a graph label sees them any more), its :Graph
record goes, and a :GraphTombstone node (id `~dropping~<hex>`, which no user graph can have) records the drop.
APOC's `apoc.periodic.submit` then deletes the nodes and relationships on the server in batches and removes the
tombstone last. A replace defers that delete until its
write is done, so the two do not share the cores. A tombstone whose job is gone (server restarted, client killed
between the steps) is submitted again the next time a store opens. No other graph is touched: every statement is
scoped by the graph id and the :RetiredGraphNode label
(a live node always has :GraphNode, so a user label of that name is never taken for a retired one).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Protocol

from graphstore.errors import GraphstoreError
from graphstore.names import check_graph_id
from graphstore.store.base import QueryResult


class DropTarget(Protocol):
    """What a background drop needs of the Neo4j store (neo4j_store.Neo4jStore), named here so that module can
    import this one without a circle."""

    uri: str
    batch_size: int

    def execute(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult: ...

    def read(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult: ...

    def has_procedures(self, names: tuple[str, ...]) -> bool: ...

    def _write_tx(self, statements: list[tuple[str, dict[str, Any]]]) -> None: ...


TOMB_PREFIX = "~dropping~"
JOB_PREFIX = "graphstore-drop-"
RETIRE_BATCH = 10_000  # nodes per retiring transaction
DELETE_BATCH = 10_000  # relationships, then nodes, per background delete transaction (as the synchronous drop)
PROCEDURES = ("apoc.periodic.submit", "apoc.periodic.iterate", "apoc.periodic.list")

# A retired node keeps its properties (graph_id included) but loses every label, so no index or uniqueness
# constraint of the graph's labels sees it any more, and gets :RetiredGraphNode: a new graph of the same id is
# written beside it. Swapping labels costs the server less than renaming the uid and graph_id properties
# (bench/RESULTS.md, "Neo4j drop and replace").
RETIRE_NODES = (
    "MATCH (n:GraphNode {graph_id: $g}) CALL (n) { REMOVE n:$(labels(n)) SET n:RetiredGraphNode } "
    "IN TRANSACTIONS OF $batch ROWS"
)
RETIRE = (  # one transaction: the record's lock first (writers take it per batch), stragglers, then the record
    "MATCH (g:Graph {graph_id: $g}) SET g.status = 'dropping'",
    "MATCH (n:GraphNode {graph_id: $g}) REMOVE n:$(labels(n)) SET n:RetiredGraphNode",
    "MATCH (l:GraphLane {graph_id: $g}) DELETE l",
    "MATCH (g:Graph {graph_id: $g}) DELETE g",
    "CREATE (:GraphTombstone {graph_id: $t, of: $g, since: datetime()})",
)
TOMB_PATTERN = re.compile(r"~dropping~[0-9a-f]{32}")
# Run by apoc.periodic.submit, which (APOC 5.26) does not pass its params map on: the tombstone id and the graph
# id are written into the statement, after TOMB_PATTERN and names.GRAPH_ID_PATTERN have checked them (neither can
# hold a quote). The tombstone goes only once no retired node of the graph is left.
BACKGROUND = (  # relationships first, in bounded batches (a dense graph's nodes hold many per batch), then nodes
    "CALL apoc.periodic.iterate("
    "'MATCH (n:RetiredGraphNode {{graph_id: $g}})-[r]->() WHERE NOT n:GraphNode RETURN r', 'DELETE r', "
    "{{batchSize: {batch}, params: {{g: '{graph}'}}, retries: 5}}) YIELD batches AS rels "
    "CALL apoc.periodic.iterate("
    "'MATCH (n:RetiredGraphNode {{graph_id: $g}}) WHERE NOT n:GraphNode RETURN n', 'DETACH DELETE n', "
    "{{batchSize: {batch}, params: {{g: '{graph}'}}, retries: 5}}) YIELD batches "
    "WITH batches WHERE NOT EXISTS {{ MATCH (r:RetiredGraphNode {{graph_id: '{graph}'}}) WHERE NOT r:GraphNode }} "
    "MATCH (x:GraphTombstone {{graph_id: '{tomb}'}}) DELETE x"
)


def available(store: DropTarget) -> bool:
    """Whether the server runs APOC's background jobs (else drops delete synchronously)."""
    try:
        return store.has_procedures(PROCEDURES)
    except Exception:  # noqa: BLE001 - a user without SHOW PROCEDURES rights drops synchronously
        return False


def retire(store: DropTarget, graph_id: str) -> str:
    """Retire a graph's nodes (labels swapped for :RetiredGraphNode) and delete its record, leaving a
    :GraphTombstone for the background delete; returns the tombstone id. Interrupted, the graph stays listed as
    incomplete, and the next drop retires the rest (what was retired is deleted with it)."""
    tomb = f"{TOMB_PREFIX}{uuid.uuid4().hex}"
    store.execute(RETIRE_NODES, {"g": graph_id, "batch": RETIRE_BATCH})
    store._write_tx([(cypher, {"g": graph_id, "t": tomb}) for cypher in RETIRE])
    return tomb


def submit(store: DropTarget, tomb: str, graph_id: str) -> None:
    """Start the server-side delete of a retired graph's nodes and relationships (a job named after its tomb)."""
    if not TOMB_PATTERN.fullmatch(tomb):
        raise ValueError(f"not a tombstone id: {tomb!r}")
    graph_id = check_graph_id(graph_id)  # both ids are checked before anything else: they become statement text
    batch = max(1, min(DELETE_BATCH, int(store.batch_size)))  # a smaller --batch-size fits less transaction memory
    statement = BACKGROUND.format(tomb=tomb, graph=graph_id, batch=batch)
    store.execute(
        "CALL apoc.periodic.submit($name, $statement) YIELD name RETURN name",
        {"name": JOB_PREFIX + tomb, "statement": statement},
    )


def pending(store: DropTarget) -> list[tuple[str, str]]:
    """(tombstone id, graph id) of the drops whose nodes are still being (or still to be) deleted."""
    rows = store.read("MATCH (x:GraphTombstone) RETURN x.graph_id, x.of ORDER BY x.since").rows
    return [(str(tomb), str(graph_id)) for tomb, graph_id in rows]


def resume(store: DropTarget) -> list[str]:
    """Submit again every tombstone that no running job deletes (after a restart or a killed client)."""
    tombs = pending(store)
    if not tombs:
        return []
    running = {
        str(r[0])
        for r in store.read(
            "CALL apoc.periodic.list() YIELD name, done, cancelled WHERE NOT done AND NOT cancelled RETURN name"
        ).rows
    }
    resumed = [(tomb, graph_id) for tomb, graph_id in tombs if JOB_PREFIX + tomb not in running]
    for tomb, graph_id in resumed:
        submit(store, tomb, graph_id)
    return [tomb for tomb, _ in resumed]


def wait(store: DropTarget, timeout: float = 600.0, poll: float = 0.2, restarts: int = 2) -> float:
    """Block until every background drop has finished (tests, benches, `Session.drop(wait=True)`); seconds
    waited. A drop whose job ended with its tombstone left (a server restart, or batches the server refused) is
    started again up to `restarts` times, then reported with where to look."""
    start, next_check, started_again = time.perf_counter(), 2.0, 0
    while pending(store):
        waited = time.perf_counter() - start
        if waited > timeout:
            left = ", ".join(graph_id for _, graph_id in pending(store))
            raise TimeoutError(f"background drops still running after {timeout:.0f} s (graphs {left})")
        if waited > next_check:
            next_check = waited + 2.0
            if resume(store):
                started_again += 1
            if started_again > restarts:
                raise GraphstoreError(
                    f"The background delete of {', '.join(g for _, g in pending(store))} keeps stopping before "
                    f"it is done on {store.uri}.",
                    "See the server's neo4j.log (e.g. transaction memory: lower --batch-size); the graph is already "
                    "gone from listings, and the next store opened starts its delete again.",
                )
        time.sleep(poll)
    return time.perf_counter() - start


def status_fields(store: DropTarget) -> dict[str, Any]:
    """The background drops still running, and the nodes they have left, for `store status`."""
    tombs = pending(store)
    if not tombs:
        return {"drops": 0, "nodes": 0}
    rows = store.read("MATCH (n:RetiredGraphNode) WHERE NOT n:GraphNode RETURN count(n)").rows
    return {"drops": len(tombs), "nodes": int(rows[0][0]) if rows else 0}
