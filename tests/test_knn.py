"""Latent kNN graphs: exact search equals scikit-learn's brute force; union graph symmetric; bad k refused."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from graphstore.errors import GraphstoreError
from graphstore.extract.activations import Recorded
from graphstore.extract.knn import KnnParams, KTooLarge, knn_graphs, knn_search, union_edges


@pytest.mark.parametrize(("metric", "sk"), [("l1", "manhattan"), ("l2", "euclidean"), ("cosine", "cosine")])
def test_exact_search_matches_sklearn_brute(metric, sk):
    x = np.random.default_rng(0).standard_normal((200, 12)).astype(np.float32)
    dist, nbr = knn_search(x, 6, metric, chunk=37)
    ref_d, ref_i = NearestNeighbors(n_neighbors=7, metric=sk, algorithm="brute").fit(x).kneighbors(x)
    assert np.array_equal(nbr, ref_i[:, 1:])
    assert np.allclose(dist, ref_d[:, 1:], atol=1e-4)


def test_self_excluded_and_ties_broken_by_index():
    x = np.array([[0.0], [1.0], [1.0], [1.0], [5.0]], dtype=np.float32)
    _, nbr = knn_search(x, 2, "l1")
    assert nbr.tolist() == [[1, 2], [2, 3], [1, 3], [1, 2], [1, 2]]


def test_approximate_search_finds_most_neighbours():
    x = np.random.default_rng(1).standard_normal((500, 8)).astype(np.float32)
    _, exact = knn_search(x, 5, "l1")
    _, approx = knn_search(x, 5, "l1", approximate=True)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact, approx, strict=True)])
    assert recall > 0.9


def test_union_graph_is_symmetric_once_per_pair_with_ranks():
    x = np.random.default_rng(2).standard_normal((80, 5)).astype(np.float32)
    dist, nbr = knn_search(x, 4, "l1")
    a, b, d, rank, mutual = union_edges(dist, nbr, 4)
    assert (a < b).all() and len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(a)
    directed = {(i, int(j)) for i in range(80) for j in nbr[i]}
    undirected = {(min(p), max(p)) for p in directed}
    assert undirected == set(zip(a.tolist(), b.tolist(), strict=True))
    for s, t, r, m in zip(a.tolist(), b.tolist(), rank.tolist(), mutual.tolist(), strict=True):
        ranks = [list(nbr[u]).index(v) + 1 for u, v in ((s, t), (t, s)) if v in nbr[u]]
        assert r == min(ranks) and m == (len(ranks) == 2)


def test_one_graph_per_k_with_sample_properties():
    rng = np.random.default_rng(3)
    rec = Recorded(
        rng.standard_normal((50, 6)).astype(np.float32),
        rng.integers(0, 3, 50),
        rng.integers(0, 3, 50),
        np.arange(100, 150),
    )
    graphs = knn_graphs("s", rec, KnnParams(k=(2, 5)), "test")
    assert [g.graph_id for g in graphs] == ["s-k2", "s-k5"]
    for g, k in zip(graphs, (2, 5), strict=True):
        g.validate()
        samples = g.nodes["Sample"]
        assert samples.props["k_occurrence"].sum() == 50 * k
        assert samples.props["idx"][0] == 100 and (samples.props["split"] == "test").all()
        assert (g.edges["KNN"].props["rank"] <= k).all() and not g.edges["KNN"].directed
    assert len(graphs[0].edges["KNN"]) < len(graphs[1].edges["KNN"])


def test_k_not_below_sample_count_is_refused():
    x = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(KTooLarge, match="k=5 needs at least 6 samples") as info:
        knn_search(x, 5)
    assert "--k 4" in info.value.hint


def test_exact_l1_needs_no_faiss_and_reports_progress(monkeypatch):
    from graphstore.extract import knn

    x = np.random.default_rng(4).standard_normal((90, 7)).astype(np.float32)
    monkeypatch.setattr(knn, "have_faiss", lambda: False)
    calls: list[tuple[int, int]] = []
    dist, nbr = knn_search(x, 5, "l1", progress=lambda done, total: calls.append((done, total)))
    ref_d, ref_i = NearestNeighbors(n_neighbors=6, metric="manhattan", algorithm="brute").fit(x).kneighbors(x)
    assert np.array_equal(nbr, ref_i[:, 1:]) and np.allclose(dist, ref_d[:, 1:], atol=1e-5)
    assert calls[-1] == (90, 90) and all(a <= b for (a, _), (b, _) in zip(calls, calls[1:], strict=False))
    with pytest.raises(GraphstoreError, match="needs faiss"):
        knn_search(x, 5, "l1", approximate=True)
