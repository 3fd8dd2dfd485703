"""Similarity of two graphs on the same node set (003): graph-average Jaccard and class neighbourhood similarity.

Both use the undirected, binary neighbourhoods of the chosen relationship types, matched by node key. CNS is
asymmetric, A is the reference: CNS = mean over v of sum_c min(HA[v,c], HB[v,c]) / sum_c HA[v,c] with
H = adjacency x one-hot(labels); nodes without neighbours in A are left out of the mean. For Jaccard, a node with
no neighbours in either graph counts as identical (1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from graphstore.analysis.base import AnalysisError
from graphstore.convert import to_scipy
from graphstore.graph import Graph

METHODS = ("jaccard", "cns")


@dataclass
class SimilarityParams:
    """Compare two graphs with the same nodes (e.g. epochs, seeds, pruning rounds, noise levels)."""

    rel_types: str = field(default="", metadata={"help": "Comma-separated relationship types (default: all)."})
    label_property: str = field(default="label", metadata={"help": "Node property holding the class (for CNS)."})


def _adjacency(graph: Graph, rel_types: str) -> tuple[np.ndarray, sp.csr_matrix]:
    """Keys in node_index order and the binary symmetric adjacency."""
    types = [t.strip() for t in rel_types.split(",") if t.strip()] or None
    mat = to_scipy(graph, types=types, symmetric=True)
    mat.data[:] = 1.0
    mat.setdiag(0)
    mat.eliminate_zeros()
    keys, _ = graph.node_index()
    return keys, mat.tocsr()


def _aligned(graph_a: Graph, graph_b: Graph, rel_types: str) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
    """Both adjacencies in graph A's node order; the node sets must be equal."""
    keys_a, adj_a = _adjacency(graph_a, rel_types)
    keys_b, adj_b = _adjacency(graph_b, rel_types)
    if len(keys_a) != len(keys_b) or not np.array_equal(np.sort(keys_a), np.sort(keys_b)):
        raise AnalysisError(
            f"Graphs {graph_a.graph_id} and {graph_b.graph_id} do not have the same nodes "
            f"({len(keys_a)} vs {len(keys_b)}).",
            "Compare graphs built on the same samples/units.",
        )
    order = np.argsort(keys_b)[np.searchsorted(np.sort(keys_b), keys_a)]
    return keys_a, adj_a, adj_b[order][:, order].tocsr()


def jaccard(graph_a: Graph, graph_b: Graph, params: SimilarityParams | None = None) -> tuple[float, np.ndarray]:
    """(graph-average Jaccard, per-node Jaccard in A's node order)."""
    params = params or SimilarityParams()
    _, adj_a, adj_b = _aligned(graph_a, graph_b, params.rel_types)
    inter = np.asarray(adj_a.multiply(adj_b).sum(axis=1)).ravel()
    union = np.asarray(adj_a.sum(axis=1)).ravel() + np.asarray(adj_b.sum(axis=1)).ravel() - inter
    per_node = np.divide(inter, union, out=np.ones_like(inter, dtype=float), where=union > 0)
    return float(per_node.mean()) if len(per_node) else 1.0, per_node


def _labels(graph: Graph, keys: np.ndarray, prop: str) -> np.ndarray:
    """Class label of each key (from whichever node table has the property)."""
    values = np.empty(len(keys), dtype=object)
    found = np.zeros(len(keys), dtype=bool)
    for table in graph.nodes.values():
        if prop in table.props:
            pos = np.searchsorted(np.sort(table.keys), keys)
            pos = np.clip(pos, 0, len(table.keys) - 1)
            order = np.argsort(table.keys)
            hit = table.keys[order][pos] == keys
            values[hit] = table.props[prop][order][pos][hit]
            found |= hit
    if not found.all():
        raise AnalysisError(
            f"Graph {graph.graph_id}: {int((~found).sum())} nodes lack the {prop!r} property.",
            "Pass --label-property with the node property that holds the class.",
        )
    return values


def cns(graph_a: Graph, graph_b: Graph, params: SimilarityParams | None = None) -> tuple[float, np.ndarray]:
    """(class neighbourhood similarity of B to reference A, per-node CNS; NaN where A has no neighbours)."""
    params = params or SimilarityParams()
    keys, adj_a, adj_b = _aligned(graph_a, graph_b, params.rel_types)
    classes, codes = np.unique(_labels(graph_a, keys, params.label_property).astype(str), return_inverse=True)
    onehot = sp.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), len(classes)))
    h_a = (adj_a @ onehot).toarray()
    h_b = (adj_b @ onehot).toarray()
    denom = h_a.sum(axis=1)
    per_node = np.full(len(keys), np.nan)
    np.divide(np.minimum(h_a, h_b).sum(axis=1), denom, out=per_node, where=denom > 0)
    valid = per_node[~np.isnan(per_node)]
    return (float(valid.mean()) if len(valid) else float("nan")), per_node
