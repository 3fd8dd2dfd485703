"""Noise robustness of the latent kNN graph (docs/METHODS.md D, 003 eq. 4.1).

Latents X are the input of the classifier's output layer over a split. For each noise level p,
Y = X + N(0, p * var_col(X)) (one seeded generator per level, so a level's noise does not depend on the other
levels asked). var_col is the population variance (ddof 0) of each latent dimension over the samples of the graph
(the split, after --limit), so p is the noise-to-signal variance ratio per dimension: p = 1 adds as much variance
as each dimension has ("as much variance as is present in the system", 003 section 5.1.1; Y's variance is then
twice X's), which is where 003's sweep ends; levels above 1 are allowed, and a constant dimension gets no noise.
The union kNN graph of Y (same k and metric) is compared with the p = 0 graph by graph-average Jaccard and class
neighbourhood similarity (reference = p = 0, classes from the node property "label"), and the output layer
applied to Y gives the accuracy. The p = 0 search runs once and is reused for every p = 0 entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from graphstore.analysis.similarity import cns, jaccard
from graphstore.errors import GraphstoreError
from graphstore.extract.activations import Recorded, latents
from graphstore.extract.knn import METRICS, KnnParams, check_k, knn_graph, knn_search
from graphstore.graph import Graph
from graphstore.nn.datasets.base import LoadedDataset
from graphstore.nn.models.base import prunable
from graphstore.tracking.repo import Tracking

DEFAULT_P = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # 003's range [0, 1], dense near 0 (Fig. 5.2b)


@dataclass
class NoiseParams:
    """Noise-robustness sweep of the latent kNN graph (003 eq. 4.1)."""

    p: tuple[float, ...] = field(
        default=DEFAULT_P,
        metadata={
            "help": "Noise levels p (noise variance p * var_col(X); p = 1 adds each dimension's own variance), "
            "comma-separated; 0 is always included."
        },
    )
    k: int = field(default=8, metadata={"help": "Neighbours per sample of the kNN graph."})
    metric: str = field(default="l1", metadata={"help": "Distance between latents.", "choices": METRICS})
    split: str = field(default="test", metadata={"help": "Dataset split whose samples are the nodes."})
    limit: int = field(default=0, metadata={"help": "Use at most this many samples of the split (0 = all)."})
    seed: int = field(default=0, metadata={"help": "Seed of the Gaussian noise."})
    batch_size: int = field(default=512, metadata={"help": "Samples per forward batch."})
    device: str = field(default="cpu", metadata={"help": "Device for the forward pass."})


@dataclass
class NoiseRow:
    """One noise level: similarity of its kNN graph to the p = 0 graph, and the head's accuracy."""

    p: float
    jaccard: float
    cns: float
    accuracy: float


def noise_levels(ps: Sequence[float]) -> list[float]:
    """Sorted distinct levels with 0 first; negative or non-finite levels raise."""
    values = {float(p) for p in ps}
    bad = sorted(p for p in values if not math.isfinite(p) or p < 0)
    if bad:
        raise GraphstoreError(
            f"Noise levels must be finite and >= 0, got {', '.join(f'{p:g}' for p in bad)}.",
            "Pass e.g. --p 0,0.01,0.05,0.1,0.2,0.5,1 (1 = noise as large as the latent variance).",
        )
    return sorted(values | {0.0})


def perturb(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    """Y = X + N(0, p * var_col(X)) (population variance per column) with a generator seeded by (seed, p)."""
    if p == 0:
        return x
    rng = np.random.default_rng([seed, int(round(p * 1e9))])
    scale = np.sqrt(p * x.var(axis=0, dtype=np.float64)).astype(np.float32)
    return (x + rng.standard_normal(x.shape, dtype=np.float32) * scale).astype(np.float32)


def head_accuracy(head: nn.Module, y: np.ndarray, labels: np.ndarray, device: str = "cpu") -> float:
    """Accuracy of the output layer applied to latents y (one batched matrix product)."""
    with torch.inference_mode():
        logits = head.to(device).eval()(torch.from_numpy(np.ascontiguousarray(y)).to(device))
        pred = logits.argmax(dim=1).cpu().numpy()
    return float((pred == labels).mean()) if len(labels) else float("nan")


def _graph(rec: Recorded, y: np.ndarray, params: NoiseParams, tag: str) -> Graph:
    """The union kNN graph (same k, metric) of latents y on the recorded samples."""
    knn = KnnParams(k=(params.k,), metric=params.metric, split=params.split, limit=params.limit)
    dist, nbr = knn_search(y, params.k, params.metric)
    return knn_graph(f"noise-{tag}", rec, dist, nbr, params.k, knn, params.split)


def sweep_latents(rec: Recorded, head: nn.Module, params: NoiseParams) -> list[NoiseRow]:
    """The noise table for recorded latents and the output layer that reads them."""
    check_k([params.k], len(rec.values))
    reference = _graph(rec, rec.values, params, "p0")
    rows = []
    for p in noise_levels(params.p):
        y = perturb(rec.values, p, params.seed)
        graph = reference if p == 0 else _graph(rec, y, params, f"p{p:g}")
        rows.append(
            NoiseRow(
                p,
                jaccard(reference, graph)[0],
                cns(reference, graph)[0],
                head_accuracy(head, y, rec.labels, params.device),
            )
        )
    return rows


def noise_sweep(model: nn.Module, data: LoadedDataset, params: NoiseParams) -> list[NoiseRow]:
    """Record the latents of a split once, then sweep the noise levels (003 eq. 4.1)."""
    noise_levels(params.p)  # bad levels and too large k fail before the forward pass
    if params.split in data.splits:
        size = data.size(params.split)
        check_k([params.k], size if params.limit <= 0 else min(params.limit, size))
    rec = latents(model, data, params.split, params.batch_size, params.device, params.limit)
    _, head = prunable(model).output_layer()
    return sweep_latents(rec, head, params)


def track_noise(
    tracking: Tracking | None,
    params: NoiseParams,
    rows: Sequence[NoiseRow],
    name: str,
    parent_run_id: int | None = None,
) -> int | None:
    """Record the sweep as a tracked run (kind analysis-noise): per level i, metrics p, jaccard, cns, accuracy."""
    if tracking is None:
        return None
    parent = parent_run_id if parent_run_id is not None and tracking.get_run(parent_run_id) else None
    with tracking.tracked_run(
        "analysis-noise", name, params, parent_run_id=parent, seed=params.seed, device=params.device
    ) as run_id:
        for i, row in enumerate(rows):
            tracking.log_metrics(run_id, i, _metrics(row), split=params.split)
    return run_id


def _metrics(row: NoiseRow) -> dict[str, Any]:
    """The scalars of one row for the tracking DB."""
    return {"p": row.p, "jaccard": row.jaccard, "cns": row.cns, "accuracy": row.accuracy}
