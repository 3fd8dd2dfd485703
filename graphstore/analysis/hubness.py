"""Hubness of a latent kNN graph (003): the k-occurrence distribution and its skewness.

The k-occurrence N_k(x) of a sample is how many samples have it among their k nearest neighbours; it is
recorded on every Sample when the kNN graph is extracted (`k_occurrence`), since the stored union graph keeps each
pair once. A right-skewed distribution (skewness > 0) means a few hubs appear in many neighbourhoods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from graphstore.analysis.base import ANALYSES, AnalysisError, AnalysisResult, AnalysisSpec, invalid
from graphstore.graph import Graph


@dataclass
class HubnessParams:
    """k-occurrence distribution and skewness of a kNN graph's samples."""

    top: int = field(default=10, metadata={"help": "How many hubs to list in the summary."})
    hub_factor: float = field(default=2.0, metadata={"help": "A hub has k-occurrence above hub_factor * k."})

    def __post_init__(self) -> None:
        if self.top < 1:
            raise invalid("top", self.top, "be at least 1")
        if not self.hub_factor > 0:
            raise invalid("hub_factor", self.hub_factor, "be positive")


def hubness_client(graph: Graph, params: HubnessParams) -> AnalysisResult:
    """Skewness, histogram, hubs (N_k > hub_factor * k) and anti-hubs (N_k = 0) of the k-occurrences."""
    samples = graph.nodes.get("Sample")
    if samples is None or "k_occurrence" not in samples.props:
        raise AnalysisError(
            f"Graph {graph.graph_id} has no k_occurrence on its samples.",
            "Hubness takes kNN graphs made by `graphstore ingest --graphs knn`.",
        )
    counts = np.asarray(samples.props["k_occurrence"], dtype=np.int64)
    k = int(graph.params.get("k", max(1, round(float(counts.mean())))))
    order = np.argsort(-counts, kind="stable")[: params.top]
    histogram = np.bincount(counts)
    summary = {
        "k": k,
        "samples": int(len(counts)),
        "skewness": float(stats.skew(counts)) if len(counts) > 2 else 0.0,
        "mean": float(counts.mean()),
        "max": int(counts.max(initial=0)),
        "hubs": int((counts > params.hub_factor * k).sum()),
        "anti_hubs": int((counts == 0).sum()),
        "histogram": histogram.tolist(),
        "top": [[int(samples.keys[i]), int(counts[i])] for i in order],
    }
    hub = (counts > params.hub_factor * k).astype(np.int64)
    return AnalysisResult({"Sample": (samples.keys, {"hub": hub})}, summary)


ANALYSES.register(
    AnalysisSpec(
        "hubness",
        HubnessParams,
        hubness_client,
        kinds=("knn",),
        report="knn-hubness",
        summary="k-occurrence distribution and skewness of a kNN graph (hubs and anti-hubs).",
    )
)
