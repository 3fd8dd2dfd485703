"""Graph reports draw the graph: node-link diagrams of neuron graphs (layers as columns, colour by community), the
kNN samples' spectral embedding (colour by class, hubs starred) and the community x class heatmap, each on a tiny
graph built here; above the size limit, or on a graph they do not fit, the section says why."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from graphstore.graph import Graph
from graphstore.report.document import Figure, Report
from graphstore.report.drawings import MAX_NODES, contingency, hubs_of, layer_names, layered_positions, spectral_layout
from graphstore.report.graphs import GRAPH_SECTIONS, build_graph_report
from graphstore.report.html import render_html
from graphstore.tracking import GraphRecord, open_tracking


def report_of(graph: Graph, tmp_path: Path) -> Report:
    record = GraphRecord(
        graph.graph_id, graph.kind, None, None, {}, graph.node_count, graph.edge_count, "complete", "memory",
        datetime.now(UTC), None, None, None,
    )  # fmt: skip
    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        return build_graph_report(tracking, record, graph)


def section(report: Report, title: str):  # noqa: ANN201 - a document Section
    return next(s for s in report.sections if s.title == title)


def neuron_graph(sizes: tuple[int, ...], communities: bool = True) -> Graph:
    """Fully connected consecutive layers; louvain = a unit's parity when `communities`."""
    graph = Graph("tiny-coactivation", "coactivation")
    layer = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    index = np.concatenate([np.arange(n) for n in sizes])
    props = {"layer": np.array([f"fc{i}" for i in layer], dtype=object), "layer_index": layer, "index": index}
    if communities:
        props["louvain"] = index % 2
    graph.add_nodes("Neuron", np.arange(len(layer)), **props)
    src, dst = [], []
    for i in range(len(sizes) - 1):
        a, b = np.flatnonzero(layer == i), np.flatnonzero(layer == i + 1)
        src += [x for x in a for _ in b]
        dst += [y for _ in a for y in b]
    graph.add_edges("COACTIVATES", "Neuron", "Neuron", src, dst, directed=False, rho=np.ones(len(src)))
    return graph


def knn_graph(per_class: int = 20, k: int = 4) -> Graph:
    """Three classes, each a ring of samples joined to the k nearest on its ring, one edge between classes."""
    n = 3 * per_class
    label = np.repeat(np.arange(3), per_class)
    src, dst = [], []
    for c in range(3):
        for i in range(per_class):
            for step in range(1, k // 2 + 1):
                src.append(c * per_class + i)
                dst.append(c * per_class + (i + step) % per_class)
    src += [0, per_class]
    dst += [per_class, 2 * per_class]
    occurrence = np.full(n, k)
    occurrence[[0, per_class]] = 3 * k  # two hubs
    graph = Graph("tiny-knn", "knn")
    graph.add_nodes("Sample", np.arange(n), label=label, k_occurrence=occurrence, louvain=label // 2)
    graph.add_edges("KNN", "Sample", "Sample", src, dst, directed=False, distance=np.ones(len(src)))
    return graph


def test_drawings_are_registered_sections() -> None:
    names = {s.name for s in GRAPH_SECTIONS.entries()}
    assert {"node-link", "knn-embedding", "community-class"} <= names


def test_neuron_graph_drawn_in_layer_columns_coloured_by_community(tmp_path: Path) -> None:
    report = report_of(neuron_graph((4, 6, 3)), tmp_path)
    drawn = section(report, "Node-link diagram")
    assert drawn.omitted is None
    figure = next(b for b in drawn.blocks if isinstance(b, Figure))
    assert figure.caption == "13 neurons, 42 edges; colour = louvain community"
    assert figure.svg.count("<path") > 13
    html = render_html(report, lambda kind, id: None, footer="")
    assert 'id="fig-tiny-coactivation-node-link"' in html
    assert section(report, "kNN embedding").omitted  # not a kNN graph: says why
    assert "k_occurrence" in (section(report, "kNN embedding").omitted or "")


def test_layers_are_columns_and_units_spread_within() -> None:
    xy = layered_positions(np.array([0, 0, 1, 1, 1, 2]), np.array([1, 0, 2, 0, 1, 0]))
    assert xy[:, 0].tolist() == [0, 0, 1, 1, 1, 2]
    assert xy[1, 1] < xy[0, 1]  # index 0 above index 1 in the same column
    assert xy[[3, 4, 2], 1].tolist() == pytest.approx([-0.5, 0.0, 0.5])
    assert xy[5, 1] == 0.0
    names = np.array(["fc1", "fc1", "fc2"], dtype=object)
    assert layer_names(np.array([0, 0, 1]), names) == ["fc1", "fc2"]
    assert layer_names(np.array([0, 0, 1]), None) == ["0", "1"]


def test_neuron_graph_without_communities_is_coloured_by_layer_and_says_how_to_add_them(tmp_path: Path) -> None:
    drawn = section(report_of(neuron_graph((3, 3), communities=False), tmp_path), "Node-link diagram")
    figure = next(b for b in drawn.blocks if isinstance(b, Figure))
    assert figure.caption.endswith("colour = layer")
    assert any("analyze louvain" in getattr(b, "text", "") for b in drawn.blocks)


def test_graph_above_the_size_limit_is_omitted_with_the_reason(tmp_path: Path) -> None:
    drawn = section(report_of(neuron_graph((MAX_NODES // 2, MAX_NODES // 2 + 1), communities=False), tmp_path),
                    "Node-link diagram")  # fmt: skip
    assert drawn.omitted and f"{MAX_NODES + 1} nodes" in drawn.omitted and "drawing limit" in drawn.omitted


@pytest.mark.parametrize("per_class", [10, 30])  # 30 nodes: dense eigh; 90: scipy eigsh
def test_spectral_layout_separates_weakly_joined_classes(per_class: int) -> None:
    graph = knn_graph(per_class=per_class)
    edges = graph.edges["KNN"]
    xy = spectral_layout(3 * per_class, edges.src, edges.dst)
    label = graph.nodes["Sample"].props["label"]
    centres = np.array([xy[label == c].mean(axis=0) for c in range(3)])
    spread = max(np.linalg.norm(xy[label == c] - centres[c], axis=1).mean() for c in range(3))
    apart = min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3))
    assert apart > 2 * spread  # the classes are three separate clouds


def test_knn_embedding_coloured_by_class_with_hubs(tmp_path: Path) -> None:
    report = report_of(knn_graph(), tmp_path)
    drawn = section(report, "kNN embedding")
    assert drawn.omitted is None
    figure = next(b for b in drawn.blocks if isinstance(b, Figure))
    assert figure.caption == "60 samples; colour = class, stars = 2 hubs (k-occurrence > 2 x mean)"
    assert hubs_of(np.array([2, 2, 11, 2, 12, 1])).tolist() == [4, 2]  # above 2 x mean 5, highest first
    assert hubs_of(np.full(5, 3)).size == 0  # no hubs in a flat distribution
    assert section(report, "Node-link diagram").omitted  # samples are not layered neurons


def test_community_class_heatmap_counts(tmp_path: Path) -> None:
    rows, columns, counts = contingency(np.array([0, 0, 1, 1, 1]), np.array(["a", "b", "b", "b", "c"]))
    assert rows == ["0", "1"] and columns == ["a", "b", "c"]
    assert counts.tolist() == [[1, 1, 0], [0, 2, 1]]
    drawn = section(report_of(knn_graph(), tmp_path), "Community x class")
    figure = next(b for b in drawn.blocks if isinstance(b, Figure))
    assert re.match(r"louvain community x label of :Sample nodes: 2 communities", figure.caption)
    assert section(report_of(neuron_graph((2, 2)), tmp_path), "Community x class").omitted  # neurons have no class
