"""Jaccard and class neighbourhood similarity: 003's example (CNS 1 where Jaccard is 0.5) and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphstore.analysis.base import AnalysisError
from graphstore.analysis.similarity import cns, jaccard
from graphstore.graph import Graph

NAMES = ["A", "B", "C", "D", "E"]
COLOURS = ["red", "red", "purple", "red", "red"]  # D and E share a class


def graph(graph_id: str, pairs: list[tuple[str, str]], colours=COLOURS) -> Graph:
    g = Graph(graph_id, "knn")
    g.add_nodes("Sample", np.arange(5), label=np.asarray(colours, dtype=object))
    src = [NAMES.index(a) for a, _ in pairs]
    dst = [NAMES.index(b) for _, b in pairs]
    g.add_edges("KNN", "Sample", "Sample", src, dst, directed=False)
    return g


def test_003_example_cns_one_where_jaccard_half():
    # B's neighbours: {A, C, D} in G_A and {A, C, E} in G_B; D and E are both red
    a = graph("a", [("B", "A"), ("B", "C"), ("B", "D")])
    b = graph("b", [("B", "A"), ("B", "C"), ("B", "E")])
    _, per_j = jaccard(a, b)
    _, per_c = cns(a, b)
    assert per_j[1] == pytest.approx(0.5) and per_c[1] == pytest.approx(1.0)
    assert per_j[0] == 1.0 and per_j[3] == 0.0  # A unchanged; D lost its only edge
    assert np.isnan(per_c[4])  # E has no neighbours in A: not in the CNS mean


def test_identical_graphs_score_one_and_jaccard_is_symmetric():
    a = graph("a", [("A", "B"), ("B", "C"), ("C", "D"), ("D", "E")])
    b = graph("b", [("A", "C"), ("B", "C"), ("C", "E"), ("D", "E")])
    assert jaccard(a, a)[0] == 1.0 and cns(a, a)[0] == 1.0
    assert jaccard(a, b)[0] == pytest.approx(jaccard(b, a)[0])


def test_cns_is_asymmetric():
    a = graph("a", [("A", "B")])
    b = graph("b", [("A", "B"), ("A", "C")])
    assert cns(a, b)[0] == pytest.approx(1.0)
    assert cns(b, a)[0] < 1.0


def test_node_sets_must_match():
    a = graph("a", [("A", "B")])
    other = Graph("c", "knn")
    other.add_nodes("Sample", np.arange(4), label=np.asarray(COLOURS[:4], dtype=object))
    with pytest.raises(AnalysisError, match="same nodes"):
        jaccard(a, other)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=10),
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=10),
)
def test_bounds_and_relabel_invariance(pairs_a, pairs_b):
    a = graph("a", [(NAMES[x], NAMES[y]) for x, y in pairs_a])
    b = graph("b", [(NAMES[x], NAMES[y]) for x, y in pairs_b])
    j, _ = jaccard(a, b)
    c, _ = cns(a, b)
    assert 0.0 <= j <= 1.0
    assert np.isnan(c) or 0.0 <= c <= 1.0 + 1e-12
    assert cns(b, b)[0] == 1.0 or np.isnan(cns(b, b)[0])
