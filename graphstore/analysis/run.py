"""Run a registered analysis on a stored graph: choose the engine, compute, write node properties, record it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from graphstore.analysis.base import ANALYSES, AnalysisError, AnalysisResult, AnalysisSpec
from graphstore.analysis.gds import has_gds, require_gds
from graphstore.config import Settings
from graphstore.connections import Connections
from graphstore.errors import GraphNotFound, GraphstoreError
from graphstore.graph import Graph
from graphstore.persist import connected, write_tracked
from graphstore.store import COMPLETE
from graphstore.store.base import GraphStore
from graphstore.store.queries import check_write_property
from graphstore.tracking.repo import Tracking

ENGINES = ("auto", "gds", "client")


def load_analyses() -> dict[str, AnalysisSpec]:
    """Every registered analysis by name (the registry imports graphstore.analysis's modules on first use)."""
    return dict(ANALYSES.items())


def get_analysis(name: str) -> AnalysisSpec:
    """An analysis by name; an unknown one raises UnknownAnalysis with close matches and the known names."""
    return ANALYSES.get(name)


@dataclass
class AnalysisRun:
    """What one analysis did: which engine, its summary, and how long it took."""

    name: str
    graph_id: str
    engine: str
    summary: dict[str, Any]
    seconds: float


def choose_engine(store: GraphStore, spec: AnalysisSpec, engine: str) -> str:
    """gds when asked (it must be there) or when auto and available; client otherwise."""
    if engine not in ENGINES:
        raise AnalysisError(f"Unknown engine {engine!r}.", f"Choose one of {', '.join(ENGINES)}.")
    if engine == "gds":
        if spec.gds is None:
            raise AnalysisError(f"{spec.name} has no GDS engine.", "Use --engine client (or auto).")
        require_gds(store)
        return "gds"
    if engine == "auto" and spec.gds is not None and has_gds(store):
        return "gds"
    return "client"


def run_analysis(
    where: Settings | Connections, name: str, graph_id: str, params: Any, engine: str = "auto"
) -> AnalysisRun:
    """Run one analysis and record it; results become node properties in the store (a job passes its connections)."""
    with connected(where) as conn:
        return _run(conn, get_analysis(name), graph_id, params, engine)


def _run(conn: Connections, spec: AnalysisSpec, graph_id: str, params: Any, engine: str) -> AnalysisRun:
    """Check the graph, compute on the chosen engine, write the results and record the analysis."""
    store, start = conn.store, time.perf_counter()
    _check_graph(store, spec, graph_id)
    used = choose_engine(store, spec, engine)
    gds_engine = spec.gds if used == "gds" else None
    result = gds_engine(store, graph_id, params) if gds_engine else _client(store, spec, graph_id, params)
    if result.graphs:
        _store_graphs(store, conn.tracking, result.graphs)
    seconds = time.perf_counter() - start
    _record(conn.tracking, graph_id, spec.name, params, result.summary, used, seconds)
    return AnalysisRun(spec.name, graph_id, used, result.summary, seconds)


def _check_graph(store: GraphStore, spec: AnalysisSpec, graph_id: str) -> None:
    """The graph is stored, complete, and of a kind the analysis takes."""
    info = store.graph_info(graph_id)
    if info is None:
        raise store.not_found(graph_id)
    if info.status != COMPLETE:
        raise GraphNotFound(
            f"Graph {graph_id} is {info.status}, not complete.",
            f"Resume the write with --resume, or drop it: graphstore store drop-graph {graph_id}",
        )
    if spec.kinds and info.kind not in spec.kinds:
        raise AnalysisError(
            f"{spec.name} does not apply to a {info.kind} graph.", f"It takes graphs of kind: {', '.join(spec.kinds)}."
        )


def _client(store: GraphStore, spec: AnalysisSpec, graph_id: str, params: Any) -> AnalysisResult:
    graph = store.read_graph(graph_id)
    result = spec.client(graph, params)
    for columns in (cols for _, cols in result.node_props.values()):
        for name in columns:
            check_write_property(name, f"{spec.name} result property")
    for label, (keys, columns) in result.node_props.items():
        store.write_node_properties(graph_id, label, keys, columns)
    return result


def _store_graphs(store: GraphStore, tracking: Tracking, graphs: list[Graph]) -> None:
    """Write an analysis's companion graphs (replacing earlier ones), tracked like any graph."""
    for graph in graphs:
        write_tracked(store, tracking, graph, replace=True)


def _record(
    tracking: Tracking, graph_id: str, name: str, params: Any, summary: dict, engine: str, seconds: float
) -> None:
    """Record the analysis in the tracking DB (graphs written outside graphstore have no row to attach to)."""
    if tracking.get_graph(graph_id) is None:
        raise GraphstoreError(
            f"Graph {graph_id} has no tracking record; results were written to the store but "
            "the analysis is not recorded.",
            "Write graphs with `graphstore ingest`.",
        )
    tracking.record_analysis(graph_id, name, params=params, summary=summary, engine=engine, seconds=seconds)
