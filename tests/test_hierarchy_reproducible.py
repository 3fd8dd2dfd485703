"""A seeded class-hierarchy fit is a function of the graph and the seed: the same levels in a fresh worker process,
whatever order the rows of the graph come in and whichever store they were read from (docs/METHODS.md D)."""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.analysis.base import undirected_igraph
from graphstore.analysis.hierarchy import (
    HierarchyParams,
    graph_tool_python,
    hierarchy_client,
    neuron_graph,
    nsbm_fits,
)
from graphstore.analysis.nsbm_worker import graph_tool_seed
from graphstore.graph import EdgeTable, Graph, NodeTable
from tests.test_hierarchy import planted

needs_graph_tool = pytest.mark.skipif(graph_tool_python() is None, reason="graph-tool is not installed")


def fit(graph: Graph, method: str, seed: int = 0) -> tuple[list[str], dict[str, np.ndarray]]:
    """One fit (a fresh graph-tool worker process for nsbm): its class tree and levels by neuron key."""
    params = HierarchyParams(method=method, runs=1, seed=seed, workers=1)
    result = hierarchy_client(graph, params)
    keys, columns = result.node_props["Neuron"]
    order = np.argsort(keys)
    return result.summary["trees"], {name: col[order] for name, col in columns.items()} | {"keys": keys[order]}


def shuffled(graph: Graph, seed: int = 7) -> Graph:
    """The same graph with its node and edge rows in another order and each edge's endpoints swapped."""
    rng = np.random.default_rng(seed)
    out = Graph(graph.graph_id, graph.kind, params=dict(graph.params))
    for label, table in reversed(graph.nodes.items()):
        order = rng.permutation(len(table))
        out.nodes[label] = NodeTable(label, table.keys[order], {k: v[order] for k, v in table.props.items()})
    for name, edges in graph.edges.items():
        order = rng.permutation(len(edges))
        props = {k: v[order] for k, v in edges.props.items()}
        out.edges[name] = EdgeTable(name, edges.dst_label, edges.src_label, edges.dst[order], edges.src[order], props)
    return out


def assert_same(a: tuple[list[str], dict[str, np.ndarray]], b: tuple[list[str], dict[str, np.ndarray]]) -> None:
    """Equal trees and bit-equal levels, block numbers included."""
    assert a[0] == b[0]
    assert sorted(a[1]) == sorted(b[1])
    for name in a[1]:
        assert np.array_equal(a[1][name], b[1][name]), name


def test_graph_tool_seeds_are_nonzero_and_distinct():
    # graph-tool reads seed_rng(0) as "seed from std::random_device": seed 0 gave a new fit in every process
    seeds = [graph_tool_seed(s) for s in range(50)]
    assert 0 not in seeds and len(set(seeds)) == 50


@needs_graph_tool
@pytest.mark.parametrize("seed", [0, 3])
def test_nsbm_same_seed_same_levels_in_fresh_workers(seed):
    graph = planted()
    first, second = fit(graph, "nsbm", seed), fit(graph, "nsbm", seed)
    assert_same(first, second)
    assert len(first[1]) >= 3  # keys plus at least two levels: a real fit, not an empty one


@needs_graph_tool
def test_nsbm_ignores_row_order():
    graph = planted()
    assert_same(fit(graph, "nsbm"), fit(shuffled(graph), "nsbm"))


def test_louvain_levels_ignore_row_order():
    graph = planted()
    assert_same(fit(graph, "louvain-levels", 5), fit(shuffled(graph), "louvain-levels", 5))


@needs_graph_tool
def test_nsbm_same_levels_after_a_store_round_trip(store):
    graph = planted()
    graph.graph_id = "repro-planted"
    store.write_graph(shuffled(graph))
    assert_same(fit(graph, "nsbm"), fit(store.read_graph("repro-planted"), "nsbm"))


@needs_graph_tool
def test_nsbm_fit_of_a_seed_does_not_depend_on_the_worker_split():
    # coactivation-hierarchy runs seeds seed .. seed + runs - 1 over as many workers as the machine has cores
    g = undirected_igraph(neuron_graph(planted()), HierarchyParams())
    together, apart = nsbm_fits(g, [1, 2, 3], "weight", workers=1), nsbm_fits(g, [1, 2, 3], "weight", workers=3)
    alone = nsbm_fits(g, [3], "weight", workers=1)
    for a, b in zip([*together, together[2]], [*apart, alone[0]], strict=True):
        assert a[1] == b[1]  # description length, every digit
        assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True)) and len(a[0]) == len(b[0])
