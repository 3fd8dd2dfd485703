"""Dropping a Neo4j graph in the server's background: the graph is retired at once, its records deleted later.

Deleting a relationship costs the server about what creating it costs (bench/RESULTS.md, "Neo4j drop and replace"),
so a synchronous drop of a large graph takes about as long as its write. A retired graph is invisible at once: its
nodes move to a tombstone id that no user graph can have (`~dropping~<hex>`, refused by names.check_graph_id), its
:Graph record goes, and a :GraphTombstone node records the id. APOC's `apoc.periodic.submit` then deletes the nodes
and relationships on the server in batches and removes the tombstone last. A replace defers that delete until its
write is done, so the two do not share the cores. A tombstone whose job is gone (server restarted, client killed
between the steps) is submitted again the next time a store opens. No other graph is touched: every statement is
scoped by the tombstone id.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphstore.store.neo4j_store import Neo4jStore

TOMB_PREFIX = "~dropping~"
JOB_PREFIX = "graphstore-drop-"
RENAME_BATCH = 10_000  # nodes per rename transaction
DELETE_NODES = 500  # nodes per background delete transaction (about 10k relationships on a weight graph)
PROCEDURES = ("apoc.periodic.submit", "apoc.periodic.iterate", "apoc.periodic.list")

CLAIM_TOMB = (  # the graph's record keeps its tombstone id, so a drop that stopped part-way continues with it
    "MATCH (g:Graph {graph_id: $g}) SET g.tomb = coalesce(g.tomb, $t) RETURN g.tomb AS t"
)
RENAME = (
    "MATCH (n:GraphNode {graph_id: $g}) CALL (n) { SET n.graph_id = $t, n.uid = $t + ':' + n.uid } "
    "IN TRANSACTIONS OF $batch ROWS"
)
RETIRE = (  # one transaction: the record's lock first (writers take it per batch), stragglers, then the record
    ("MATCH (g:Graph {graph_id: $g}) SET g.status = 'dropping'", False),
    ("MATCH (n:GraphNode {graph_id: $g}) SET n.graph_id = $t, n.uid = $t + ':' + n.uid", False),
    ("MATCH (l:GraphLane {graph_id: $g}) DELETE l", False),
    ("MATCH (g:Graph {graph_id: $g}) DELETE g", False),
    ("MERGE (x:GraphTombstone {graph_id: $t}) ON CREATE SET x.of = $g, x.since = datetime()", False),
)
TOMB_PATTERN = re.compile(r"~dropping~[0-9a-f]{32}")
# Run by apoc.periodic.submit, which (APOC 5.26) does not pass its params map on: the tombstone id is written into
# the statement, after TOMB_PATTERN has checked it. The tombstone goes only once no node of it is left.
BACKGROUND = (
    "CALL apoc.periodic.iterate('MATCH (n:GraphNode {{graph_id: $t}}) RETURN n', 'DETACH DELETE n', "
    "{{batchSize: {batch}, params: {{t: '{tomb}'}}, retries: 5}}) YIELD batches "
    "WITH batches WHERE NOT EXISTS {{ MATCH (:GraphNode {{graph_id: '{tomb}'}}) }} "
    "MATCH (x:GraphTombstone {{graph_id: '{tomb}'}}) DELETE x"
)


def available(store: Neo4jStore) -> bool:
    """Whether the server runs APOC's background jobs (else drops delete synchronously)."""
    try:
        rows = store.read(
            "SHOW PROCEDURES YIELD name WHERE name IN $names RETURN count(*) AS n", {"names": list(PROCEDURES)}
        ).rows
    except Exception:  # noqa: BLE001 - a user without SHOW PROCEDURES rights drops synchronously
        return False
    return bool(rows) and rows[0][0] == len(PROCEDURES)


def retire(store: Neo4jStore, graph_id: str) -> str:
    """Move a graph's nodes under a fresh (or its unfinished drop's) tombstone id and delete its record; returns
    the tombstone id. Interrupted, the graph stays listed as incomplete and a second drop finishes the move."""
    claimed = store.execute(CLAIM_TOMB, {"g": graph_id, "t": f"{TOMB_PREFIX}{uuid.uuid4().hex}"}).rows
    tomb = str(claimed[0][0]) if claimed else f"{TOMB_PREFIX}{uuid.uuid4().hex}"
    store.execute(RENAME, {"g": graph_id, "t": tomb, "batch": RENAME_BATCH})
    store._write_tx([(cypher, {"g": graph_id, "t": tomb}) for cypher, _ in RETIRE])
    return tomb


def submit(store: Neo4jStore, tomb: str) -> None:
    """Start the server-side delete of a tombstone's nodes and relationships (a job named after it)."""
    if not TOMB_PATTERN.fullmatch(tomb):
        raise ValueError(f"not a tombstone id: {tomb!r}")
    store.execute(
        "CALL apoc.periodic.submit($name, $statement) YIELD name RETURN name",
        {"name": JOB_PREFIX + tomb, "statement": BACKGROUND.format(tomb=tomb, batch=DELETE_NODES)},
    )


def pending(store: Neo4jStore) -> list[str]:
    """The tombstones whose nodes are still being (or still to be) deleted."""
    return [str(r[0]) for r in store.read("MATCH (x:GraphTombstone) RETURN x.graph_id ORDER BY x.since").rows]


def resume(store: Neo4jStore) -> list[str]:
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
    resumed = [t for t in tombs if JOB_PREFIX + t not in running]
    for tomb in resumed:
        submit(store, tomb)
    return resumed


def wait(store: Neo4jStore, timeout: float = 600.0, poll: float = 0.2) -> float:
    """Block until every background drop has finished (tests, benches, `store status --wait`); seconds waited."""
    start = time.perf_counter()
    checked_jobs = False
    while pending(store):
        waited = time.perf_counter() - start
        if waited > timeout:
            raise TimeoutError(f"background drops still running after {timeout:.0f} s: {', '.join(pending(store))}")
        if not checked_jobs and waited > 2.0:  # a job that died (server restart) is started again once
            resume(store)
            checked_jobs = True
        time.sleep(poll)
    return time.perf_counter() - start


def status_fields(store: Neo4jStore) -> dict[str, Any]:
    """The background drops still running, and the nodes they have left, for `store status`."""
    tombs = pending(store)
    if not tombs:
        return {"drops": 0, "nodes": 0}
    rows = store.read("MATCH (n:GraphNode) WHERE n.graph_id IN $t RETURN count(n)", {"t": tombs}).rows
    return {"drops": len(tombs), "nodes": int(rows[0][0]) if rows else 0}
