"""Run a registered analysis on a stored graph: choose the engine, compute, write node properties, record it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from graphstore.analysis.base import ANALYSES, AnalysisError, AnalysisResult, AnalysisSpec
from graphstore.analysis.gds import has_gds, require_gds
from graphstore.config import Settings
from graphstore.errors import GraphNotFound, GraphstoreError
from graphstore.persist import write_tracked
from graphstore.store import COMPLETE, open_store
from graphstore.store.queries import check_write_property
from graphstore.tracking import open_tracking

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


def choose_engine(store: Any, spec: AnalysisSpec, engine: str) -> str:
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


def run_analysis(settings: Settings, name: str, graph_id: str, params: Any, engine: str = "auto") -> AnalysisRun:
    """Run one analysis and record it; results become node properties in the store."""
    spec = get_analysis(name)
    start = time.perf_counter()
    with open_store(settings) as store:
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
                f"{name} does not apply to a {info.kind} graph.", f"It takes graphs of kind: {', '.join(spec.kinds)}."
            )
        used = choose_engine(store, spec, engine)
        gds_engine = spec.gds if used == "gds" else None
        result = gds_engine(store, graph_id, params) if gds_engine else _client(store, spec, graph_id, params)
        if result.graphs:
            _store_graphs(settings, store, result.graphs)
    seconds = time.perf_counter() - start
    _record(settings, graph_id, name, params, result.summary, used, seconds)
    return AnalysisRun(name, graph_id, used, result.summary, seconds)


def _client(store: Any, spec: AnalysisSpec, graph_id: str, params: Any) -> AnalysisResult:
    graph = store.read_graph(graph_id)
    result = spec.client(graph, params)
    for columns in (cols for _, cols in result.node_props.values()):
        for name in columns:
            check_write_property(name, f"{spec.name} result property")
    for label, (keys, columns) in result.node_props.items():
        store.write_node_properties(graph_id, label, keys, columns)
    return result


def _store_graphs(settings: Settings, store: Any, graphs: list) -> None:
    """Write an analysis's companion graphs (replacing earlier ones), tracked like any graph."""
    with open_tracking(settings.tracking_url) as tracking:
        for graph in graphs:
            write_tracked(store, tracking, graph, replace=True)


def _record(
    settings: Settings, graph_id: str, name: str, params: Any, summary: dict, engine: str, seconds: float
) -> None:
    """Record the analysis in the tracking DB (graphs written outside graphstore have no row to attach to)."""
    with open_tracking(settings.tracking_url) as tracking:
        if tracking.get_graph(graph_id) is None:
            raise GraphstoreError(
                f"Graph {graph_id} has no tracking record; results were written to the store but "
                "the analysis is not recorded.",
                "Write graphs with `graphstore ingest`.",
            )
        tracking.record_analysis(graph_id, name, params=params, summary=summary, engine=engine, seconds=seconds)
