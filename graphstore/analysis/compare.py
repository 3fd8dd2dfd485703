"""Compare two stored graphs (Jaccard, CNS) and record the result in the tracking DB's comparisons."""

from __future__ import annotations

import math
from typing import Any

from graphstore.analysis.base import AnalysisError
from graphstore.analysis.similarity import METHODS, SimilarityParams, cns, jaccard
from graphstore.config import Settings
from graphstore.connections import Connections
from graphstore.persist import connected


def run_comparison(
    where: Settings | Connections, method: str, graph_a: str, graph_b: str, params: SimilarityParams | None = None
) -> dict[str, Any]:
    """Read both graphs, compare them (A is the reference for CNS), record and return the result."""
    if method not in METHODS:
        raise AnalysisError(f"Unknown comparison {method!r}.", f"Choose one of {', '.join(METHODS)}.")
    params = params or SimilarityParams()
    with connected(where) as conn:
        a, b = conn.store.read_graph(graph_a), conn.store.read_graph(graph_b)
        value, per_node = (jaccard if method == "jaccard" else cns)(a, b, params)
        result = {
            "value": None if math.isnan(value) else value,
            "nodes": int(len(per_node)),
            "nodes_compared": int((per_node == per_node).sum()),
        }
        if conn.tracking.get_graph(graph_a) and conn.tracking.get_graph(graph_b):
            conn.tracking.record_comparison(method, graph_a, graph_b, params=params, result=result)
    return result
