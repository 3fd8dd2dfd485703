"""Zeroth-order topology report of a checkpoint or of every round of a pruning run (docs/METHODS.md F).

Per layer: NP_2, normalised NP, kappa* = |E| / |MST edges| (masked weights are not edges), the overlap of the
top-|MST| weights with the MST, its lower bound, and (option) the overlap of an i.i.d. Gaussian layer of the
same shape. Model totals: NP (sum), normalised NP (sum), kappa*, the overlap (mean over layers, as the pruning runs
log it), the pooled overlap (MST edges among the top weights over all MST edges: a 1-input conv layer is a tree
with overlap 1 and weighs little here), the "conv", "dense", "output" ratios: sum of edges over sum of MST edges over
the conv layers, the hidden Linear layers, and the output layer (its own ratio; named "final" before, which read as
004's "Final Compression"), and kappa_004: 004's "Final Compression" (App. E), the WHOLE model's ratio in 004's
count (graphstore.analysis.mst). Conv layers are their channel graph, or with conv_graph="unrolled" their Toeplitz
graph; each conv layer's input size comes from one forward pass of a dummy input of the checkpoint's data shape.
A pruning run tabulates one row per round
(the last checkpoint of the round): round, epoch, sparsity, accuracy (from the checkpoint's metrics), NP,
kappa*, overlaps; IMP vs T-IMP at equal sparsity is two such tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graphstore.analysis.mst import CONV_GRAPHS, CONV_NORMS, LayerTopology, TopologyParams, model_np, model_topology
from graphstore.analysis.unrolled import CHUNK_EDGES
from graphstore.errors import GraphstoreError
from graphstore.nn.checkpoint import Checkpoint, list_checkpoints, load_checkpoint
from graphstore.nn.models.base import prunable
from graphstore.tracking.repo import Tracking

GROUPS = ("conv", "dense", "output")
ACCURACY_KEYS = ("test_acc", "acc", "val_acc", "train_acc")
LAYER_COLUMNS = (
    "layer",
    "group",
    "graph",
    "n_in",
    "n_out",
    "edges",
    "mst_edges",
    "np",
    "np_normalized",
    "kappa",
    "kappa_004",
    "overlap",
    "overlap_bound",
    "null_overlap",
)
ROUND_COLUMNS = (
    "round",
    "epoch",
    "sparsity",
    "accuracy",
    "np",
    "np_normalized",
    "kappa",
    "overlap",
    "overlap_pooled",
    "null_overlap",
)


@dataclass
class TopologyReportParams:
    """Zeroth-order topology of a checkpoint's layers (neural persistence, kappa*, MST overlap)."""

    conv_norm: str = field(
        default="l1", metadata={"help": "Norm of a conv kernel slice (channel graph edge).", "choices": CONV_NORMS}
    )
    null: bool = field(
        default=False,
        metadata={"help": "Also report the overlap of an i.i.d. Gaussian layer of the same shape (the null model)."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the Gaussian null model."})
    conv_graph: str = field(
        default="channel",
        metadata={
            "help": "Conv layers as their channel graph, or unrolled (Toeplitz, over padded input positions: "
            "004's graph; slower).",
            "choices": CONV_GRAPHS,
        },
    )
    chunk_edges: int = field(
        default=CHUNK_EDGES,
        metadata={"help": "Unrolled graph: edges per Kruskal chunk (bounds memory, about 180 bytes per edge)."},
    )

    def mst(self) -> TopologyParams:
        """The graphstore.analysis.mst parameters these stand for."""
        return TopologyParams(
            conv_norm=self.conv_norm,
            null_model=self.null,
            seed=self.seed,
            conv_graph=self.conv_graph,
            chunk_edges=self.chunk_edges,
        )


@dataclass
class TopologyReport:
    """Per-layer topology and model totals of one checkpoint."""

    layers: list[LayerTopology]
    groups: list[str]
    totals: dict[str, float]

    def layer_rows(self) -> list[list[Any]]:
        """One row per layer in LAYER_COLUMNS order."""
        return [
            [
                t.name,
                g,
                t.graph,
                t.n_in,
                t.n_out,
                t.edges,
                len(t.mst_out),
                t.np2,
                t.np_normalized,
                t.kappa,
                t.kappa_004,
                t.overlap,
                t.overlap_bound,
                t.null_overlap,
            ]
            for t, g in zip(self.layers, self.groups, strict=True)
        ]


def layer_groups(layers: Sequence[tuple[str, Any]]) -> list[str]:
    """ "conv" for Conv2d, "output" for the output layer (last), "dense" for the other Linear layers."""
    last = len(layers) - 1
    return [
        "output" if i == last else "conv" if isinstance(m, nn.Conv2d) else "dense" for i, (_, m) in enumerate(layers)
    ]


def totals(layers: Sequence[LayerTopology], groups: Sequence[str]) -> dict[str, float]:
    """Model NP, normalised NP, kappa*, 004's whole-model kappa_004, mean and pooled overlap, conv / dense / output
    ratios."""
    mst = np.array([len(t.mst_out) for t in layers], dtype=np.float64)
    edges = np.array([t.edges for t in layers], dtype=np.float64)
    over = np.array([t.overlap for t in layers], dtype=np.float64)
    bound = np.array([t.overlap_bound for t in layers], dtype=np.float64)
    known, bounded = ~np.isnan(over), ~np.isnan(bound)
    out = model_np(layers) | {
        "overlap": float(over[known].mean()) if known.any() else float("nan"),
        "overlap_bound": float(bound[bounded].mean()) if bounded.any() else float("nan"),
        "overlap_pooled": float((over[known] * mst[known]).sum() / max(1.0, mst.sum())),
        "edges": float(edges.sum()),
        "mst_edges": float(mst.sum()),
    }
    kinds = np.asarray(groups)
    for group in GROUPS:
        pick = kinds == group
        out[f"kappa_{group}"] = float(edges[pick].sum() / mst[pick].sum()) if mst[pick].sum() else float("nan")
    nulls = [t.null_overlap for t in layers if t.null_overlap is not None]
    if nulls:
        out["null_overlap"] = float(np.mean(nulls))
    return out


def checkpoint_topology(ckpt: Checkpoint, params: TopologyReportParams | None = None) -> TopologyReport:
    """The topology report of a checkpoint's prunable layers (its masks applied; masked weights are not edges)."""
    params = params or TopologyReportParams()
    model = ckpt.build_model("cpu")
    layers = prunable(model).prunable_layers()
    sizes = conv_input_sizes(model, layers, tuple(ckpt.model.input_shape))
    per_layer = model_topology(layers, ckpt.masks, params.mst(), sizes)
    groups = layer_groups(layers)
    return TopologyReport(per_layer, groups, totals(per_layer, groups))


def conv_input_sizes(
    model: nn.Module, layers: Sequence[tuple[str, Any]], input_shape: tuple[int, ...]
) -> dict[str, tuple[int, int]]:
    """(H, W) of the input each Conv2d sees, from one forward pass of a zero input of `input_shape` (no grad)."""
    sizes: dict[str, tuple[int, int]] = {}
    convs = [(name, m) for name, m in layers if isinstance(m, nn.Conv2d)]
    if not convs or len(input_shape) != 3:
        return sizes

    def hook(name: str) -> Any:
        def record(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            sizes[name] = (int(args[0].shape[-2]), int(args[0].shape[-1]))

        return record

    handles = [m.register_forward_pre_hook(hook(name)) for name, m in convs]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return sizes


def accuracy_of(ckpt: Checkpoint) -> float | None:
    """The checkpoint's recorded accuracy (test, else plain, validation, training), None when none is stored."""
    for key in ACCURACY_KEYS:
        if key in ckpt.metrics:
            return float(ckpt.metrics[key])
    return None


def round_checkpoints(data_dir: str | Path, run_id: int | str) -> list[Path]:
    """The last checkpoint of each pruning round of a run, by round."""
    rows = [(r, p) for r, _, p in list_checkpoints(data_dir, run_id) if r is not None]
    if not rows:
        raise GraphstoreError(
            f"Run {run_id} has no pruning-round checkpoints in {Path(data_dir) / 'runs'}.",
            "Use --all-rounds with a `graphstore prune imp|topology` run id (see graphstore "
            "runs list), or drop --all-rounds for a single checkpoint.",
        )
    last = dict(rows)  # rows are sorted by (round, epoch): the last epoch wins
    return [last[r] for r in sorted(last)]


def round_row(ckpt: Checkpoint, params: TopologyReportParams) -> list[Any]:
    """One ROUND_COLUMNS row for a round's checkpoint."""
    t = checkpoint_topology(ckpt, params).totals
    sparsity = ckpt.sparsity()
    return [
        ckpt.round,
        ckpt.epoch,
        0.0 if sparsity is None else sparsity,
        accuracy_of(ckpt),
        t["np"],
        t["np_normalized"],
        t["kappa"],
        t["overlap"],
        t["overlap_pooled"],
        t.get("null_overlap"),
    ]


def rounds_table(
    data_dir: str | Path, run_id: int | str, params: TopologyReportParams | None = None
) -> list[list[Any]]:
    """ROUND_COLUMNS rows, one per pruning round of a run (IMP or T-IMP)."""
    params = params or TopologyReportParams()
    return [round_row(load_checkpoint(p), params) for p in round_checkpoints(data_dir, run_id)]


def track_topology(
    tracking: Tracking | None,
    params: TopologyReportParams,
    name: str,
    steps: Sequence[dict[str, float]],
    parent_run_id: int | None = None,
) -> int | None:
    """Record a report as a tracked run (kind analysis-topology): one step per checkpoint (round, or 0)."""
    if tracking is None:
        return None
    parent = parent_run_id if parent_run_id is not None and tracking.get_run(parent_run_id) else None
    with tracking.tracked_run("analysis-topology", name, params, parent_run_id=parent, seed=params.seed) as run_id:
        for step, values in enumerate(steps):
            tracking.log_metrics(run_id, step, {k: v for k, v in values.items() if v is not None and np.isfinite(v)})
    return run_id
