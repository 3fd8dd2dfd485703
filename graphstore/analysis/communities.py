"""Community detection: Louvain, Leiden and label propagation, client-side (igraph / leidenalg) and in GDS.

Modularity is reported for every result (standard definition, m = total weight, with the resolution used).
Results are node properties named after the algorithm (`louvain`, `leiden`, `label_propagation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphstore.analysis import gds
from graphstore.analysis.base import (
    ANALYSES,
    AnalysisError,
    AnalysisResult,
    AnalysisSpec,
    Projection,
    igraph_seeded,
    invalid,
    per_label,
    undirected_igraph,
)
from graphstore.graph import Graph


@dataclass
class CommunityParams(Projection):
    """Community detection on an undirected projection of the graph."""

    resolution: float = field(default=1.0, metadata={"help": "Modularity resolution (gamma); 1 is standard."})
    seed: int = field(default=0, metadata={"help": "Random seed (client engines)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.resolution > 0 and math.isfinite(self.resolution)):
            raise invalid("resolution", self.resolution, "be a positive number (1 is standard modularity)")
        if self.seed < 0:
            raise invalid("seed", self.seed, "be 0 or positive")


def _result(graph: Graph, g: Any, membership: list[int], prop: str, resolution: float) -> AnalysisResult:
    weights = g.es["weight"] if "weight" in g.es.attributes() else None
    modularity = g.modularity(membership, weights=weights, resolution=resolution) if g.ecount() else 0.0
    values = np.asarray(membership, dtype=np.int64)
    return AnalysisResult(
        per_label(graph, {prop: values}), {"communities": int(len(np.unique(values))), "modularity": float(modularity)}
    )


def louvain_client(graph: Graph, params: CommunityParams) -> AnalysisResult:
    """igraph's multilevel (Louvain) algorithm."""
    g = undirected_igraph(graph, params)
    weights = "weight" if params.weight else None
    with igraph_seeded(params.seed):
        clusters = g.community_multilevel(weights=weights, resolution=params.resolution)
    return _result(graph, g, clusters.membership, "louvain", params.resolution)


def leiden_client(graph: Graph, params: CommunityParams) -> AnalysisResult:
    """leidenalg's Leiden on the modularity (RB configuration) quality function."""
    import leidenalg  # deferred: optional and slow to import (about 2 s); only the leiden method needs it

    g = undirected_igraph(graph, params)
    partition = leidenalg.find_partition(
        g,
        leidenalg.RBConfigurationVertexPartition,
        weights="weight" if params.weight else None,
        resolution_parameter=params.resolution,
        seed=params.seed,
        n_iterations=-1,
    )
    return _result(graph, g, partition.membership, "leiden", params.resolution)


def label_propagation_client(graph: Graph, params: CommunityParams) -> AnalysisResult:
    """igraph's label propagation."""
    g = undirected_igraph(graph, params)
    with igraph_seeded(params.seed):
        clusters = g.community_label_propagation(weights="weight" if params.weight else None)
    return _result(graph, g, clusters.membership, "label_propagation", params.resolution)


def _gds_community(procedure: str, prop: str, extra: Callable[[CommunityParams], dict[str, Any]]) -> Any:
    """A GDS engine for one community procedure (`.write`, one thread so results are reproducible)."""

    def run(store: Any, graph_id: str, params: CommunityParams) -> AnalysisResult:
        config = extra(params)
        row = gds.write(store, procedure, graph_id, params, writeProperty=prop, concurrency=1, **config)
        return AnalysisResult({}, {"communities": int(row["communityCount"]), "modularity": float(row["modularity"])})

    return run


def _louvain_config(params: CommunityParams) -> dict[str, Any]:
    if params.resolution != 1.0:
        raise AnalysisError(
            "GDS Louvain has no resolution parameter.",
            "Use --engine client for Louvain at another resolution, or leiden (gamma) in GDS.",
        )
    return {"maxLevels": 10, "tolerance": 1e-7}


def _leiden_config(params: CommunityParams) -> dict[str, Any]:
    return {"gamma": params.resolution, "randomSeed": params.seed, "maxLevels": 10}


ANALYSES.register(
    AnalysisSpec(
        "louvain",
        CommunityParams,
        louvain_client,
        _gds_community("louvain", "louvain", _louvain_config),
        writes=("louvain",),
        report="communities",
        summary="Louvain communities and modularity (igraph / GDS).",
    )
)
ANALYSES.register(
    AnalysisSpec(
        "leiden",
        CommunityParams,
        leiden_client,
        _gds_community("leiden", "leiden", _leiden_config),
        writes=("leiden",),
        report="communities",
        summary="Leiden communities and modularity (leidenalg / GDS).",
    )
)
ANALYSES.register(
    AnalysisSpec(
        "label-propagation",
        CommunityParams,
        label_propagation_client,
        writes=("label_propagation",),
        report="communities",
        summary="Label propagation communities (igraph).",
    )
)
