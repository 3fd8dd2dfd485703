"""Conversions of the in-memory Graph to igraph, networkx and scipy.sparse: the only place they live.

Every conversion uses the row order of `Graph.node_index()`, so results map back to node keys by position.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from graphstore.graph import Graph

if TYPE_CHECKING:
    import igraph
    import networkx


def _selected_edges(graph: Graph, types: Iterable[str] | None) -> list:
    chosen = list(graph.edges) if types is None else list(types)
    unknown = [t for t in chosen if t not in graph.edges]
    if unknown:
        raise KeyError(f"Graph {graph.graph_id} has no edges of type {unknown}; it has {sorted(graph.edges)}.")
    return [graph.edges[t] for t in chosen]


def positions(graph: Graph, keys: np.ndarray) -> np.ndarray:
    """Row positions (in node_index order) of the given node keys, vectorised."""
    order_keys, _ = graph.node_index()
    sorter = np.argsort(order_keys, kind="stable")
    pos = np.searchsorted(order_keys, keys, sorter=sorter)
    pos = np.clip(pos, 0, max(len(order_keys) - 1, 0))
    found = sorter[pos] if len(order_keys) else pos
    if len(keys) and not np.array_equal(order_keys[found], keys):
        raise KeyError("Some edge endpoints are not nodes of the graph.")
    return found


def edge_arrays(
    graph: Graph, types: Iterable[str] | None = None, weight: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Concatenated (source position, target position, weight) over the chosen edge types (weight 1 where absent)."""
    tables = _selected_edges(graph, types)
    if not tables:
        return np.empty(0, np.int64), np.empty(0, np.int64), None
    src = positions(graph, np.concatenate([t.src for t in tables]))
    dst = positions(graph, np.concatenate([t.dst for t in tables]))
    w = None
    if weight is not None:
        w = np.concatenate(
            [np.asarray(t.props[weight], dtype=np.float64) if weight in t.props else np.ones(len(t)) for t in tables]
        )
    return src, dst, w


def to_scipy(
    graph: Graph, types: Iterable[str] | None = None, weight: str | None = None, symmetric: bool = False
) -> sp.csr_matrix:
    """Adjacency matrix (n x n, CSR); duplicate edges are summed; symmetric=True adds the transpose."""
    n = graph.node_count
    src, dst, w = edge_arrays(graph, types, weight)
    data = np.ones(len(src)) if w is None else w
    mat = sp.coo_matrix((data, (src, dst)), shape=(n, n)).tocsr()
    if symmetric:
        mat = (mat + mat.T).tocsr()
    return mat


def to_igraph(
    graph: Graph, types: Iterable[str] | None = None, weight: str | None = None, directed: bool | None = None
) -> igraph.Graph:
    """igraph.Graph with vertex attributes key/label and an edge attribute 'weight' when asked."""
    import igraph as ig  # deferred: igraph (over 1 s) loads only for an igraph conversion

    tables = _selected_edges(graph, types)
    if directed is None:
        directed = all(t.directed for t in tables) if tables else False
    src, dst, w = edge_arrays(graph, types, weight)
    g = ig.Graph(n=graph.node_count, edges=np.column_stack([src, dst]) if len(src) else [], directed=directed)
    keys, labels = graph.node_index()
    g.vs["key"] = keys.tolist()
    g.vs["label"] = labels.tolist()
    if w is not None:
        g.es["weight"] = w.tolist()
    return g


def to_networkx(
    graph: Graph, types: Iterable[str] | None = None, directed: bool | None = None, with_props: bool = True
) -> networkx.Graph:
    """networkx (Di)Graph keyed by node key, with node labels/properties and edge properties."""
    import networkx as nx  # deferred: networkx loads only for a networkx conversion

    tables = _selected_edges(graph, types)
    if directed is None:
        directed = all(t.directed for t in tables) if tables else False
    g: Any = nx.DiGraph() if directed else nx.Graph()
    for table in graph.nodes.values():
        attrs = {k: v.tolist() for k, v in table.props.items()} if with_props else {}
        for i, key in enumerate(table.keys.tolist()):
            g.add_node(key, label=table.label, **{k: col[i] for k, col in attrs.items()})
    for table in tables:
        props = {k: v.tolist() for k, v in table.props.items()} if with_props else {}
        rows = zip(table.src.tolist(), table.dst.tolist(), strict=True)
        g.add_edges_from(
            (s, t, {"type": table.type, **{k: c[i] for k, c in props.items()}}) for i, (s, t) in enumerate(rows)
        )
    return g
