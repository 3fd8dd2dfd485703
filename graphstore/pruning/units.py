"""Unit (neuron / channel) masks: a pruned unit loses its incoming weights, bias, outgoing weights, gradients
and, by default, its BatchNorm scale and shift.

Hidden units are the output channels / features of every prunable layer except the output layer
(`model.prunable_layers()[:-1]`). Masks are ordinary parameter masks (parameter name -> bool tensor, True =
keep), so `graphstore.nn.train.train(masks=...)`, checkpoints and weight extraction read them unchanged.
With `keep_bn=True` the BN scale and shift stay trainable, which reproduces thesis 000: a pruned conv
channel then emits the constant relu(beta) instead of 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from graphstore.errors import InvalidParams
from graphstore.nn.models import conv_stack_models
from graphstore.nn.models.base import PrunableLayer, prunable

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class UnitLayer:
    """A hidden layer's units: the layer, the BN after it (if any), and the layer that consumes its output."""

    name: str
    module: PrunableLayer
    bn_name: str | None
    next_name: str
    next_module: PrunableLayer

    @property
    def size(self) -> int:
        """Number of units (output channels or features)."""
        return int(self.module.weight.shape[0])


def unit_layers(model: nn.Module) -> list[UnitLayer]:
    """Hidden layers of a sequential prunable model in forward order (the output layer is never one)."""
    layers = _prunable(model)
    modules = dict(model.named_modules())
    out = []
    for (name, module), (next_name, next_module) in zip(layers[:-1], layers[1:], strict=True):
        bn = f"bn{name[4:]}" if name.startswith("conv") else None
        bn = bn if bn in modules and isinstance(modules[bn], nn.BatchNorm2d | nn.BatchNorm1d) else None
        out.append(UnitLayer(name, module, bn, next_name, next_module))
    _check_chain(out)
    return out


def _prunable(model: nn.Module) -> list[tuple[str, PrunableLayer]]:
    """model.prunable_layers(), refusing models whose layers are not a simple chain (ResNet skips)."""
    if not hasattr(model, "prunable_layers") or not isinstance(model, nn.Sequential):
        raise InvalidParams(
            f"Unit pruning needs a sequential graphstore model; {type(model).__name__} is not one.",
            f"Use mlp or a conv stack ({', '.join(conv_stack_models())}); skip connections are not supported.",
        )
    return prunable(model).prunable_layers()


def _check_chain(layers: list[UnitLayer]) -> None:
    """Each consumer's input width must be a multiple of the producer's units (conv -> FC flattens C*H*W)."""
    for layer in layers:
        fan_in = int(layer.next_module.weight.shape[1])
        if fan_in % layer.size:
            raise InvalidParams(
                f"{layer.next_name} reads {fan_in} inputs, not a multiple of {layer.name}'s {layer.size} units.",
                "Unit pruning supports plain conv/FC chains only.",
            )


def outgoing(layer: UnitLayer) -> torch.Tensor:
    """The consumer's weight viewed as (out, units, rest): conv->conv kernels, conv->FC H*W blocks, FC columns."""
    weight = layer.next_module.weight
    return weight.reshape(weight.shape[0], layer.size, -1)


def saliency(layer: UnitLayer) -> torch.Tensor:
    """L1 of each unit's incoming weights plus L1 of its outgoing weights (METHODS B2)."""
    with torch.no_grad():
        incoming = layer.module.weight.abs().flatten(1).sum(1)
        return incoming + outgoing(layer).abs().sum((0, 2))


def lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Keep vector (bool, True = keep) dropping the `count` lowest scores (ties: lower index first)."""
    keep = torch.ones(len(scores), dtype=torch.bool)
    order = torch.argsort(scores.detach().cpu(), stable=True)
    keep[order[:count]] = False
    return keep


def unit_masks(model: nn.Module, keep: Mapping[str, torch.Tensor], keep_bn: bool = False) -> Tensors:
    """Parameter masks for per-layer unit keep vectors {layer name: bool[n_units]} (missing layers: all kept)."""
    params = dict(model.named_parameters())
    masks: Tensors = {}
    for layer in unit_layers(model):
        alive = keep.get(layer.name)
        if alive is None:
            continue
        alive = alive.to("cpu", torch.bool)
        w = params[f"{layer.name}.weight"]
        rows = alive.view(-1, *([1] * (w.dim() - 1))).expand(w.shape)
        masks[f"{layer.name}.weight"] = merge(masks.get(f"{layer.name}.weight"), rows)
        names = [f"{layer.name}.bias"] + (
            [] if keep_bn or layer.bn_name is None else [f"{layer.bn_name}.weight", f"{layer.bn_name}.bias"]
        )
        masks.update({n: alive.clone() for n in names if n in params})
        nxt = params[f"{layer.next_name}.weight"]
        cols = alive.view(1, -1, 1).expand(nxt.shape[0], layer.size, nxt[0].numel() // layer.size)
        masks[f"{layer.next_name}.weight"] = merge(masks.get(f"{layer.next_name}.weight"), cols.reshape(nxt.shape))
    return masks


def merge(old: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
    """AND of two masks (None = keep all)."""
    return new.clone() if old is None else old & new


def combine(*mask_sets: Mapping[str, torch.Tensor]) -> Tensors:
    """AND of several parameter-mask dicts."""
    out: Tensors = {}
    for masks in mask_sets:
        for name, mask in masks.items():
            out[name] = merge(out.get(name), mask.to("cpu", torch.bool))
    return out


def kept_units(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per hidden layer, which units are alive: some incoming weight kept (no mask = all alive)."""
    out = {}
    for layer in unit_layers(model):
        mask = masks.get(f"{layer.name}.weight")
        out[layer.name] = torch.ones(layer.size, dtype=torch.bool) if mask is None else mask.flatten(1).any(1).cpu()
    return out


def unit_counts(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, int]]:
    """{layer: (kept units, total units)} over the hidden layers."""
    return {name: (int(k.sum()), len(k)) for name, k in kept_units(model, masks).items()}


def weight_density(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> float:
    """Kept fraction of the Conv/Linear weight entries (biases and BN excluded)."""
    layers = prunable(model).prunable_layers()
    total = sum(m.weight.numel() for _, m in layers)
    kept = sum(int(masks[f"{n}.weight"].sum()) if f"{n}.weight" in masks else m.weight.numel() for n, m in layers)
    return kept / max(1, total)


def apply_unit_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero the masked entries in place (weights, biases, BN scale and shift)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].device, params[name].dtype))
