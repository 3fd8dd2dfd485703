"""The in-memory Graph type and its conversions (igraph, networkx, scipy.sparse)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphstore.convert import to_igraph, to_networkx, to_scipy
from graphstore.graph import Graph
from tests.conftest import small_graph


def test_counts_and_summary():
    g = small_graph()
    assert (g.node_count, g.edge_count) == (9, 10)
    assert g.summary()["edges"] == {"WEIGHT": 8, "REPRESENTS": 2}
    assert g.uid(5) == "g1:5" and g.uids(np.array([1, 2])).tolist() == ["g1:1", "g1:2"]


def test_validation_catches_bad_graphs():
    g = Graph("bad", "weights")
    g.add_nodes("Neuron", [0, 1])
    g.add_nodes("Class", [1])
    with pytest.raises(ValueError, match="not unique"):
        g.validate()
    g = Graph("bad", "weights")
    g.add_nodes("Neuron", [0, 1])
    g.add_edges("WEIGHT", "Neuron", "Neuron", [0], [5])
    with pytest.raises(ValueError, match="not Neuron nodes"):
        g.validate()
    with pytest.raises(ValueError, match="not valid"):
        Graph("has space", "weights")
    with pytest.raises(ValueError, match="identifier"):
        g.add_nodes("Bad-Label", [9])
    with pytest.raises(ValueError, match="reserved"):
        g.add_nodes("Neuron", [0], uid=["x"])
    with pytest.raises(ValueError, match="shape"):
        g.add_nodes("Neuron", [0, 1], layer=["only one"])


def test_scipy_conversion_hand_checked():
    g = small_graph()
    mat = to_scipy(g, types=["WEIGHT"], weight="w")
    keys, labels = g.node_index()
    assert labels.tolist() == ["Class", "Class"] + ["Neuron"] * 7 and keys.tolist() == [7, 8, 0, 1, 2, 3, 4, 5, 6]
    row, col = 2 + 0, 2 + 3  # key 0 -> key 3 in node_index order
    assert mat[row, col] == 0.5
    assert mat.nnz == 8 and np.isclose(mat.sum(), sum([0.5, -0.25, 1.0, 2.0, -1.5, 0.75, 0.1, -0.2]))
    sym = to_scipy(g, symmetric=True)
    assert (sym != sym.T).nnz == 0 and sym.nnz == 20


def test_igraph_and_networkx_agree():
    g = small_graph()
    ig_graph = to_igraph(g, weight="w")
    nx_graph = to_networkx(g)
    assert ig_graph.vcount() == nx_graph.number_of_nodes() == 9
    assert ig_graph.ecount() == nx_graph.number_of_edges() == 10
    assert ig_graph.is_directed() and nx_graph.is_directed()
    degree_ig = dict(zip(ig_graph.vs["key"], ig_graph.degree(), strict=True))
    assert degree_ig == dict(nx_graph.degree())
    assert nx_graph.nodes[7]["name"] == "cat" and nx_graph.edges[0, 3]["w"] == 0.5


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=80))
def test_degrees_match_across_conversions(n, pairs):
    pairs = [(a % n, b % n) for a, b in pairs]
    g = Graph("p", "weights")
    g.add_nodes("Neuron", np.arange(n) * 10)
    src = np.array([a for a, _ in pairs], dtype=np.int64) * 10
    dst = np.array([b for _, b in pairs], dtype=np.int64) * 10
    g.add_edges("WEIGHT", "Neuron", "Neuron", src, dst)
    mat = to_scipy(g)
    out_degree = np.asarray(mat.sum(axis=1)).ravel()
    ig_graph = to_igraph(g)
    assert out_degree.tolist() == ig_graph.outdegree()
    assert ig_graph.ecount() == len(pairs) == int(mat.sum())
