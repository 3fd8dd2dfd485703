"""Zeroth-order topology of weights (docs/METHODS.md F): maximum spanning forests, neural persistence, kappa*, overlap.

A layer is a bipartite graph between its n inputs and m outputs; the edge weight is w' = |w| / max|w| and zero
(masked) weights are not edges. The descending filtration's merge edges are the maximum spanning forest (MSF),
so neural persistence NP_2 = sqrt(sum over MSF edges of (1 - w')^2). The MSF comes from a dense Prim over the
m x n magnitude matrix (no edge list): the larger side is scanned once per small-side node, so the cost is
O((n + m) * min(n, m)) vector work and memory is two float32 copies of the matrix (|w| and its transpose).
Convolutions default to the channel graph (kernel-slice L1 norm, as in graphstore/extract/weights.py); with
conv_graph="unrolled" a convolution is its Toeplitz graph over padded input positions (graphstore.analysis.unrolled,
chunked Kruskal in bounded memory), the graph 004 counts.

Every layer also carries 004's own count (`edges_004`, `mst_edges_004`, App. E): n m and n + m - 1 for a dense
n -> m layer, one channel pair's unrolled graph for a convolution; `kappa_004` is their ratio, and over a model
sum(edges_004) / sum(mst_edges_004) is 004's "Final Compression".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphstore.analysis.unrolled import CHUNK_EDGES, ConvGeometry, conv_geometry, unrolled_msf

CONV_NORMS = ("l1", "l2", "maxabs")
CONV_GRAPHS = ("channel", "unrolled")


@dataclass(frozen=True)
class TopologyParams:
    """How layers become bipartite graphs for the MST / neural-persistence analysis."""

    conv_norm: str = field(
        default="l1", metadata={"help": "Norm of a conv kernel slice (channel graph edge).", "choices": CONV_NORMS}
    )
    null_model: bool = field(
        default=False, metadata={"help": "Also compute the overlap of an i.i.d. Gaussian layer of the same shape."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the Gaussian null model."})
    conv_graph: str = field(
        default="channel",
        metadata={
            "help": "A conv layer as its channel graph, or unrolled (Toeplitz) over padded input positions.",
            "choices": CONV_GRAPHS,
        },
    )
    chunk_edges: int = field(
        default=CHUNK_EDGES, metadata={"help": "Edges per chunk of the unrolled graph's Kruskal (memory bound)."}
    )


@dataclass
class LayerTopology:
    """MSF and zeroth-order summaries of one layer (indices are (out, in) into its channel/weight matrix)."""

    name: str
    n_in: int
    n_out: int
    edges: int
    components: int
    mst_out: np.ndarray
    mst_in: np.ndarray
    mst_weights: np.ndarray
    np2: float
    np_normalized: float
    kappa: float
    overlap: float
    overlap_bound: float
    null_overlap: float | None = None
    graph: str = "dense"
    edges_004: int | None = None
    mst_edges_004: int | None = None

    @property
    def kappa_004(self) -> float:
        """004's ratio for this layer's shape (App. E): edges_004 / mst_edges_004 (NaN when unknown)."""
        if not self.edges_004 or not self.mst_edges_004:
            return float("nan")
        return self.edges_004 / self.mst_edges_004

    def summary(self) -> dict[str, Any]:
        """Scalars only (for tables and the tracking DB)."""
        keys = (
            "name",
            "n_in",
            "n_out",
            "edges",
            "components",
            "np2",
            "np_normalized",
            "kappa",
            "overlap",
            "overlap_bound",
            "null_overlap",
            "graph",
            "kappa_004",
        )
        return {k: getattr(self, k) for k in keys} | {"mst_edges": int(len(self.mst_out))}


def _prepare(weights: np.ndarray) -> tuple[np.ndarray, bool]:
    """|w| as float32, oriented so rows are the larger side; returns (matrix, transposed?)."""
    a = np.abs(np.asarray(weights, dtype=np.float32))
    return (a, False) if a.shape[0] >= a.shape[1] else (np.ascontiguousarray(a.T), True)


def maximum_spanning_forest(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSF of the bipartite graph of an (out, in) matrix: (out_idx, in_idx) of its n + m - c edges.

    Dense Prim: rows (larger side) enter in batches between column entries; zero entries are not edges, so a
    sparse layer yields a forest (isolated nodes are their own components and add no edge).
    """
    a, flipped = _prepare(weights)
    rows, cols = _prim(a)
    return (cols, rows) if flipped else (rows, cols)


def _prim(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense bipartite Prim on a non-negative (n, m) matrix with n >= m; returns (row_idx, col_idx) of edges."""
    n, m = a.shape
    at = np.ascontiguousarray(a.T)
    row_key, col_key = np.zeros(n, np.float32), np.zeros(m, np.float32)
    row_par, col_par = np.full(n, -1, np.int64), np.full(m, -1, np.int64)
    row_free, col_free = np.asarray(a.any(axis=1)), np.asarray(at.any(axis=1))  # isolated nodes never join
    row_key[~row_free], col_key[~col_free] = -1.0, -1.0
    out_r, out_c = np.empty(n + m, np.int64), np.empty(n + m, np.int64)
    count, left = 0, int(row_free.sum() + col_free.sum())

    def add_row(r: int) -> None:
        row_free[r], row_key[r] = False, -1.0
        better = (a[r] > col_key) & col_free
        col_key[better], col_par[better] = a[r, better], r

    def add_col(c: int) -> None:
        col_free[c], col_key[c] = False, -1.0
        better = (at[c] > row_key) & row_free
        row_key[better], row_par[better] = at[c, better], c

    while left:
        cmax = float(col_key.max()) if m else -1.0
        cand = np.flatnonzero(row_key > max(cmax, 0.0))
        if cand.size:
            for r in cand[np.argsort(-row_key[cand], kind="stable")]:
                if row_key[r] <= cmax:
                    break
                out_r[count], out_c[count], count = r, row_par[r], count + 1
                add_row(int(r))
                left -= 1
                cmax = float(col_key.max())
            continue
        if cmax > 0.0:
            c = int(col_key.argmax())
            out_r[count], out_c[count], count = col_par[c], c, count + 1
            add_col(c)
        else:  # a new component: its first free node enters without an edge
            free_rows = np.flatnonzero(row_free)
            add_row(int(free_rows[0])) if free_rows.size else add_col(int(np.flatnonzero(col_free)[0]))
        left -= 1
    return out_r[:count], out_c[:count]


def neural_persistence(normalized: np.ndarray) -> tuple[float, float]:
    """(NP_2, NP_2 / sqrt(n_nodes - 1)) from the normalised weights w' of the MSF edges (n_nodes = edges + 1)."""
    value = float(np.sqrt(np.sum((1.0 - normalized.astype(np.float64)) ** 2)))
    return value, value / math.sqrt(max(1, len(normalized)))


def kappa_dense(n: int, m: int) -> float:
    """Critical compression ratio of a dense n x m layer: nm / (n + m - 1)."""
    return n * m / (n + m - 1)


def kappa_recurrent(h: int) -> float:
    """Critical compression ratio of an h-unit recurrent layer: h^2 / (2h - 1)."""
    return h * h / (2 * h - 1)


def kappa_conv(
    kernel: tuple[int, int],
    in_size: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
    stride: tuple[int, int] = (1, 1),
) -> float:
    """Unrolled single-channel conv: k_h k_w H_out W_out / (H_in' W_in' + H_out W_out - 1), H_in' = H_in + 2 p_h."""
    hp, wp = in_size[0] + 2 * padding[0], in_size[1] + 2 * padding[1]
    h_out, w_out = (hp - kernel[0]) // stride[0] + 1, (wp - kernel[1]) // stride[1] + 1
    return kernel[0] * kernel[1] * h_out * w_out / (hp * wp + h_out * w_out - 1)


def overlap_lower_bound(n: int, m: int) -> float:
    """E[X] >= (1/(n+m-1)) sum_{i=1..min(n,m)} (n-i+1)(m-i+1)/(nm) (docs/METHODS.md F, reconstructed)."""
    i = np.arange(1, min(n, m) + 1, dtype=np.float64)
    return float(np.sum((n - i + 1) * (m - i + 1)) / (n * m) / (n + m - 1))


def overlap(magnitude: np.ndarray, mst_out: np.ndarray, mst_in: np.ndarray) -> float:
    """Fraction of the top-k weights by magnitude (k = number of MSF edges) that are MSF edges."""
    k = len(mst_out)
    if k == 0:
        return float("nan")
    flat = np.abs(magnitude).reshape(-1)
    top = np.argpartition(flat, flat.size - k)[flat.size - k :]
    return float(np.isin(mst_out * magnitude.shape[1] + mst_in, top).mean())


def layer_matrix(weight: np.ndarray, mask: np.ndarray | None = None, conv_norm: str = "l1") -> np.ndarray:
    """(out, in) magnitudes of a Linear weight, or a Conv weight's channel graph (kernel-slice norm); masked = 0."""
    w = np.abs(np.asarray(weight, dtype=np.float32))
    if mask is not None:
        w = np.where(np.asarray(mask, dtype=bool), w, np.float32(0))
    if w.ndim == 2:
        return w
    flat = w.reshape(w.shape[0], w.shape[1], -1)
    if conv_norm == "l1":
        return flat.sum(axis=2)
    if conv_norm == "l2":
        return np.sqrt((flat * flat).sum(axis=2))
    if conv_norm == "maxabs":
        return flat.max(axis=2)
    raise ValueError(f"Unknown conv norm {conv_norm!r}; choose one of {', '.join(CONV_NORMS)}.")


def layer_topology(name: str, matrix: np.ndarray, params: TopologyParams | None = None) -> LayerTopology:
    """MSF, NP, kappa*, overlap (and the Gaussian null overlap if asked) of one (out, in) magnitude matrix."""
    params = params or TopologyParams()
    m, n = matrix.shape
    mst_out, mst_in = maximum_spanning_forest(matrix)
    top = float(matrix.max()) if matrix.size else 0.0
    w = matrix[mst_out, mst_in] / top if top > 0 else np.zeros(0, np.float32)
    np2, _ = neural_persistence(w)
    edges = int(np.count_nonzero(matrix))
    null = None
    if params.null_model:
        gauss = np.random.default_rng(params.seed).standard_normal(matrix.shape).astype(np.float32)
        null = overlap(gauss, *maximum_spanning_forest(gauss))
    return LayerTopology(
        name,
        n,
        m,
        edges,
        n + m - len(mst_out),
        mst_out,
        mst_in,
        w,
        np2,
        np2 / math.sqrt(n + m - 1),
        edges / max(1, len(mst_out)),
        overlap(matrix, mst_out, mst_in),
        overlap_lower_bound(n, m),
        null,
        edges_004=n * m,
        mst_edges_004=n + m - 1,
    )


def unrolled_topology(
    name: str, kernel: np.ndarray, geom: ConvGeometry, params: TopologyParams | None = None
) -> LayerTopology:
    """MSF, NP, kappa*, overlap of a conv layer's unrolled graph from its (C_out, C_in, k_h, k_w) magnitudes.

    w' = |w| / max|w| over the kernel; the overlap's top-k edges follow the forest's rank order (descending |w|,
    ties by kernel index then output position); the complete-bipartite lower bound does not apply (NaN).
    """
    params = params or TopologyParams()
    forest = unrolled_msf(kernel, geom, params.chunk_edges)
    top = float(np.max(kernel)) if kernel.size else 0.0
    w = forest.magnitudes / top if top > 0 else np.zeros(0, np.float32)
    np2, _ = neural_persistence(w)
    n, m, k = geom.n_in, geom.n_out, len(forest.ranks)
    null = None
    if params.null_model:
        gauss = np.abs(np.random.default_rng(params.seed).standard_normal(kernel.shape)).astype(np.float32)
        null_forest = unrolled_msf(gauss, geom, params.chunk_edges)
        null = float(np.mean(null_forest.ranks < len(null_forest.ranks)))
    edges_004, mst_004 = geom.pair_counts()
    return LayerTopology(
        name,
        n,
        m,
        forest.edges,
        n + m - k,
        forest.out_nodes,
        forest.in_nodes,
        w,
        np2,
        np2 / math.sqrt(n + m - 1),
        forest.edges / max(1, k),
        float(np.mean(forest.ranks < k)) if k else float("nan"),
        float("nan"),
        null,
        "unrolled",
        edges_004,
        mst_004,
    )


def model_topology(
    layers: Sequence[tuple[str, Any]],
    masks: dict[str, Any] | None = None,
    params: TopologyParams | None = None,
    in_sizes: dict[str, tuple[int, int]] | None = None,
) -> list[LayerTopology]:
    """Per-layer topology of (name, Conv2d | Linear) layers; masks keyed by "<name>.weight" (True = keep).

    `in_sizes` gives each conv layer's input (H, W): needed for the unrolled graph and for 004's conv count
    (without it a channel-graph conv layer has no 004 count).
    """
    masks, params, in_sizes = masks or {}, params or TopologyParams(), in_sizes or {}
    if params.conv_graph not in CONV_GRAPHS:
        raise ValueError(f"Unknown conv graph {params.conv_graph!r}; choose one of {', '.join(CONV_GRAPHS)}.")
    out = []
    for name, module in layers:
        mask = masks.get(f"{name}.weight")
        mask_np = None if mask is None else mask.cpu().numpy()
        weight = module.weight.detach().cpu().numpy()
        geom = conv_geometry(module, in_sizes[name]) if weight.ndim == 4 and name in in_sizes else None
        if weight.ndim == 4 and params.conv_graph == "unrolled":
            if geom is None:
                raise ValueError(f"The unrolled graph of conv layer {name!r} needs its input size (in_sizes).")
            kernel = np.abs(weight) if mask_np is None else np.where(mask_np, np.abs(weight), np.float32(0))
            out.append(unrolled_topology(name, kernel, geom, params))
            continue
        top = layer_topology(name, layer_matrix(weight, mask_np, params.conv_norm), params)
        if weight.ndim == 4:
            top.graph = "channel"
            top.edges_004, top.mst_edges_004 = geom.pair_counts() if geom else (None, None)
        out.append(top)
    return out


def model_np(layers: Sequence[LayerTopology]) -> dict[str, float]:
    """Model NP (sum over layers), its normalised sum, the model's kappa* (sum of edges / sum of MSF edges), and
    kappa_004, 004's "Final Compression" (sum of edges_004 / sum of mst_edges_004; only when every layer has them)."""
    mst = sum(len(t.mst_out) for t in layers)
    known = all(t.edges_004 and t.mst_edges_004 for t in layers)
    edges_004 = sum(t.edges_004 or 0 for t in layers)
    mst_004 = sum(t.mst_edges_004 or 0 for t in layers)
    out = {
        "np": float(sum(t.np2 for t in layers)),
        "np_normalized": float(sum(t.np_normalized for t in layers)),
        "kappa": float(sum(t.edges for t in layers) / max(1, mst)),
    }
    return out | {"kappa_004": edges_004 / mst_004} if known and mst_004 else out
