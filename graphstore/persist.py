"""Saving and dropping graphs in the configured store and the tracking DB together.

The store is the authority on what is stored; the tracking DB mirrors every write (writing -> complete, or
incomplete with the error), so a failed or interrupted write is never shown as complete in either place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from graphstore.config import Settings
from graphstore.connections import Connections
from graphstore.errors import GraphExists, GraphNotFound
from graphstore.graph import Graph
from graphstore.store import COMPLETE
from graphstore.store.base import GraphStore, ProgressCallback, WriteReport, check_finite_edges
from graphstore.tracking.repo import Tracking


@contextmanager
def connected(where: Settings | Connections) -> Iterator[Connections]:
    """A job's connections (kept open for it), or connections of their own for bare settings (closed after)."""
    if isinstance(where, Connections):
        with where.hold():
            yield where
    else:
        with Connections(where) as own:
            yield own


def save_graph(
    where: Settings | Connections,
    graph: Graph,
    *,
    replace: bool = False,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
    checkpoint_id: int | None = None,
) -> WriteReport:
    """Write a graph to the configured store and record it in the tracking DB (a job passes its connections)."""
    with connected(where) as conn:
        return write_tracked(
            conn.store,
            conn.tracking,
            graph,
            replace=replace,
            resume=resume,
            on_progress=on_progress,
            checkpoint_id=checkpoint_id,
        )


def write_tracked(
    store: GraphStore,
    tracking: Tracking,
    graph: Graph,
    *,
    replace: bool = False,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
    checkpoint_id: int | None = None,
) -> WriteReport:
    """Refuse conflicts and invalid graphs before touching anything, then write with the tracking row following
    each state."""
    check_finite_edges(graph)
    info = store.graph_info(graph.graph_id)
    if info is not None and not replace and not (resume and info.status != COMPLETE):
        raise store.exists_error(info)
    record = tracking.get_graph(graph.graph_id)
    if record and record.status == COMPLETE and record.store_uri != store.uri and not replace:
        raise GraphExists(
            f"Graph {graph.graph_id} is recorded as stored in {record.store_uri}.",
            "Pass --replace to record it in this store instead, or choose another --graph-id.",
        )
    tracking.begin_graph(
        graph.graph_id,
        graph.kind,
        graph.params,
        store.uri,
        run_id=graph.run_id,
        checkpoint_id=checkpoint_id,
        replace=True,
    )
    try:
        report = store.write_graph(graph, replace=replace, resume=resume, on_progress=on_progress)
    except BaseException as exc:
        tracking.fail_graph(graph.graph_id, f"{type(exc).__name__}: {exc}"[:2000])
        raise
    tracking.finish_graph(graph.graph_id, report.nodes, report.edges, report.seconds)
    return report


def drop_graph(where: Settings | Connections, graph_id: str) -> dict[str, int]:
    """Delete a graph from the store and its record (with analyses) from the tracking DB; returns the store's
    background drops still deleting records (Neo4j with APOC retires a graph at once and deletes it later)."""
    with connected(where) as conn:
        tracking, store = conn.tracking, conn.store
        in_store = store.graph_info(graph_id) is not None
        if in_store:
            try:
                store.drop_graph(graph_id)
            except BaseException as exc:  # the store now says incomplete: the tracking row must agree
                if tracking.get_graph(graph_id) is not None:
                    tracking.fail_graph(graph_id, f"drop did not finish: {type(exc).__name__}: {exc}"[:2000])
                raise
        in_tracking = tracking.drop_graph(graph_id)
        if not in_store and not in_tracking:
            raise store.not_found(graph_id)
        if not in_store:
            raise GraphNotFound(f"Graph {graph_id} was not in {store.uri}; removed its tracking record only.")
        return store.pending_drops()
