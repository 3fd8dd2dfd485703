"""Topology-preserving IMP (T-IMP, docs/METHODS.md F): every round keeps each layer's maximum spanning forest first.

At pruning time the MSF of every chosen layer's current (masked) weights is computed with the same routine as
the analysis (graphstore.analysis.mst); its edges are forced to stay (for a conv channel graph: every surviving
weight of the kernel slice, so the channel edge keeps its exact norm), then the rest of the round's budget is
filled by magnitude exactly as in IMP. Since the pruned layer still contains its old MSF with unchanged edge
weights, that MSF stays a maximum spanning forest: zeroth-order features (and NP) are preserved exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graphstore.analysis.mst import TopologyParams, model_np, model_topology
from graphstore.pruning import TopologyImpParams
from graphstore.pruning.common import Masks, PruningRun, Start
from graphstore.pruning.imp import run_imp


def mst_keep_masks(layers: list[tuple[str, nn.Module]], masks: Masks, conv_norm: str = "l1"
                   ) -> tuple[Masks, dict[str, float]]:
    """Forced-keep masks (the MSF of each layer's current weights) and the model's NP / kappa* / overlap."""
    forced = {}
    tops = model_topology(layers, masks, TopologyParams(conv_norm=conv_norm))
    for (name, _), top in zip(layers, tops, strict=True):
        key = f"{name}.weight"
        mask = masks[key].cpu()
        keep = torch.zeros_like(mask, dtype=torch.bool)
        keep[torch.from_numpy(top.mst_out), torch.from_numpy(top.mst_in)] = True
        forced[key] = keep & mask.bool()
    summary = model_np(tops)
    summary["overlap"] = float(np.mean([t.overlap for t in tops]))
    summary["mst_edges"] = float(sum(len(t.mst_out) for t in tops))
    return forced, summary


def run_topology(start: Start, params: TopologyImpParams, config: Any, data_dir: str | Path,
                 tracking_url: str | None, progress: bool = True, rewind_to: dict[str, torch.Tensor] | None = None,
                 on_round: Any = None) -> PruningRun:
    """Run T-IMP from `start` (same rounds, schedule, rewinding and tracking as IMP; kind "prune-topology")."""

    def keep(model: nn.Module, layers: list[tuple[str, nn.Module]], masks: Masks) -> tuple[Masks, dict[str, float]]:
        return mst_keep_masks(layers, masks, params.conv_norm)

    return run_imp(start, params, config, data_dir, tracking_url, progress, rewind_to, "prune-topology", keep,
                   params, on_round)
