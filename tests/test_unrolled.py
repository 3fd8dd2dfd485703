"""The unrolled (Toeplitz) conv graph's maximum spanning forest (METHODS F) against scipy on the explicit graph."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

from graphstore.analysis.mst import TopologyParams, model_topology, unrolled_topology
from graphstore.analysis.topology_report import conv_input_sizes
from graphstore.analysis.unrolled import ConvGeometry, conv_geometry, unrolled_msf
from graphstore.nn import load_dataset, make_model


def explicit_edges(kernel: np.ndarray, g: ConvGeometry) -> dict[tuple[int, int], float]:
    """Every edge of the unrolled graph, built by loops: (in node, out node - n_in) -> |w|."""
    (hp, wp), (ho, wo) = g.padded, g.out_size
    edges = {}
    for o, i, a, b in zip(*np.nonzero(kernel), strict=True):
        for y in range(ho):
            for x in range(wo):
                src = i * hp * wp + (y * g.stride[0] + a * g.dilation[0]) * wp + x * g.stride[1] + b * g.dilation[1]
                edges[(int(src), int(o * ho * wo + y * wo + x))] = float(kernel[o, i, a, b])
    return edges


def scipy_forest(edges: dict[tuple[int, int], float], g: ConvGeometry) -> tuple[float, int]:
    """(total weight, edge count) of scipy's spanning forest on negated weights."""
    n = g.n_in + g.n_out
    rows = [s for s, _ in edges]
    cols = [g.n_in + t for _, t in edges]
    tree = minimum_spanning_tree(coo_matrix((-np.array(list(edges.values())), (rows, cols)), shape=(n, n)).tocsr())
    return -float(tree.sum()), tree.nnz


CASES = [
    (1, 1, (3, 3), (5, 5), 1, 1, 1, 1.0, False),
    (2, 3, (3, 3), (6, 5), 1, 2, 1, 0.5, False),
    (3, 2, (2, 3), (7, 6), 0, 1, 2, 0.7, True),
    (4, 4, (3, 3), (8, 8), 1, 1, 1, 0.05, False),
]


@pytest.mark.parametrize(("c_in", "c_out", "k", "size", "pad", "stride", "dil", "density", "ties"), CASES)
@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_forest_matches_scipy_on_the_explicit_graph(
    c_in: int,
    c_out: int,
    k: tuple[int, int],
    size: tuple[int, int],
    pad: int,
    stride: int,
    dil: int,
    density: float,
    ties: bool,
    chunk: int,
) -> None:
    rng = np.random.default_rng(c_in * 10 + c_out)
    kernel = (np.abs(rng.standard_normal((c_out, c_in, *k))) * (rng.random((c_out, c_in, *k)) < density)).astype(
        np.float32
    )
    if ties:
        kernel = np.ceil(kernel * 2).astype(np.float32)
    conv = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, dilation=dil)
    g = conv_geometry(conv, size)
    assert conv(torch.zeros(1, c_in, *size)).shape[2:] == g.out_size
    edges = explicit_edges(kernel, g)
    forest = unrolled_msf(kernel, g, chunk)
    total, count = scipy_forest(edges, g)
    assert len(forest.ranks) == count and forest.edges == len(edges)
    assert math.isclose(float(forest.magnitudes.astype(np.float64).sum()), total, rel_tol=1e-6)
    pairs = list(zip(forest.in_nodes.tolist(), forest.out_nodes.tolist(), strict=True))
    assert len(set(pairs)) == count and all(edges[p] == m for p, m in zip(pairs, forest.magnitudes, strict=True))


def test_single_channel_pair_gives_004s_conv_ratio_and_topology_fields() -> None:
    g = ConvGeometry(1, 1, (3, 3), (28, 28), (1, 1))
    kernel = np.random.default_rng(0).random((1, 1, 3, 3)).astype(np.float32) + 0.1
    top = unrolled_topology("c", kernel, g, TopologyParams(null_model=True))
    assert g.pair_counts() == (7_056, 1_683) and (top.edges, len(top.mst_out)) == g.pair_counts()
    assert round(top.kappa, 5) == 4.19251 == round(top.kappa_004, 5)
    assert top.graph == "unrolled" and math.isnan(top.overlap_bound) and 0 < top.null_overlap <= 1
    assert 0 < top.overlap <= 1 and math.isclose(top.np_normalized, top.np2 / math.sqrt(900 + 784 - 1))


def test_model_topology_needs_conv_input_sizes_for_the_unrolled_graph() -> None:
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    with pytest.raises(ValueError, match="input size"):
        model_topology([("conv1", conv)], params=TopologyParams(conv_graph="unrolled"))
    mask = {"conv1.weight": torch.zeros_like(conv.weight, dtype=torch.bool)}
    mask["conv1.weight"][0, 0, 1, 1] = True
    (top,) = model_topology([("conv1", conv)], mask, TopologyParams(conv_graph="unrolled"), {"conv1": (4, 4)})
    assert top.edges == 16 and len(top.mst_out) == 16  # one kernel weight: 16 disjoint edges, all in the forest
    (chan,) = model_topology([("conv1", conv)], mask, TopologyParams(), {"conv1": (4, 4)})
    assert chan.graph == "channel" and chan.edges == 1 and chan.kappa_004 == 9 * 16 / (36 + 16 - 1)


def test_conv_input_sizes_follow_pooling() -> None:
    info = load_dataset("digits", size=16, limit=50).info
    model = make_model("small-cnn", info)
    assert conv_input_sizes(model, model.prunable_layers(), info.input_shape) == {"conv1": (16, 16), "conv2": (8, 8)}
