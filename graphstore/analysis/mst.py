"""Zeroth-order topology of weights (docs/METHODS.md F): maximum spanning forests, neural persistence, kappa*, overlap.

A layer is a bipartite graph between its n inputs and m outputs; the edge weight is w' = |w| / max|w| and zero
(masked) weights are not edges. The descending filtration's merge edges are the maximum spanning forest (MSF),
so neural persistence NP_2 = sqrt(sum over MSF edges of (1 - w')^2). The MSF comes from a dense Prim over the
m x n magnitude matrix (no edge list): the larger side is scanned once per small-side node, so the cost is
O((n + m) * min(n, m)) vector work and memory is two float32 copies of the matrix (|w| and its transpose).
Convolutions default to the channel graph (kernel-slice L1 norm, as in graphstore/extract/weights.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CONV_NORMS = ("l1", "l2", "maxabs")


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
    )


def model_topology(
    layers: Sequence[tuple[str, Any]], masks: dict[str, Any] | None = None, params: TopologyParams | None = None
) -> list[LayerTopology]:
    """Per-layer topology of (name, Conv2d | Linear) layers; masks keyed by "<name>.weight" (True = keep)."""
    masks = masks or {}
    out = []
    for name, module in layers:
        mask = masks.get(f"{name}.weight")
        weight = module.weight.detach().cpu().numpy()
        norm = (params or TopologyParams()).conv_norm
        matrix = layer_matrix(weight, None if mask is None else mask.cpu().numpy(), norm)
        out.append(layer_topology(name, matrix, params))
    return out


def model_np(layers: Sequence[LayerTopology]) -> dict[str, float]:
    """Model NP (sum over layers), its normalised sum, and the model's kappa* (sum of edges / sum of MSF edges)."""
    mst = sum(len(t.mst_out) for t in layers)
    return {
        "np": float(sum(t.np2 for t in layers)),
        "np_normalized": float(sum(t.np_normalized for t in layers)),
        "kappa": float(sum(t.edges for t in layers) / max(1, mst)),
    }
