"""Graph reports draw the graph itself: neuron graphs as node-link diagrams (layers as columns, colour by
community), kNN samples as a 2-D spectral embedding (colour by class, hubs marked), and community x class heatmaps.

Each is a section registered in GRAPH_SECTIONS for every graph; a graph it does not fit, or one above the size
limit (MAX_NODES / MAX_EDGES: a diagram of more is ink, not information), keeps the section with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure as MplFigure
from scipy.sparse.linalg import eigsh

from graphstore.analysis.base import ANALYSES
from graphstore.graph import Graph, NodeTable
from graphstore.report.document import Figure, Report, Text
from graphstore.report.figures import OKABE_ITO, label_axes, new_figure, to_svg
from graphstore.report.graphs import GRAPH_SECTIONS, Declared, GraphSection
from graphstore.tracking import AnalysisRecord

MAX_NODES = 2000
MAX_EDGES = 20000
HUBS = 10  # at most this many hubs starred: k-occurrence above twice the mean (the usual N_k > 2k), highest first
OTHER = "#BBBBBB"  # nodes outside the palette's largest groups
CLASS_PROPS = ("label", "class_name", "class")


@dataclass(frozen=True)
class Drawn:
    """Nodes to draw (every label that has `prop`, concatenated, sorted by key) and the edges among them."""

    keys: np.ndarray
    tables: list[NodeTable]
    src: np.ndarray  # row positions into keys
    dst: np.ndarray

    def values(self, prop: str) -> np.ndarray | None:
        """A node property over the drawn rows (key order), or None when a drawn label lacks it."""
        if any(prop not in t.props for t in self.tables):
            return None
        raw = np.concatenate([np.asarray(t.props[prop]) for t in self.tables])
        return raw[np.argsort(np.concatenate([t.keys for t in self.tables]), kind="stable")]


def drawn(graph: Graph, prop: str) -> Drawn | None:
    """The nodes of the labels that carry `prop`, with the edges whose both ends are among them; None if none."""
    tables = [t for t in graph.nodes.values() if prop in t.props and len(t)]
    if not tables:
        return None
    keys = np.sort(np.concatenate([t.keys for t in tables]))
    labels = {t.label for t in tables}
    src, dst = [], []
    for edges in graph.edges.values():
        if edges.src_label in labels and edges.dst_label in labels:
            src.append(np.searchsorted(keys, edges.src))
            dst.append(np.searchsorted(keys, edges.dst))
    none = np.zeros(0, dtype=np.int64)
    return Drawn(keys, tables, np.concatenate(src) if src else none, np.concatenate(dst) if dst else none)


def too_big(nodes: int, edges: int) -> str | None:
    """Why a graph is not drawn (over the size limit), or None."""
    if nodes <= MAX_NODES and edges <= MAX_EDGES:
        return None
    return (
        f"{nodes} nodes and {edges} edges are above the drawing limit ({MAX_NODES} nodes, {MAX_EDGES} edges): "
        "a diagram that size shows no structure; the counts and distributions above describe it."
    )


def community_prop(graph: Graph) -> str | None:
    """The node property of the latest-registered community analysis the graph carries, or None."""
    written = [w for a in ANALYSES.entries() if a.report == "communities" for w in a.writes]
    present = [w for w in written if any(w in t.props for t in graph.nodes.values())]
    return present[0] if present else None


def group_colours(groups: np.ndarray) -> tuple[list[str], list[tuple[str, str]]]:
    """A colour per node: the largest groups get the palette's colours (black last), the rest grey; the legend."""
    names, counts = np.unique(groups.astype(str), return_counts=True)
    ranked = [str(n) for n in names[np.argsort(-counts, kind="stable")]]
    palette = {name: OKABE_ITO[i] for i, name in enumerate(ranked[: len(OKABE_ITO)])}
    legend = list(palette.items()) + (
        [(f"{len(ranked) - len(palette)} more", OTHER)] if len(ranked) > len(palette) else []
    )
    return [palette.get(str(g), OTHER) for g in groups], legend


def _legend(ax: Axes, legend: list[tuple[str, str]], title: str) -> None:
    """A legend of the group colours, right of the axes."""
    for name, col in legend:
        ax.scatter([], [], color=col, s=20, label=name)
    ax.legend(title=title, fontsize=7, title_fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))


def layered_positions(layer: np.ndarray, index: np.ndarray) -> np.ndarray:
    """x = the layer's column (layer_index order), y = the unit's place in its layer, centred, in [-0.5, 0.5]."""
    columns = {v: i for i, v in enumerate(np.unique(layer))}
    xy = np.zeros((len(layer), 2))
    for value, column in columns.items():
        rows = np.flatnonzero(layer == value)
        rows = rows[np.argsort(index[rows], kind="stable")]
        xy[rows, 0] = column
        xy[rows, 1] = np.linspace(-0.5, 0.5, len(rows)) if len(rows) > 1 else 0.0
    return xy


def layer_names(layer: np.ndarray, names: np.ndarray | None) -> list[str]:
    """A column label per layer_index: the layer's name where the nodes carry one, else the index."""
    if names is None:
        return [str(v) for v in np.unique(layer)]
    return [str(names[np.flatnonzero(layer == v)[0]]) for v in np.unique(layer)]


def node_link_axes(xy: np.ndarray, d: Drawn, colours: list[str]) -> tuple[MplFigure, Axes]:
    """Edges as faint lines under the nodes (fainter the more there are); the caller labels the axes."""
    fig, ax = new_figure(7.0, 5.0)
    segments = np.stack([xy[d.src], xy[d.dst]], axis=1) if len(d.src) else np.zeros((0, 2, 2))
    alpha = min(0.5, max(0.03, 40.0 / max(1, len(segments))))
    ax.add_collection(LineCollection(list(segments), colors="#555555", linewidths=0.4, alpha=alpha))
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=max(4.0, 600.0 / max(1, len(xy)) ** 0.5), edgecolors="none", zorder=3)
    ax.grid(False)
    return fig, ax


def _node_link(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """Neuron graphs (coactivation, weights): layers as columns, colour by community when one is recorded."""
    title = "Node-link diagram"
    d = drawn(graph, "layer_index")
    if d is None:
        report.omit(title, f"a {graph.kind} graph has no layered neurons (no layer_index property) to draw.")
        return
    if (why := too_big(len(d.keys), len(d.src))) is not None:
        report.omit(title, why)
        return
    layer, index = d.values("layer_index"), d.values("index")
    assert layer is not None  # every drawn table has layer_index
    xy = layered_positions(layer, index if index is not None else np.arange(len(layer)))
    prop = community_prop(graph)
    groups = d.values(prop) if prop else None
    colours, legend = group_colours(groups if groups is not None else layer)
    fig, ax = node_link_axes(xy, d, colours)
    ax.set_xticks(range(len(np.unique(layer))), layer_names(layer, d.values("layer")))
    ax.set_yticks([])
    by = f"{prop} community" if groups is not None else "layer"
    caption = f"{len(d.keys)} neurons, {len(d.src)} edges; colour = {by}"
    label_axes(ax, caption, "layer (input to output)", "unit within the layer")
    _legend(ax, legend, by)
    section = report.section(title).add(Figure(f"{graph.graph_id}-node-link", caption, to_svg(fig)))
    if groups is None:
        section.add(Text(f"No community analysis recorded: `graphstore analyze louvain --graph {graph.graph_id}`."))


def spectral_layout(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2-D positions from the two smallest non-trivial eigenvectors of the normalised Laplacian (scipy eigsh)."""
    adjacency = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(float)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(np.maximum(degree, 1.0)))
    normalised = scale @ adjacency @ scale  # eigenvalues of L = I - this: largest here = smallest of L
    if n <= 50:
        _, vectors = np.linalg.eigh(normalised.toarray())
        return vectors[:, -3:-1][:, ::-1] * np.sqrt(n)
    values, vectors = eigsh(normalised, k=3, which="LA", v0=np.random.default_rng(0).random(n), tol=1e-6)
    order = np.argsort(-values)  # the first is the trivial (degree) vector
    return vectors[:, order[1:3]] * np.sqrt(n)


def hubs_of(occurrence: np.ndarray) -> np.ndarray:
    """Rows whose k-occurrence is above twice the mean (N_k > 2k for a kNN graph), the highest HUBS of them."""
    above = np.flatnonzero(occurrence > 2 * occurrence.mean())
    return above[np.argsort(-occurrence[above], kind="stable")][:HUBS]


def _knn_embedding(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """kNN samples in 2-D (spectral layout of the kNN graph), coloured by class, the top k-occurrence hubs marked."""
    title = "kNN embedding"
    d = drawn(graph, "k_occurrence")
    if d is None or len(d.keys) < 3:
        report.omit(title, f"a {graph.kind} graph has no kNN samples (k_occurrence) to embed.")
        return
    if (why := too_big(len(d.keys), len(d.src))) is not None:
        report.omit(title, why)
        return
    xy = spectral_layout(len(d.keys), d.src, d.dst)
    classes = next((v for p in CLASS_PROPS if (v := d.values(p)) is not None), None)
    colours, legend = group_colours(classes if classes is not None else np.zeros(len(d.keys)))
    occurrence = d.values("k_occurrence")
    assert occurrence is not None
    hubs = hubs_of(occurrence)
    fig, ax = new_figure(7.0, 5.0)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=10, edgecolors="none")
    ax.scatter(xy[hubs, 0], xy[hubs, 1], s=90, marker="*", facecolors="none", edgecolors="black", linewidths=0.8)
    caption = f"{len(d.keys)} samples; colour = class, stars = {len(hubs)} hubs (k-occurrence > 2 x mean)"
    label_axes(ax, caption, "spectral coordinate 1 (dimensionless)", "spectral coordinate 2 (dimensionless)")
    _legend(ax, legend, "class")
    report.section(title).add(Figure(f"{graph.graph_id}-knn-embedding", caption, to_svg(fig)))


def contingency(rows: np.ndarray, columns: np.ndarray) -> tuple[list[str], list[str], np.ndarray]:
    """Counts of each (row value, column value) pair, with the value names."""
    row_names, r = np.unique(rows.astype(str), return_inverse=True)
    col_names, c = np.unique(columns.astype(str), return_inverse=True)
    counts = np.zeros((len(row_names), len(col_names)), dtype=int)
    np.add.at(counts, (r, c), 1)
    return [str(x) for x in row_names], [str(x) for x in col_names], counts


def _community_class(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """How a community analysis's groups split the classes: counts of nodes per (community, class)."""
    title = "Community x class"
    prop = community_prop(graph)
    tables = [t for t in graph.nodes.values() if prop in t.props and any(p in t.props for p in CLASS_PROPS)]
    if prop is None or not tables:
        report.omit(title, "needs nodes with both a class and a community (run `graphstore analyze louvain`).")
        return
    cls = next(p for p in CLASS_PROPS if p in tables[0].props)
    communities = np.concatenate([np.asarray(t.props[prop]) for t in tables if cls in t.props])
    classes = np.concatenate([np.asarray(t.props[cls]) for t in tables if cls in t.props])
    row_names, col_names, counts = contingency(communities, classes)
    shown = np.argsort(-counts.sum(axis=1), kind="stable")[:30]
    fig, ax = new_figure(6.5, 1.2 + 0.22 * len(shown))
    image = ax.imshow(counts[shown], cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(shown)), [row_names[i] for i in shown])
    ax.set_xticks(range(len(col_names)), col_names, rotation=90, fontsize=7)
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="nodes (count)")
    counted = ", ".join(f":{t.label}" for t in tables if cls in t.props)
    caption = f"{prop} community x {cls} of {counted} nodes: {len(row_names)} communities (largest {len(shown)} shown)"
    label_axes(ax, caption, f"class ({cls})", f"{prop} community")
    report.section(title).add(Figure(f"{graph.graph_id}-community-class", caption, to_svg(fig)))


GRAPH_SECTIONS.register(GraphSection("node-link", "Node-link diagram", _node_link, 35, every_graph=True))
GRAPH_SECTIONS.register(GraphSection("knn-embedding", "kNN embedding", _knn_embedding, 72, every_graph=True))
GRAPH_SECTIONS.register(GraphSection("community-class", "Community x class", _community_class, 45, every_graph=True))
