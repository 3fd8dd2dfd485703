"""Graph statistics (client-side): components, diameter and average shortest path in hops, clustering, degrees."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphstore.analysis.base import (
    ANALYSES,
    AnalysisResult,
    AnalysisSpec,
    Projection,
    invalid,
    per_label,
    undirected_igraph,
)
from graphstore.graph import Graph


@dataclass
class StatsParams(Projection):
    """Whole-graph statistics on the undirected, unweighted projection."""

    histogram_bins: int = field(default=20, metadata={"help": "Bins of the reported degree histogram."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weight:
            raise invalid("weight", self.weight, "be empty: these statistics are unweighted (hops)")
        if self.histogram_bins < 1:
            raise invalid("histogram_bins", self.histogram_bins, "be at least 1")


def stats_client(graph: Graph, params: StatsParams) -> AnalysisResult:
    """Components (sizes), diameter and mean shortest path (hops, largest component), clustering, degrees."""
    g = undirected_igraph(graph, params)
    components = g.connected_components()
    simple = g.copy().simplify(multiple=True, loops=True)
    membership = np.asarray(components.membership, dtype=np.int64)
    sizes = np.bincount(membership) if len(membership) else np.zeros(0, np.int64)
    giant = simple.induced_subgraph(np.flatnonzero(membership == int(np.argmax(sizes))).tolist() if len(sizes) else [])
    degrees = np.asarray(simple.degree(), dtype=np.int64)
    counts, edges = np.histogram(degrees, bins=max(1, min(params.histogram_bins, int(degrees.max(initial=0)) + 1)))
    local = np.nan_to_num(np.asarray(simple.transitivity_local_undirected(mode="zero"), dtype=float))
    summary = {
        "nodes": g.vcount(),
        "edges": g.ecount(),
        "components": len(components),
        "largest_component": int(sizes.max(initial=0)),
        "diameter_hops": int(giant.diameter(directed=False, unconn=False)) if giant.vcount() else 0,
        "average_shortest_path_hops": float(giant.average_path_length(directed=False)) if giant.vcount() > 1 else 0.0,
        "transitivity": float(simple.transitivity_undirected()) if g.ecount() else 0.0,
        "average_clustering": float(local.mean()) if len(local) else 0.0,
        "degree_mean": float(degrees.mean()) if len(degrees) else 0.0,
        "degree_max": int(degrees.max(initial=0)),
        "degree_histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }
    columns = {"component": membership, "clustering": local}
    return AnalysisResult(per_label(graph, columns), summary)


ANALYSES.register(
    AnalysisSpec("stats", StatsParams, stats_client, summary="Components, diameter, paths, clustering, degrees.")
)
