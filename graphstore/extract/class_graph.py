"""The class graph (docs/METHODS.md C5, 003 eq. 4.2) from the latent kNN sample graph.

d(ci, cj) = mean over sample pairs (k in ci, l in cj, k != l) of the shortest-path length between k and l in the
union kNN graph (edge length = distance by default; `hops` counts edges). It is computed by multi-source Dijkstra
over chunks of sources (scipy.sparse.csgraph.dijkstra), folding each chunk's (sources x N) distance block into
per-class sums and counts with two one-hot products: memory is one chunk, never the N x N matrix. Pairs with no
path are counted per class pair, reported in params, and excluded from the means (a class pair with no connected
sample pair gets no distance). The class graph is the undirected union kNN graph over classes (each class to
its `class_k` nearest others by d, ties by class index); :Class nodes carry label, name and sample count, NEAR
edges the distance d and the rank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from graphstore.errors import GraphstoreError
from graphstore.extract.activations import latents
from graphstore.extract.knn import METRICS, check_k, knn_search, union_edges
from graphstore.extract.registry import KINDS, GraphKind, requires_multiclass
from graphstore.extract.weights import add_class_nodes
from graphstore.graph import Graph

if TYPE_CHECKING:
    import torch

    from graphstore.nn.checkpoint import Checkpoint
    from graphstore.nn.datasets.base import LoadedDataset

TINY = 1e-12  # zero-length edges (duplicate latents) must stay edges for csgraph


@dataclass
class ClassGraphParams:
    """Parameters of the class graph."""

    k: int = field(default=4, metadata={"help": "Neighbours per sample in the latent kNN graph it is built on."})
    class_k: int = field(default=4, metadata={"help": "Neighbours per class in the class graph."})
    metric: str = field(default="l1", metadata={"help": "Latent distance of the sample graph.", "choices": METRICS})
    path: str = field(
        default="distance",
        metadata={"help": "Shortest-path length: summed edge distances, or hops.", "choices": ("distance", "hops")},
    )
    split: str = field(default="test", metadata={"help": "Dataset split whose samples are used."})
    limit: int = field(default=0, metadata={"help": "Use at most this many samples of the split (0 = all)."})
    chunk: int = field(default=256, metadata={"help": "Dijkstra sources per chunk (memory: chunk x N floats)."})
    approximate: bool = field(default=False, metadata={"help": "Approximate kNN search (faiss HNSW)."})
    batch_size: int = field(default=512, metadata={"help": "Samples per forward batch."})
    device: str = field(default="cpu", metadata={"help": "Device for the forward pass."})


@dataclass
class ClassDistances:
    """Mean shortest-path distances between classes and how many sample pairs were disconnected."""

    mean: np.ndarray  # (C, C), inf where no pair is connected
    connected: np.ndarray  # (C, C) connected ordered sample pairs (k != l)
    disconnected: np.ndarray  # (C, C) ordered sample pairs without a path


def sample_graph(n: int, a: np.ndarray, b: np.ndarray, length: np.ndarray) -> sp.csr_matrix:
    """Symmetric CSR adjacency of an undirected edge list (lengths clamped above zero)."""
    w = np.maximum(np.asarray(length, dtype=np.float64), TINY)
    return sp.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
    ).tocsr()


def class_distances(
    adj: sp.csr_matrix,
    labels: np.ndarray,
    num_classes: int,
    chunk: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> ClassDistances:
    """Per-class-pair mean shortest-path lengths by chunked multi-source Dijkstra (adj must be symmetric)."""
    n = adj.shape[0]
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, num_classes))
    sums = np.zeros((num_classes, num_classes))
    counts = np.zeros((num_classes, num_classes))
    for lo in range(0, n, max(chunk, 1)):
        rows = np.arange(lo, min(lo + chunk, n))
        dist = dijkstra(adj, directed=True, indices=rows)
        finite = np.isfinite(dist)
        finite[np.arange(len(rows)), rows] = False  # k != l
        dist[~finite] = 0.0
        src = onehot[rows].T
        sums += src @ (onehot.T @ dist.T).T
        counts += src @ (onehot.T @ finite.T.astype(np.float64)).T
        if progress is not None:
            progress(int(rows[-1]) + 1, n)
    sizes = np.bincount(labels, minlength=num_classes).astype(np.float64)
    pairs = np.outer(sizes, sizes) - np.diag(sizes)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    return ClassDistances(mean, counts.astype(np.int64), (pairs - counts).astype(np.int64))


def class_knn(mean: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Undirected union kNN over classes by distance (self and unreachable classes excluded; ties by index)."""
    c = len(mean)
    d = mean.astype(np.float64).copy()
    np.fill_diagonal(d, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(c), (c, c)), d), axis=1)[:, :k]
    src = np.repeat(np.arange(c), order.shape[1])
    dst = order.ravel()
    dist = d[src, dst]
    ok = np.isfinite(dist)
    rank = np.tile(np.arange(1, order.shape[1] + 1), c)
    a, b, dist, rank = np.minimum(src, dst)[ok], np.maximum(src, dst)[ok], dist[ok], rank[ok]
    code = a * c + b
    pick = np.lexsort((rank, code))
    _, first = np.unique(code[pick], return_index=True)
    pick = pick[first]
    return a[pick], b[pick], dist[pick], rank[pick]


def class_graph(
    graph_id: str, distances: ClassDistances, class_names: list[str], sizes: np.ndarray, params: ClassGraphParams
) -> Graph:
    """:Class nodes and NEAR edges of the class kNN graph."""
    c = len(class_names)
    a, b, dist, rank = class_knn(distances.mean, min(params.class_k, c - 1))
    graph = Graph(graph_id, "class-graph", params=asdict(params))
    self_d = np.diag(distances.mean).copy()
    add_class_nodes(
        graph,
        np.arange(c, dtype=np.int64),
        label=np.arange(c, dtype=np.int64),
        name=np.asarray(class_names, dtype=object),
        samples=sizes.astype(np.int64),
        self_distance=np.where(np.isfinite(self_d), self_d, np.nan),
    )
    graph.add_edges("NEAR", "Class", "Class", a, b, directed=False, distance=dist, rank=rank)
    off = ~np.eye(c, dtype=bool)
    graph.params.update(
        disconnected_pairs=int(distances.disconnected[off].sum() // 2),
        disconnected_class_pairs=int((np.triu(distances.connected == 0, 1) & np.outer(sizes > 0, sizes > 0)).sum()),
        samples=int(sizes.sum()),
    )
    return graph


def check_class_graph(
    checkpoint: Checkpoint, model: torch.nn.Module, data: LoadedDataset | None, params: ClassGraphParams
) -> None:
    """k against the split size; at least two classes for the class kNN."""
    if params.class_k < 1:
        raise GraphstoreError(f"class_k={params.class_k} must be positive.", "Use --opt class-graph.class_k=4.")
    if data is not None and params.split in data.splits:
        n = data.size(params.split) if params.limit <= 0 else min(params.limit, data.size(params.split))
        check_k([params.k], n)


def class_graph_from_checkpoint(
    checkpoint: Checkpoint, data: LoadedDataset | None, params: ClassGraphParams, graph_id: str
) -> Graph:
    """Class graph: mean shortest paths between classes in the latent kNN graph, kNN over classes (003)."""
    assert data is not None, "registered with needs_data=True: ingest always passes the data"
    model = checkpoint.build_model(params.device)
    rec = latents(model, data, params.split, params.batch_size, params.device, params.limit)
    return class_graph_from_latents(graph_id, rec.values, rec.labels, list(checkpoint.data_info.class_names), params)


KINDS.register(
    GraphKind(
        "class-graph",
        ClassGraphParams,
        class_graph_from_checkpoint,
        applies=requires_multiclass,
        check=check_class_graph,
        report="class-graph",
    )
)


def class_graph_from_latents(
    graph_id: str,
    values: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    params: ClassGraphParams,
    progress: Callable[[int, int], None] | None = None,
) -> Graph:
    """The class graph of latent vectors with labels (kNN search, union graph, class distances, class kNN)."""
    n = len(values)
    check_k([params.k], n)
    dist, nbr = knn_search(values, params.k, params.metric, params.approximate)
    a, b, d, _, _ = union_edges(dist, nbr, params.k)
    adj = sample_graph(n, a, b, np.ones_like(d) if params.path == "hops" else d)
    labels = np.asarray(labels, dtype=np.int64)
    distances = class_distances(adj, labels, len(class_names), params.chunk, progress)
    return class_graph(graph_id, distances, class_names, np.bincount(labels, minlength=len(class_names)), params)
