"""The co-activation graph (docs/METHODS.md C2, after 000 / Horta et al.): Spearman correlation of unit activations.

Spearman = Pearson on average ranks (ties matter: pre-ReLU outputs rarely tie, post-ReLU ones tie at zero a lot).
Ranks are computed unit-chunked (packed value|position keys in one compiled pass, one SIMD integer sort, tie
groups found, centred, normalised and scattered back in one compiled pass: graphstore.extract.rank_kernel; chunks
in a thread pool), and every pair's correlation
comes from matrix products of Z (accumulated over sample chunks when asked): the graph takes Z Z^T a row strip
at a time (upper part only, edges kept per strip), so memory is O(samples x units + strip + edges), never the
U x U matrix; `spearman` gives the whole matrix for small U. NaN activations are not handled.
Activation values are recorded after BN and the ReLU by default (`where=post`, what 000 correlates; `pre` is the
layer's own output) and the graph's parameters record which. Constant (dead) units have no correlation: they are
dropped and counted. Edges with rho >= threshold are kept,
and rho in [threshold, 1] is mapped linearly to w in [0, 1] (option: per-graph min-max as in 000's code).
Each undirected pair is stored once (COACTIVATES, rho and w).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from graphstore.errors import GraphstoreError
from graphstore.extract.activations import WHERE, record, select_layers
from graphstore.extract.registry import KINDS, GraphKind
from graphstore.extract.weights import NeuronLayout, add_classes, neuron_layout
from graphstore.graph import Graph
from graphstore.nn.models.base import prunable

if TYPE_CHECKING:
    from graphstore.nn.checkpoint import Checkpoint
    from graphstore.nn.datasets.base import LoadedDataset

RESCALE = ("linear", "minmax")


@dataclass
class CoactivationParams:
    """Parameters of the co-activation graph."""

    split: str = field(default="train", metadata={"help": "Dataset split whose samples are forwarded."})
    limit: int = field(default=0, metadata={"help": "Use at most this many samples of the split (0 = all)."})
    layers: tuple[str, ...] = field(
        default=(),
        metadata={"help": "Layers whose units are nodes (default: all conv/linear layers, outputs included)."},
    )
    where: str = field(
        default="post",
        metadata={
            "help": "Correlate activation values after BN and the ReLU (post, 000's choice; the output layer keeps "
            "its logits) or each layer's own output before BN/ReLU (pre). The graph records which.",
            "choices": WHERE,
        },
    )
    threshold: float = field(default=0.5, metadata={"help": "Keep pairs with Spearman rho >= this."})
    rescale: str = field(
        default="linear",
        metadata={
            "help": "Map kept rho to w: linear [threshold,1]->[0,1], or "
            "minmax over the graph's kept edges (000's code).",
            "choices": RESCALE,
        },
    )
    batch_size: int = field(default=512, metadata={"help": "Samples per forward batch."})
    device: str = field(default="cpu", metadata={"help": "Device for the forward pass."})
    chunk: int = field(default=256, metadata={"help": "Units ranked at a time (bounds memory)."})
    sample_chunk: int = field(
        default=0,
        metadata={
            "help": "Samples per step of the correlation product (0 = one "
            "product; set it to bound memory for huge splits)."
        },
    )


def sortable_keys(x: np.ndarray) -> np.ndarray:
    """Order-preserving uint64 keys of float32 rows: value bits (high) and column position (low).

    One integer sort of these keys gives each row's order and its values at once (numpy's SIMD sort makes it
    several times faster than an argsort); -0.0 is folded into 0.0 so both tie, as in scipy.
    """
    x = np.ascontiguousarray(x, dtype=np.float32) + np.float32(0.0)
    sign = (x.view(np.int32) >> 31).view(np.uint32)
    bits = x.view(np.uint32) ^ (sign | np.uint32(0x80000000))
    return (bits.astype(np.uint64) << np.uint64(32)) | np.arange(x.shape[1], dtype=np.uint64)


def sorted_keys(x: np.ndarray) -> np.ndarray:
    """sortable_keys of the rows of x (U, N), each row sorted: one SIMD integer sort gives order and values."""
    key = sortable_keys(x)
    key.sort(axis=1)
    return key


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (0-based; ties share their mean position) along each ROW of x (U, N), as float32."""
    from graphstore.extract.rank_kernel import scatter_ranks  # deferred: numba loads only when ranks are computed

    ranks = np.empty(x.shape, dtype=np.float32)
    scatter_ranks(sorted_keys(x), ranks, 0.0, None)
    return ranks


def rank_matrix(x: np.ndarray, chunk: int = 256, workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Centred, unit-norm rank rows Z (live units, N) of x (N, U) and the mask of live (non-constant) units.

    Unit chunks are ranked in a thread pool (numpy's sort and the compiled scatter release the GIL); memory is
    the output plus a few chunk-sized temporaries per worker.
    """
    from graphstore.extract.rank_kernel import packed_keys, scatter_ranks  # deferred: numba loads only here

    n, u = x.shape
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    z = np.empty((u, n), dtype=np.float32)
    norms = np.empty(u, dtype=np.float64)

    def one(lo: int) -> None:
        keys = packed_keys(bits, lo, min(lo + chunk, u))
        keys.sort(axis=1)
        scatter_ranks(keys, z[lo : lo + chunk], (n - 1) * 0.5, norms[lo : lo + chunk])

    with ThreadPoolExecutor(max_workers=workers or torch.get_num_threads()) as pool:
        list(pool.map(one, range(0, u, max(chunk, 1))))
    live = norms > 1e-9
    return (z if live.all() else z[live]), live


def gram(z: np.ndarray, sample_chunk: int = 0) -> np.ndarray:
    """Z Z^T for Z (units, N) as one matrix product (accumulated over sample chunks when sample_chunk > 0)."""
    t = torch.from_numpy(z)
    if sample_chunk <= 0 or sample_chunk >= z.shape[1]:
        return (t @ t.T).numpy()
    out = torch.zeros((z.shape[0], z.shape[0]), dtype=torch.float32)
    for lo in range(0, z.shape[1], sample_chunk):
        block = t[:, lo : lo + sample_chunk]
        out.addmm_(block, block.T)
    return out.numpy()


def spearman(x: np.ndarray, chunk: int = 256, sample_chunk: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spearman correlation matrix of the live columns of x (N, U) and the live-column mask."""
    z, live = rank_matrix(x, chunk)
    rho = gram(z, sample_chunk)
    np.clip(rho, -1.0, 1.0, out=rho)
    return rho, live


def strip_rows(units: int, entries: int = 1 << 24) -> int:
    """Rows per strip of Z Z^T so that a strip (rows x units, float32) holds about `entries` values (>= 1 row)."""
    return max(1, min(units, entries // max(units, 1)))


def strip_gram(t: torch.Tensor, lo: int, hi: int, buf: np.ndarray, sample_chunk: int = 0) -> np.ndarray:
    """Z[lo:hi] Z[lo:]^T (rows lo..hi-1 of the Gram matrix from column lo on) written into the front of `buf`."""
    out = buf[: (hi - lo) * (len(t) - lo)].reshape(hi - lo, len(t) - lo)
    a, b, o = t[lo:hi], t[lo:], torch.from_numpy(out)
    if sample_chunk <= 0 or sample_chunk >= t.shape[1]:
        torch.matmul(a, b.T, out=o)
        return out
    o.zero_()
    for s in range(0, t.shape[1], sample_chunk):
        o.addmm_(a[:, s : s + sample_chunk], b[:, s : s + sample_chunk].T)
    return out


def strip_pairs(rho: np.ndarray, lo: int, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, rho) as (int32, int32, float32) of one strip's entries above its diagonal (j > i) with rho (clipped
    to [-1, 1]) >= threshold, row-major, in the whole matrix's indices."""
    np.clip(rho, -1.0, 1.0, out=rho)
    bi, bj = np.nonzero(rho >= threshold)
    upper = bj > bi  # strip row r is unit lo + r, strip column c unit lo + c
    bi, bj = bi[upper], bj[upper]
    return (bi + lo).astype(np.int32), (bj + lo).astype(np.int32), rho[bi, bj]


def correlated_pairs(
    x: np.ndarray, threshold: float, chunk: int = 256, sample_chunk: int = 0, entries: int = 1 << 24
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, rho, live): the pairs i < j of live columns of x (N, U) with Spearman rho >= threshold, row-major
    (indices among the live columns; rho float32, as `spearman` has it), and the live mask.

    Ranks once (Z, live units x N), then Z Z^T one row strip of about `entries` values at a time, upper part only,
    each strip's edges kept: memory is x, Z, one strip and the edges (never U x U); the GEMM the upper triangle's.
    """
    z, live = rank_matrix(x, chunk)
    t, u = torch.from_numpy(z), len(z)
    rows = strip_rows(u, entries)
    buf = np.empty(rows * u, dtype=np.float32)
    parts = [
        strip_pairs(strip_gram(t, lo, min(lo + rows, u), buf, sample_chunk), lo, threshold) for lo in range(0, u, rows)
    ]
    del buf
    if not parts:
        return np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float32), live
    i, j, r = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return i, j, r, live


def check_rescale(rescale: str) -> None:
    """Refuse a rescale rule that is not one of RESCALE."""
    if rescale not in RESCALE:
        raise GraphstoreError(f"Unknown rescale {rescale!r}.", f"Choose one of {', '.join(RESCALE)}.")


def rescaled(r: np.ndarray, threshold: float, rescale: str) -> np.ndarray:
    """Kept rho (float64) mapped to w in [0, 1]: linear from [threshold, 1], or min-max over the kept edges."""
    check_rescale(rescale)
    if rescale == "minmax":
        lo, hi = (r.min(), r.max()) if len(r) else (0.0, 1.0)
        w = (r - lo) / (hi - lo) if hi > lo else np.ones_like(r)
    else:
        w = (r - threshold) / (1.0 - threshold) if threshold < 1 else np.ones_like(r)
    return np.clip(w, 0.0, 1.0)


def coactivation_graph(
    graph_id: str,
    model: torch.nn.Module,
    data: LoadedDataset,
    params: CoactivationParams,
    class_names=None,
    progress: Callable[[int, int], None] | None = None,
) -> Graph:
    """Record activations over a split, correlate every unit pair, keep the strong positive pairs."""
    layers = select_layers(model, params.layers)
    layout = neuron_layout(prunable(model).prunable_layers(), class_names)
    rec = record(
        model, data, params.split, layers, params.where, params.batch_size, params.device, params.limit, progress
    )
    rows = np.isin(layout.layer, [n for n, _ in layers])
    return correlation_graph(graph_id, rec.values, layout, rows, params, class_names, f"split {params.split!r}")


def correlation_graph(
    graph_id: str,
    values: np.ndarray,
    layout: NeuronLayout,
    rows: np.ndarray,
    params: CoactivationParams,
    class_names: Sequence[str] | None = None,
    source: str = "the data",
) -> Graph:
    """The co-activation graph of recorded values (N samples x the units of `layout`'s `rows`, in key order)."""
    if len(values) < 3:
        raise GraphstoreError(
            f"Only {len(values)} samples in {source}; Spearman needs >= 3.",
            "Choose a larger split (--split) or a larger --limit.",
        )
    check_rescale(params.rescale)  # before the recording's expensive correlation, not after
    i, j, r32, live = correlated_pairs(values, params.threshold, params.chunk, params.sample_chunk)
    keys = layout.keys[rows][live]
    src, dst = keys[i], keys[j]
    del i, j
    r = r32.astype(np.float64)
    del r32
    graph = Graph(graph_id, "coactivation", params=asdict(params))
    graph.add_nodes("Neuron", keys, **layout.props(np.flatnonzero(rows)[live]))
    w = rescaled(r, params.threshold, params.rescale)
    graph.add_edges("COACTIVATES", "Neuron", "Neuron", src, dst, directed=False, rho=r, w=w)
    dead_layers = layout.layer[rows][~live]
    names, counts = np.unique(dead_layers.astype(str), return_counts=True)
    graph.params.update(
        samples=len(values),
        units=int(rows.sum()),
        dead_units=int((~live).sum()),
        dead_by_layer={str(a): int(b) for a, b in zip(names, counts, strict=True)},
        layers=list(dict.fromkeys(layout.layer[rows].astype(str))),
    )
    out = (layout.layer_type == "output") & np.isin(layout.keys, keys)
    if class_names is not None and out.any():
        add_classes(graph, layout, layout.keys[out], layout.index[out], class_names)
    return graph


def check_coactivation(
    checkpoint: Checkpoint, model: torch.nn.Module, data: LoadedDataset | None, params: CoactivationParams
) -> None:
    """Layer names exist; the threshold is a correlation."""
    select_layers(model, params.layers)
    if not -1.0 <= params.threshold <= 1.0:
        raise GraphstoreError(f"threshold={params.threshold} is not a correlation.", "Use a value in [-1, 1].")


def coactivation_from_checkpoint(
    checkpoint: Checkpoint, data: LoadedDataset | None, params: CoactivationParams, graph_id: str
) -> Graph:
    """Co-activation graph: Spearman of unit activations over a split, rho >= 0.5 kept (000)."""
    assert data is not None, "registered with needs_data=True: ingest always passes the data"
    return coactivation_graph(
        graph_id, checkpoint.build_model(params.device), data, params, checkpoint.data_info.class_names
    )


KINDS.register(GraphKind("coactivation", CoactivationParams, coactivation_from_checkpoint, check=check_coactivation))
