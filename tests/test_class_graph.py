"""Class graph: class distances on a hand-made kNN graph, computed by hand; disconnected pairs excluded."""

from __future__ import annotations

import numpy as np

from graphstore.extract.class_graph import ClassGraphParams, class_distances, class_graph, class_knn, sample_graph


def hand_graph():
    """Path 0-1-2-3 (lengths 1, 2, 3) plus an isolated pair 4-5 (length 1); labels A A B B C C."""
    a, b, w = np.array([0, 1, 2, 4]), np.array([1, 2, 3, 5]), np.array([1.0, 2.0, 3.0, 1.0])
    return sample_graph(6, a, b, w), np.array([0, 0, 1, 1, 2, 2])


def test_class_distances_by_hand():
    adj, labels = hand_graph()
    cd = class_distances(adj, labels, 3, chunk=4)
    # A-B pairs: d(0,2)=3, d(0,3)=6, d(1,2)=2, d(1,3)=5 -> mean 4; A-A: d(0,1)=1; B-B: d(2,3)=3; C-C: 1
    expected = np.array([[1.0, 4.0, np.inf], [4.0, 3.0, np.inf], [np.inf, np.inf, 1.0]])
    assert np.array_equal(np.isinf(cd.mean), np.isinf(expected))
    assert np.allclose(cd.mean[np.isfinite(expected)], expected[np.isfinite(expected)])
    assert cd.disconnected[0, 2] == 4 and cd.disconnected[2, 1] == 4 and cd.disconnected[0, 1] == 0
    assert cd.connected[0, 0] == 2  # (0,1) and (1,0), self pairs excluded


def test_hops_option():
    a, b = np.array([0, 1, 2, 4]), np.array([1, 2, 3, 5])
    cd = class_distances(sample_graph(6, a, b, np.ones(4)), np.array([0, 0, 1, 1, 2, 2]), 3)
    assert np.isclose(cd.mean[0, 1], (2 + 3 + 1 + 2) / 4)


def test_class_knn_union_and_graph():
    d = np.array([[0.0, 1.0, 5.0, 2.0], [1.0, 0.0, 4.0, 3.0], [5.0, 4.0, 0.0, np.inf], [2.0, 3.0, np.inf, 0.0]])
    a, b, dist, rank = class_knn(d, 1)
    # nearest: 0->1, 1->0, 2->1, 3->0 ; union {0-1, 1-2, 0-3}
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1), (0, 3), (1, 2)]
    adj, labels = hand_graph()
    cd = class_distances(adj, labels, 3)
    g = class_graph("cg", cd, ["A", "B", "C"], np.array([2, 2, 2]), ClassGraphParams(class_k=2))
    g.validate()
    near = g.edges["NEAR"]
    assert list(zip(near.src.tolist(), near.dst.tolist(), strict=True)) == [(0, 1)]
    assert np.isclose(near.props["distance"][0], 4.0)
    assert list(g.nodes["Class"].props["name"]) == ["A", "B", "C"]
    assert g.params["disconnected_pairs"] == 8 and g.params["disconnected_class_pairs"] == 2
