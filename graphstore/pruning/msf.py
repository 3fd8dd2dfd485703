"""Maximum-spanning-forest keep masks: the edges T-IMP never prunes, and the topology metrics IMP logs per round.

Shared by graphstore.pruning.imp (per-round NP / kappa* / overlap tracking) and graphstore.pruning.topology
(T-IMP's forced edges), so neither imports the other.
"""

from __future__ import annotations

import numpy as np
import torch

from graphstore.analysis.mst import TopologyParams, model_np, model_topology
from graphstore.nn.checkpoint import Tensors
from graphstore.nn.models.base import PrunableLayer

Masks = Tensors


def mst_keep_masks(
    layers: list[tuple[str, PrunableLayer]], masks: Masks, conv_norm: str = "l1"
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
