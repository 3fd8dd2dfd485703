"""Topology-preserving IMP (T-IMP, docs/METHODS.md F): every round keeps each layer's maximum spanning forest first.

At pruning time the MSF of every chosen layer's current (masked) weights is computed with the same routine as
the analysis (graphstore.analysis.mst); its edges are forced to stay (for a conv channel graph: every surviving
weight of the kernel slice, so the channel edge keeps its exact norm), then the rest of the round's budget is
filled by magnitude exactly as in IMP. Since the pruned layer still contains its old MSF with unchanged edge
weights, that MSF stays a maximum spanning forest: zeroth-order features (and NP) are preserved exactly.
The forced-keep masks come from graphstore.pruning.msf (shared with IMP's per-round topology tracking).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore.nn.models.base import PrunableLayer
from graphstore.progress import ProgressCallback
from graphstore.pruning import TopologyImpParams
from graphstore.pruning.common import Masks, PruningRun, RoundRecord, Start
from graphstore.pruning.imp import run_imp
from graphstore.pruning.msf import mst_keep_masks

__all__ = ["mst_keep_masks", "run_topology"]


def run_topology(
    start: Start,
    params: TopologyImpParams,
    config: Any,
    data_dir: str | Path,
    tracking_url: str | None,
    progress: ProgressCallback | None = None,
    rewind_to: dict[str, torch.Tensor] | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
) -> PruningRun:
    """Run T-IMP from `start` (same rounds, schedule, rewinding and tracking as IMP; kind "prune-topology")."""

    def keep(model: nn.Module, layers: list[tuple[str, PrunableLayer]], masks: Masks) -> tuple[Masks, dict[str, float]]:
        return mst_keep_masks(layers, masks, params.conv_norm)

    return run_imp(
        start, params, config, data_dir, tracking_url, progress, rewind_to, "prune-topology", keep, params, on_round
    )
