"""Group Hoyer-square regulariser (DeepHoyer, Yang et al. 2019; thesis 000's group-HS), differentiable torch.

For one weight W (out, in, ...), with input groups W[:, i] and output groups W[o]:

    HS(W) = [(sum_i ||W[:, i]||_2)^2 + (sum_o ||W[o]||_2)^2] / ||W||_F^2

and R = lambda * sum of HS(W) over the Conv/Linear weights (METHODS B2). HS is scale invariant and is
smallest when few groups are non-zero, so it drives whole units towards zero. Each layer is one vectorised
expression; norms use torch.linalg.vector_norm, whose gradient at an all-zero group is 0 (not NaN).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from graphstore.nn.models.base import PrunableLayer, prunable

EPS = 1e-12


def group_hs(weight: torch.Tensor) -> torch.Tensor:
    """HS of one weight tensor: squared sums of input-group and output-group L2 norms over ||W||_F^2."""
    w = weight.reshape(weight.shape[0], weight.shape[1], -1)
    in_groups = torch.linalg.vector_norm(w, dim=(0, 2)).sum()
    out_groups = torch.linalg.vector_norm(w, dim=(1, 2)).sum()
    return (in_groups.square() + out_groups.square()) / w.square().sum().clamp_min(EPS)


def group_hs_penalty(layers: Iterable[tuple[str, PrunableLayer]], lam: float) -> torch.Tensor:
    """lambda * sum of group_hs over the layers' weights (a 0-d tensor; 0 when lambda is 0)."""
    layers = list(layers)
    if lam == 0 or not layers:
        return torch.zeros((), device=layers[0][1].weight.device if layers else None)
    return lam * torch.stack([group_hs(module.weight) for _, module in layers]).sum()


def model_group_hs(model: nn.Module, lam: float) -> torch.Tensor:
    """The regulariser over every prunable layer of a graphstore model (output layer included)."""
    return group_hs_penalty(prunable(model).prunable_layers(), lam)
