"""The latent kNN sample graph (docs/METHODS.md C4, after 003).

Latents are the input of the final classifier layer (a forward pre-hook on the output layer) over a split.
Each sample links to its k nearest other samples (L1 by default; L2, cosine), self excluded, ties broken by
sample index; the stored graph is the undirected union of those links, each pair once.

Several k at once: the largest k is searched once and sliced. Decision: ONE GRAPH PER k (id `<id>-k<k>`), so
every stored graph is exactly the union kNN graph docs/METHODS.md defines and analyses and comparisons (Jaccard, CNS
across k, noise levels, epochs) read it directly without filtering. Edges carry `distance` and `rank` (the
smallest neighbour rank of the pair over its two directions = the smallest k at which it is in the union
graph) and `mutual` (each is among the other's k nearest). The direction lost by storing the union once is kept
on the nodes: `k_occurrence` = how many samples have this one among their k nearest (hubness, 003).

Exact search: L1 by the compiled kernel of graphstore.extract.l1_topk (each pair once, cache-blocked, float32
then re-ranked in float64; memory is twice the data plus threads x N x (k + 4) candidates), L2 and cosine by chunked
torch matrix products (memory is the data plus one chunk of distances). `approximate=True` uses a faiss HNSW
index (for large N).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from graphstore.errors import GraphstoreError
from graphstore.extract.activations import Recorded, latents
from graphstore.extract.registry import KINDS, GraphKind, requires_multiclass
from graphstore.graph import Graph

if TYPE_CHECKING:
    from graphstore.nn.checkpoint import Checkpoint
    from graphstore.nn.datasets.base import LoadedDataset

METRICS = ("l1", "l2", "cosine")
TIE_MARGIN = 4  # extra candidates searched so that ties at the k-th place can be broken by index


class KTooLarge(GraphstoreError):
    """k is not smaller than the number of samples."""


@dataclass
class KnnParams:
    """Parameters of the latent kNN graph."""

    k: tuple[int, ...] = field(
        default=(4, 8, 16), metadata={"help": "Neighbours per sample; several values give one graph each (<id>-k<k>)."}
    )
    metric: str = field(default="l1", metadata={"help": "Distance between latents.", "choices": METRICS})
    split: str = field(default="test", metadata={"help": "Dataset split whose samples are the nodes."})
    limit: int = field(default=0, metadata={"help": "Use at most this many samples of the split (0 = all)."})
    approximate: bool = field(default=False, metadata={"help": "Approximate search (faiss HNSW) for large N."})
    chunk: int = field(
        default=4096, metadata={"help": "Query rows per search chunk (bounds memory; L2, cosine, approximate)."}
    )
    batch_size: int = field(default=512, metadata={"help": "Samples per forward batch."})
    device: str = field(default="cpu", metadata={"help": "Device for the forward pass."})


def check_k(ks: Sequence[int], n: int) -> list[int]:
    """Sorted distinct k values, each in 1..n-1."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise GraphstoreError(f"k must be positive, got {list(ks)}.", "Pass --k 4 or --k 4,8,16.")
    if ks[-1] > n - 1:
        raise KTooLarge(
            f"k={ks[-1]} needs at least {ks[-1] + 1} samples; the split has {n}.",
            f"Use --k {max(1, n - 1)} or less, or a larger split / --limit.",
        )
    return ks


def _order_rows(dist: np.ndarray, idx: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop self and invalid hits, sort candidates by (distance, index), keep k per row."""
    bad = (idx == rows[:, None]) | (idx < 0)
    dist = np.where(bad, np.inf, dist)
    idx = np.where(bad, np.iinfo(np.int64).max, idx)
    order = np.lexsort((idx, dist), axis=1)
    return np.take_along_axis(dist, order, 1)[:, :k], np.take_along_axis(idx, order, 1)[:, :k]


def have_faiss() -> bool:
    """Whether faiss (the approximate index) is installed."""
    return importlib.util.find_spec("faiss") is not None


def _faiss_index(x: np.ndarray, metric: str, k: int):
    """A faiss HNSW index over x (the approximate search)."""
    if not have_faiss():
        raise GraphstoreError(
            "Approximate kNN search needs faiss, which is not installed.",
            "pip install faiss-cpu (or graphstore[fast]), or drop approximate.",
        )
    import faiss  # deferred: optional and heavy, only for the approximate search

    index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_L1 if metric == "l1" else faiss.METRIC_L2)
    index.hnsw.efConstruction = 80
    index.hnsw.efSearch = max(64, 4 * k)
    index.add(x)
    return index


def _torch_search(x: torch.Tensor, q: torch.Tensor, metric: str, m: int) -> tuple[np.ndarray, np.ndarray]:
    """m smallest distances of query rows q against x (L2/cosine via one matrix product)."""
    if metric == "cosine":
        d = 1.0 - q @ x.T
    else:
        d = (q.square().sum(1, keepdim=True) + x.square().sum(1) - 2.0 * (q @ x.T)).clamp_min_(0)
    vals, idx = torch.topk(d, m, dim=1, largest=False, sorted=True)
    vals = vals.sqrt() if metric == "l2" else vals.clamp_min(0)
    return vals.numpy().astype(np.float64), idx.numpy().astype(np.int64)


def knn_search(
    x: np.ndarray,
    k: int,
    metric: str = "l1",
    approximate: bool = False,
    chunk: int = 4096,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(distances, neighbours) of shape (N, k): each row's k nearest other rows, ties by index."""
    if metric not in METRICS:
        raise GraphstoreError(f"Unknown metric {metric!r}.", f"Choose one of {', '.join(METRICS)}.")
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    check_k([k], n)
    if metric == "l1" and not approximate:
        from graphstore.extract.l1_topk import l1_topk  # deferred: numba loads only when an exact L1 search runs

        report = None if progress is None else (lambda done, total: progress(n * done // total, n))
        return l1_topk(x, k, report)
    m = min(n, k + 1 + TIE_MARGIN)
    dist, nbr = np.empty((n, k)), np.empty((n, k), np.int64)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    index = _faiss_index(x, metric, m) if approximate else None
    xt = torch.from_numpy(x)
    for lo in range(0, n, max(chunk, 1)):
        q = x[lo : lo + chunk]
        if index is not None:
            d, i = index.search(q, m)
            d = np.sqrt(np.maximum(d, 0)) if metric == "l2" else d.astype(np.float64)
        else:
            d, i = _torch_search(xt, xt[lo : lo + chunk], metric, m)
        rows = np.arange(lo, lo + len(q))
        dist[lo : lo + len(q)], nbr[lo : lo + len(q)] = _order_rows(d.astype(np.float64), i.astype(np.int64), rows, k)
        if progress is not None:
            progress(lo + len(q), n)
    return dist, nbr


def union_edges(
    dist: np.ndarray, nbr: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The undirected union of the first k neighbours: (a, b, distance, rank, mutual) with a < b, once per pair."""
    n = len(nbr)
    src = np.repeat(np.arange(n, dtype=np.int64), k)
    dst = nbr[:, :k].ravel()
    rank = np.tile(np.arange(1, k + 1, dtype=np.int64), n)
    d = dist[:, :k].ravel()
    a, b = np.minimum(src, dst), np.maximum(src, dst)
    code = a * n + b
    order = np.lexsort((rank, code))
    code, first, counts = np.unique(code[order], return_index=True, return_counts=True)
    pick = order[first]
    return a[pick], b[pick], d[pick], rank[pick], counts == 2


def knn_graphs(
    base_id: str, rec: Recorded, params: KnnParams, split: str, progress: Callable[[int, int], None] | None = None
) -> list[Graph]:
    """One union kNN Graph per k from recorded latents (largest k searched once)."""
    ks = check_k(params.k, len(rec.values))
    dist, nbr = knn_search(rec.values, ks[-1], params.metric, params.approximate, params.chunk, progress)
    graphs = []
    for k in ks:
        graphs.append(knn_graph(f"{base_id}-k{k}", rec, dist, nbr, k, params, split))
    return graphs


def knn_graph(
    graph_id: str, rec: Recorded, dist: np.ndarray, nbr: np.ndarray, k: int, params: KnnParams, split: str
) -> Graph:
    """The union kNN graph for one k from the searched neighbour lists."""
    n = len(nbr)
    a, b, d, rank, mutual = union_edges(dist, nbr, k)
    graph = Graph(graph_id, "knn", params={**asdict(params), "k": k, "samples": n, "edges_directed": n * k})
    graph.add_nodes(
        "Sample",
        np.arange(n, dtype=np.int64),
        idx=np.asarray(rec.indices, dtype=np.int64),
        label=rec.labels,
        prediction=rec.predictions,
        split=np.full(n, split, dtype=object),
        k_occurrence=np.bincount(nbr[:, :k].ravel(), minlength=n).astype(np.int64),
    )
    graph.add_edges(
        "KNN", "Sample", "Sample", a, b, directed=False, distance=d, rank=rank, mutual=mutual.astype(np.int64)
    )  # 0/1: the embedded store re-reads BOOLEAN columns as BOOL
    return graph


def check_knn(checkpoint: Checkpoint, model: torch.nn.Module, data: LoadedDataset | None, params: KnnParams) -> None:
    """k against the split size, before any forward pass."""
    if data is not None and params.split in data.splits:
        n = data.size(params.split) if params.limit <= 0 else min(params.limit, data.size(params.split))
        check_k(params.k, n)


def knn_ids(params: KnnParams, graph_id: str) -> list[str]:
    """`<id>-k<k>` for each k."""
    return [f"{graph_id}-k{k}" for k in sorted(set(params.k))]


def knn_from_checkpoint(
    checkpoint: Checkpoint, data: LoadedDataset | None, params: KnnParams, graph_id: str
) -> list[Graph]:
    """Latent kNN sample graphs (L1, union, one per k) over a split (003)."""
    assert data is not None, "registered with needs_data=True: ingest always passes the data"
    model = checkpoint.build_model(params.device)
    rec = latents(model, data, params.split, params.batch_size, params.device, params.limit)
    return knn_graphs(graph_id, rec, params, params.split)


KINDS.register(
    GraphKind(
        "knn",
        KnnParams,
        knn_from_checkpoint,
        applies=requires_multiclass,
        check=check_knn,
        ids=knn_ids,
        report="knn-hubness",
    )
)
