"""Maximum spanning forests and neural persistence (docs/METHODS.md F) against scipy and gudhi; kappa* and overlap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from graphstore.analysis.mst import (
    TopologyParams,
    kappa_conv,
    kappa_dense,
    kappa_recurrent,
    layer_matrix,
    layer_topology,
    maximum_spanning_forest,
    neural_persistence,
    overlap_lower_bound,
)


def bipartite(w: np.ndarray) -> coo_matrix:
    """The (n+m)-node bipartite graph of an (out, in) matrix; inputs are nodes 0..n-1, outputs n..n+m-1."""
    m, n = w.shape
    r, c = np.nonzero(w)
    return coo_matrix((w[r, c].astype(np.float64), (c, n + r)), shape=(n + m, n + m))


def scipy_msf(w: np.ndarray) -> tuple[float, int]:
    """(total weight, edges) of scipy's minimum spanning tree on negated weights."""
    g = bipartite(w)
    t = minimum_spanning_tree(coo_matrix((-g.data, (g.row, g.col)), shape=g.shape).tocsr())
    return -float(t.sum()), t.nnz


def random_layer(rng: np.random.Generator, m: int, n: int, density: float) -> np.ndarray:
    """An (m, n) float32 layer of |N(0,1)| weights with about `density` of them present."""
    return (np.abs(rng.standard_normal((m, n))) * (rng.random((m, n)) < density)).astype(np.float32)


@pytest.mark.parametrize("shape", [(1, 1), (3, 8), (8, 3), (40, 40), (100, 10), (10, 100)])
@pytest.mark.parametrize("density", [1.0, 0.3, 0.03])
def test_same_total_weight_and_edge_count_as_scipy(shape: tuple[int, int], density: float) -> None:
    w = random_layer(np.random.default_rng(sum(shape)), *shape, density)
    out, inp = maximum_spanning_forest(w)
    total, edges = scipy_msf(w)
    assert len(out) == edges and math.isclose(float(w[out, inp].astype(np.float64).sum()), total, rel_tol=1e-6)
    assert np.all(w[out, inp] > 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.floats(0.0, 1.0), st.integers(0, 2**31), st.booleans())
def test_forest_has_n_plus_m_minus_c_edges(m: int, n: int, density: float, seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    w = random_layer(rng, m, n, density)
    if ties:  # few distinct values: many equal weights
        w = np.ceil(w * 2).astype(np.float32)
    out, inp = maximum_spanning_forest(w)
    c, _ = connected_components(bipartite(w), directed=False)
    assert len(out) == n + m - c
    total, edges = scipy_msf(w)
    assert edges == len(out) and math.isclose(float(w[out, inp].astype(np.float64).sum()), total, abs_tol=1e-5)
    assert len(set(zip(out.tolist(), inp.tolist(), strict=True))) == len(out)


def test_neural_persistence_equals_gudhi_zeroth_order_persistence() -> None:
    gudhi = pytest.importorskip("gudhi")
    rng = np.random.default_rng(1)
    for m, n, density in ((6, 9, 1.0), (12, 5, 0.4), (20, 20, 0.15)):
        w = random_layer(rng, m, n, density)
        top = layer_topology("x", w)
        tree = gudhi.SimplexTree()
        for v in range(n + m):
            tree.insert([v], filtration=0.0)
        r, c = np.nonzero(w)
        for o, i in zip(r.tolist(), c.tolist(), strict=True):
            tree.insert([i, n + o], filtration=float(1.0 - w[o, i] / w.max()))
        pairs = [(b, d) for dim, (b, d) in tree.persistence(min_persistence=-1) if dim == 0 and math.isfinite(d)]
        ours = math.sqrt(sum((d - b) ** 2 for b, d in pairs))
        assert math.isclose(top.np2, ours, rel_tol=1e-5, abs_tol=1e-6)
        assert top.components == n + m - len(pairs)


def test_kappa_star_values() -> None:
    assert round(kappa_dense(784, 100), 5) == 88.78822
    assert round(kappa_dense(100, 100), 5) == 50.25126
    assert round(kappa_dense(100, 10), 5) == 9.17431
    assert round(kappa_conv((3, 3), (28, 28), (1, 1)), 5) == 4.19251
    assert kappa_recurrent(10) == 100 / 19
    top = layer_topology("d", np.abs(np.random.default_rng(0).standard_normal((10, 100))).astype(np.float32))
    assert math.isclose(top.kappa, kappa_dense(100, 10)) and top.components == 1


def test_overlap_bound_null_model_and_normalisation() -> None:
    rng = np.random.default_rng(2)
    w = rng.standard_normal((30, 50)).astype(np.float32)
    top = layer_topology("l", np.abs(w), TopologyParams(null_model=True))
    assert 0.0 < top.overlap_bound < 1.0 and 0.0 <= top.overlap <= 1.0 and 0.5 < top.null_overlap <= 1.0
    assert math.isclose(top.np_normalized, top.np2 / math.sqrt(79))
    assert neural_persistence(np.ones(5, np.float32))[0] == 0.0
    assert math.isclose(overlap_lower_bound(1, 1), 1.0)


def test_conv_channel_graph_uses_kernel_slice_norm_and_masks() -> None:
    w = np.random.default_rng(3).standard_normal((4, 3, 3, 3)).astype(np.float32)
    mask = np.ones_like(w, dtype=bool)
    mask[1, 2] = False
    l1 = layer_matrix(w, mask)
    assert l1.shape == (4, 3) and l1[1, 2] == 0 and math.isclose(l1[0, 0], float(np.abs(w[0, 0]).sum()), rel_tol=1e-6)
    assert math.isclose(layer_matrix(w, None, "maxabs")[2, 1], float(np.abs(w[2, 1]).max()))
    top = layer_topology("conv", l1)
    assert top.edges == 11 and len(top.mst_out) == 6
