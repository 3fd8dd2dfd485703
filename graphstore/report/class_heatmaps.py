"""The class x class heatmap of a graph report, class names on both axes (003 draws these for kNN and class graphs):

- kNN graph: the KNN edges between samples of each pair of classes (an undirected edge counts once in each
  direction, a within-class edge once on the diagonal);
- class graph: the class-neighbourhood distance d(ci, cj) of each NEAR edge (blank where two classes are not
  among each other's class_k nearest);
- co-activation or weight graph: the neurons joined to both classes' output neurons (shared neurons; the diagonal
  is the output neuron's own degree).

A section registered in GRAPH_SECTIONS for every graph; a graph with none of these says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphstore.graph import Graph
from graphstore.report.document import Report
from graphstore.report.figures import matrix_figure
from graphstore.report.graphs import GRAPH_SECTIONS, Declared, GraphSection
from graphstore.tracking import AnalysisRecord

MAX_CLASSES = 100


@dataclass(frozen=True)
class Matrix:
    """Class names, the class x class values, what a cell is (caption), the colour bar's label, the cell format."""

    names: list[str]
    values: np.ndarray
    what: str
    unit: str
    number_format: str = "{:.0f}"


def knn_counts(graph: Graph) -> Matrix | None:
    """KNN edges between the classes of their samples, or None for a graph without labelled samples."""
    samples, edges = graph.nodes.get("Sample"), graph.edges.get("KNN")
    if samples is None or edges is None or "label" not in samples.props:
        return None
    labels = np.asarray(samples.props["label"])
    names, classes = np.unique(labels if labels.dtype.kind in "iuf" else labels.astype(str), return_inverse=True)
    order = np.argsort(samples.keys)
    row = order[np.searchsorted(samples.keys[order], edges.src)]
    col = order[np.searchsorted(samples.keys[order], edges.dst)]
    a, b = classes[row], classes[col]
    counts = np.zeros((len(names), len(names)))
    np.add.at(counts, (a, b), 1)
    np.add.at(counts, (b[a != b], a[a != b]), 1)  # undirected: both directions, a self-class edge once
    return Matrix([str(n) for n in names], counts, "kNN edges between samples of the two classes", "edges (count)")


def class_distances(graph: Graph) -> Matrix | None:
    """The NEAR distances of a class graph as a matrix (NaN where no edge), or None."""
    classes, near = graph.nodes.get("Class"), graph.edges.get("NEAR")
    if classes is None or near is None or "distance" not in near.props:
        return None
    position = {int(k): i for i, k in enumerate(classes.keys)}
    names = [str(n) for n in classes.props.get("name", classes.keys)]
    values = np.full((len(names), len(names)), np.nan)
    for a, b, d in zip(near.src, near.dst, near.props["distance"], strict=True):
        values[position[int(a)], position[int(b)]] = values[position[int(b)], position[int(a)]] = float(d)
    what = "class distance d of the NEAR edges (blank: not among the class_k nearest)"
    return Matrix(names, values, what, "d (mean kNN path length)", "{:.3g}")


def shared_neurons(graph: Graph) -> Matrix | None:
    """Neurons joined (any Neuron-Neuron edge, either way) to both classes' output neurons, or None: the output x
    neuron adjacency A (sparse, 0/1) gives A @ A.T, common neighbours off the diagonal, degree on it."""
    neurons = graph.nodes.get("Neuron")
    if neurons is None or "class_name" not in neurons.props:
        return None
    names = np.asarray(neurons.props["class_name"], dtype=object)
    output = np.flatnonzero([n is not None and n == n for n in names])  # n == n: not NaN
    if len(output) < 2:
        return None
    order = np.argsort(neurons.keys)
    slot = np.full(len(names), -1)
    slot[output] = np.arange(len(output))
    rows, columns = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for edges in graph.edges.values():
        if edges.src_label == "Neuron" and edges.dst_label == "Neuron":
            a = order[np.searchsorted(neurons.keys[order], edges.src)]
            b = order[np.searchsorted(neurons.keys[order], edges.dst)]
            for end, other in ((a, b), (b, a)):
                touching = slot[end] >= 0
                rows.append(slot[end][touching])
                columns.append(other[touching])
    row, column = np.concatenate(rows), np.concatenate(columns)
    adjacency = sp.csr_matrix((np.ones(len(row)), (row, column)), shape=(len(output), len(names)))
    adjacency = (adjacency > 0).astype(float)  # a neighbour joined by several edges counts once
    values = (adjacency @ adjacency.T).toarray()
    what = "neurons joined to both classes' output neurons (diagonal: to the class's own)"
    return Matrix([str(names[i]) for i in output], values, what, "neurons (count)")


def _class_by_class(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """The class x class heatmap of whichever of the three fits the graph."""
    title = "Class x class"
    found = knn_counts(graph) or class_distances(graph) or shared_neurons(graph)
    if found is None:
        report.omit(title, "needs labelled kNN samples, a class graph, or output neurons with class names.")
        return
    if len(found.names) > MAX_CLASSES:
        report.omit(title, f"{len(found.names)} classes are above the drawing limit ({MAX_CLASSES}).")
        return
    caption = f"Class x class: {found.what}"
    figure = matrix_figure(
        f"{graph.graph_id}-class-class",
        caption,
        found.names,
        found.values,
        found.unit,
        number_format=found.number_format,
    )
    report.section(title).add(figure)


GRAPH_SECTIONS.register(GraphSection("class-class", "Class x class", _class_by_class, 46, every_graph=True))
