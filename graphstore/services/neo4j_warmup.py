"""The warm-up `graphstore services start` gives a fresh Neo4j server: small graphs written and dropped through the
store's own write path, so the first real write does not pay for the JIT compiling it (bench/RESULTS.md,
"First write after a start").

Each round writes a throw-away graph (`graphstore-warmup-<32 hex>`, nodes and relationships in parallel lanes
through the write plugin or Cypher, whichever the store picks) and drops it in the call, so the procedures, the
kernel's write and commit paths, the index updates, the id lookup and the drop's queries are compiled, and the store
is left as it was: no graph, no background drop. Rounds stop once the time budget is spent; a failure ends the
warm-up (the server still runs) and is reported, never raised.
"""

from __future__ import annotations

import re
import time
import uuid
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from graphstore.graph import Graph
from graphstore.masking import mask_secret
from graphstore.store.neo4j_store import Neo4jStore

WARMUP_GRAPH = re.compile(r"^graphstore-warmup-[0-9a-f]{32}$")  # only such graphs are ever dropped here
NODES, EDGES = 20_000, 100_000  # per round: the store's own batch size and two lanes, as a real write runs them
BATCH, LANE_MIN = 20_000, 40_000
ROUNDS = 12  # at most this many graphs; the caller's budget (neo4j_server.WARM_UP_S by default) usually ends it


class OutOfTime(Exception):
    """The warm-up's budget is spent: the write stops after its current batch (the graph is then dropped)."""


@dataclass
class WarmupResult:
    """What the warm-up did: whole rounds written and dropped, whether one more was cut by the budget, seconds,
    and the error that ended it (None: none)."""

    rounds: int
    seconds: float
    error: str | None = None
    cut: bool = False


def warmup_graph(nodes: int = NODES, edges: int = EDGES, seed: int = 0) -> Graph:
    """A throw-away weights-like graph: Neuron nodes (layer, layer_index) and WEIGHT edges (w, abs_w)."""
    rng = np.random.default_rng(seed)
    graph = Graph(f"graphstore-warmup-{uuid.uuid4().hex}", "weights", params={"warmup": True})
    layer_index = np.arange(nodes) % 4
    graph.add_nodes("Neuron", np.arange(nodes), layer=layer_index.astype(str).astype(object), layer_index=layer_index)
    w = rng.standard_normal(edges)
    src, dst = rng.integers(0, nodes, edges), rng.integers(0, nodes, edges)
    graph.add_edges("WEIGHT", "Neuron", "Neuron", src, dst, w=w, abs_w=np.abs(w))
    return graph


def _drop_leftovers(store: Neo4jStore) -> None:
    """Drop warm-up graphs an interrupted earlier warm-up left (only ids of the warm-up's own pattern)."""
    for info in store.list_graphs():
        if WARMUP_GRAPH.match(info.graph_id):
            _drop(store, info.graph_id)


def _round(store: Neo4jStore, graph: Graph, deadline: float) -> bool:
    """Write the graph, stopping after the batch that passes the deadline, and drop it in the call (also when the
    write fails part-way); True when the whole graph was written."""

    def check(step: str, done: int, total: int) -> None:
        if time.monotonic() > deadline:
            raise OutOfTime(step)

    try:
        store.write_graph(graph, on_progress=check)
        return True
    except OutOfTime:
        return False
    finally:
        _drop(store, graph.graph_id)


def _drop(store: Neo4jStore, graph_id: str) -> None:
    """Drop the graph in the call by one writer (a small graph: fewer statements to plan than the halves)."""
    writers, store.writers = store.writers, 1
    try:
        if store.graph_info(graph_id) is not None:
            store.drop_graph(graph_id)
    finally:
        store.writers = writers


def warm_up(uri: str, user: str, password: str, budget_s: float, rounds: int = ROUNDS) -> WarmupResult:
    """Write and drop warm-up graphs on the server at uri: `rounds` of them, or fewer when `budget_s` runs out.

    The budget counts from after the store's first open (its schema and plugin check: what the first command would
    pay anyway); a write is cut after the batch that passes it, and the drop that follows is not bounded by it."""
    start, done, cut = time.monotonic(), 0, False
    try:
        with closing(Neo4jStore(uri, user, password, batch_size=BATCH, background_drops=False)) as store:
            store.lane_min_rows = LANE_MIN
            _drop_leftovers(store)
            deadline = time.monotonic() + budget_s
            while done < rounds and not cut:
                cut = not _round(store, warmup_graph(seed=done), deadline)
                done += 0 if cut else 1
    except Exception as exc:  # noqa: BLE001 - a failed warm-up is reported; the server it warms still runs
        error = mask_secret(f"{type(exc).__name__}: {exc}", password)
        return WarmupResult(done, round(time.monotonic() - start, 1), error)
    return WarmupResult(done, round(time.monotonic() - start, 1), cut=cut)
