"""Centrality and hubs: degree, PageRank, betweenness (sampled option), eigenvector, k-core; client and GDS.

Each writes one node property named after it (`degree` and `weighted_degree`, `pagerank`, `betweenness`,
`eigenvector`, `kcore`). PageRank and eigenvector scores are reported normalised to sum 1 so the engines compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphstore.analysis import gds
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
class DegreeParams(Projection):
    """Degree (and weighted degree, when a weight is given) on the undirected projection."""


@dataclass
class PageRankParams(Projection):
    """PageRank on the undirected projection."""

    damping: float = field(default=0.85, metadata={"help": "Damping factor."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.damping < 1:
            raise invalid("damping", self.damping, "be between 0 and 1 (exclusive)")


@dataclass
class BetweennessParams(Projection):
    """Betweenness centrality (hops; a weight is taken as an edge length)."""

    samples: int = field(default=0, metadata={"help": "Source nodes to sample (0 = exact, all sources)."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.samples < 0:
            raise invalid("samples", self.samples, "be 0 (exact) or a positive number of sources")
        if self.seed < 0:
            raise invalid("seed", self.seed, "be 0 or positive")


@dataclass
class EigenvectorParams(Projection):
    """Eigenvector centrality on the undirected projection."""


@dataclass
class KCoreParams(Projection):
    """k-core number (coreness) of every node, unweighted."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weight:
            raise invalid("weight", self.weight, "be empty: the k-core number is unweighted")


def _summary(name: str, values: np.ndarray, keys: np.ndarray, top: int = 10) -> dict[str, Any]:
    order = np.argsort(-values, kind="stable")[:top]
    return {
        "top": [[int(keys[i]), float(values[i])] for i in order],
        "mean": float(values.mean()) if len(values) else 0.0,
        "max": float(values.max()) if len(values) else 0.0,
    }


def _result(graph: Graph, columns: dict[str, np.ndarray], main: str) -> AnalysisResult:
    keys, _ = graph.node_index()
    return AnalysisResult(per_label(graph, columns), _summary(main, columns[main], keys))


def degree_client(graph: Graph, params: DegreeParams) -> AnalysisResult:
    g = undirected_igraph(graph, params)
    columns = {"degree": np.asarray(g.degree(), dtype=np.int64)}
    if params.weight:
        columns["weighted_degree"] = np.asarray(g.strength(weights="weight"), dtype=float)
    return _result(graph, columns, "degree")


def pagerank_client(graph: Graph, params: PageRankParams) -> AnalysisResult:
    g = undirected_igraph(graph, params)
    scores = g.pagerank(directed=False, damping=params.damping, weights="weight" if params.weight else None)
    return _result(graph, {"pagerank": np.asarray(scores, dtype=float)}, "pagerank")


def betweenness_client(graph: Graph, params: BetweennessParams) -> AnalysisResult:
    g = undirected_igraph(graph, params)
    weights = "weight" if params.weight else None
    if params.samples and params.samples < g.vcount():
        values = _sampled_betweenness(g, params.samples, params.seed, weights)
    else:
        values = np.asarray(g.betweenness(directed=False, weights=weights), dtype=float)
    return _result(graph, {"betweenness": values}, "betweenness")


def _sampled_betweenness(g: Any, samples: int, seed: int, weights: str | None) -> np.ndarray:
    """Brandes from a random sample of sources (igraph subset betweenness), scaled by n / samples."""
    rng = np.random.default_rng(seed)
    sources = rng.choice(g.vcount(), size=samples, replace=False).tolist()
    partial = np.asarray(g.betweenness(directed=False, weights=weights, sources=sources), dtype=float)
    return partial * g.vcount() / samples


def eigenvector_client(graph: Graph, params: EigenvectorParams) -> AnalysisResult:
    g = undirected_igraph(graph, params)
    scores = np.asarray(g.eigenvector_centrality(scale=False, weights="weight" if params.weight else None))
    return _result(graph, {"eigenvector": scores / scores.sum() if scores.sum() else scores}, "eigenvector")


def kcore_client(graph: Graph, params: KCoreParams) -> AnalysisResult:
    g = undirected_igraph(graph, params)
    g.simplify(multiple=True, loops=True)
    return _result(graph, {"kcore": np.asarray(g.coreness(), dtype=np.int64)}, "kcore")


def _gds_write(
    procedure: str, prop: str, config_of: Callable[[Any], dict[str, Any]], yields: tuple[str, ...]
) -> Callable[[Any, str, Any], AnalysisResult]:
    """A GDS engine running gds.<procedure>.write into `prop` (one thread) and keeping the `yields` columns."""

    def run(store: Any, graph_id: str, params: Projection) -> AnalysisResult:
        row = gds.write(store, procedure, graph_id, params, writeProperty=prop, concurrency=1, **config_of(params))
        return AnalysisResult({}, {"gds": {name: row.get(name) for name in yields}})

    return run


ANALYSES.register(
    AnalysisSpec(
        "degree",
        DegreeParams,
        degree_client,
        _gds_write("degree", "degree", lambda p: {}, ("nodePropertiesWritten",)),
        writes=("degree", "weighted_degree"),
        report="centrality",
        summary="Degree and weighted degree.",
    )
)
ANALYSES.register(
    AnalysisSpec(
        "pagerank",
        PageRankParams,
        pagerank_client,
        _gds_write(
            "pageRank",
            "pagerank",
            lambda p: {"dampingFactor": p.damping, "maxIterations": 200, "tolerance": 1e-10},
            ("ranIterations", "didConverge"),
        ),
        writes=("pagerank",),
        report="centrality",
        summary="PageRank.",
    )
)
ANALYSES.register(
    AnalysisSpec(
        "betweenness",
        BetweennessParams,
        betweenness_client,
        _gds_write(
            "betweenness",
            "betweenness",
            lambda p: {"samplingSize": p.samples, "samplingSeed": p.seed} if p.samples else {},
            ("nodePropertiesWritten",),
        ),
        writes=("betweenness",),
        report="centrality",
        summary="Betweenness centrality (exact or sampled).",
    )
)
ANALYSES.register(
    AnalysisSpec(
        "eigenvector",
        EigenvectorParams,
        eigenvector_client,
        _gds_write(
            "eigenvector",
            "eigenvector",
            lambda p: {"maxIterations": 500, "tolerance": 1e-10},
            ("ranIterations", "didConverge"),
        ),
        writes=("eigenvector",),
        report="centrality",
        summary="Eigenvector centrality.",
    )
)
ANALYSES.register(
    AnalysisSpec(
        "kcore",
        KCoreParams,
        kcore_client,
        _gds_write("kcore", "kcore", lambda p: {}, ("nodePropertiesWritten", "degeneracy")),
        writes=("kcore",),
        report="centrality",
        summary="k-core number of every node.",
    )
)
