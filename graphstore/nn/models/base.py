"""Shared model pieces: the prunable-model contract, named conv/FC stacks, and input-fit checks.

Layer names are flat and stable (conv1, bn1, relu1, pool1, ..., flatten, fc1, relu_fc1, ..., out), so masks
and extraction code address weights as "conv1.weight", "fc2.weight", "out.weight".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.errors import InvalidParams, ModelDoesNotFit

POOL = "M"
PRUNABLE = (nn.Conv2d, nn.Linear)
PrunableLayer = nn.Conv2d | nn.Linear  # what prunable_layers() yields: layers whose `weight` is a Tensor


class PrunableMixin:
    """The model contract used by pruning and extraction: ordered prunable layers and hidden-neuron count."""

    def prunable_layers(self) -> list[tuple[str, PrunableLayer]]:
        """(name, layer) of every Conv2d/Linear in forward order; the output layer is last."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, PRUNABLE)]  # type: ignore[attr-defined]

    def hidden_neurons(self) -> int:
        """Conv channels plus FC units over all prunable layers except the output layer."""
        return sum(units(m) for _, m in self.prunable_layers()[:-1])

    def output_layer(self) -> tuple[str, PrunableLayer]:
        """(name, layer) of the output layer."""
        return self.prunable_layers()[-1]


def prunable(model: nn.Module) -> PrunableMixin:
    """A model built by build_model, typed as the prunable-model contract (nn.Module types attributes as Tensor)."""
    return cast(PrunableMixin, model)


def units(layer: nn.Module) -> int:
    """Output channels of a conv, output features of a linear layer."""
    return layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features  # type: ignore[return-value]


class SequentialNet(PrunableMixin, nn.Sequential):
    """A flat, named nn.Sequential honouring the prunable-model contract."""

    def __init__(self, layers: Sequence[tuple[str, nn.Module]]) -> None:
        super().__init__(OrderedDict(layers))


def conv_stack(
    in_channels: int, plan: Sequence[int | str], batch_norm: bool, removed: Sequence[int] = ()
) -> tuple[list, int]:
    """conv3x3(pad 1) [+BN] + ReLU per int in `plan`, maxpool 2 per "M"; -> (named layers, out channels).

    `removed` lists 1-based conv numbers left out (layer pruning, docs/METHODS.md B4): the next kept conv takes the
    previous kept layer's channels, pools stay, and kept layers keep their names (conv1, conv2, conv4, ...).
    """
    check_removed(removed, sum(step != POOL for step in plan))
    layers: list[tuple[str, nn.Module]] = []
    channels, conv, pool = in_channels, 0, 0
    for step in plan:
        if step == POOL:
            pool += 1
            layers.append((f"pool{pool}", nn.MaxPool2d(2)))
            continue
        conv += 1
        if conv in removed:
            continue
        layers.append((f"conv{conv}", nn.Conv2d(channels, int(step), 3, padding=1, bias=not batch_norm)))
        if batch_norm:
            layers.append((f"bn{conv}", nn.BatchNorm2d(int(step))))
        layers.append((f"relu{conv}", nn.ReLU(inplace=True)))
        channels = int(step)
    return layers, channels


def check_removed(removed: Sequence[int], convs: int) -> None:
    """Removed conv numbers must exist, and at least one conv must stay."""
    bad = sorted(set(removed) - set(range(1, convs + 1)))
    if bad or len(set(removed)) >= convs:
        raise InvalidParams(
            f"removed_convs={','.join(map(str, removed))} is not valid for a model with {convs} conv layers.",
            f"Give conv numbers between 1 and {convs} and keep at least one conv layer.",
        )


def fc_stack(in_features: int, hidden: Sequence[int], out: int, dropout: float = 0.0) -> list:
    """Flatten, then Linear + ReLU (+ dropout) per hidden size, then the output layer named "out"."""
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    for i, size in enumerate(hidden, start=1):
        layers += [(f"fc{i}", nn.Linear(in_features, size)), (f"relu_fc{i}", nn.ReLU(inplace=True))]
        if dropout > 0:
            layers.append((f"drop{i}", nn.Dropout(dropout)))
        in_features = size
    return layers + [("out", nn.Linear(in_features, out))]


def require_image(info: DataInfo, model: str, pools: int) -> tuple[int, int, int]:
    """(C, H, W) of images big enough for `pools` stride-2 pools; else ModelDoesNotFit says why."""
    if not info.is_image:
        raise ModelDoesNotFit(
            f"{model} needs image inputs (channels, height, width); {info.name} gives vectors of "
            f"{info.in_features} values.",
            "Use the mlp model for vector data such as boolean-modular.",
        )
    c, h, w = info.input_shape
    need = 2**pools
    if h < need or w < need:
        raise ModelDoesNotFit(
            f"{model} halves the image {pools} times and needs inputs of at least {need}x{need}; "
            f"{info.name} gives {h}x{w}.",
            "Use larger images (e.g. --data-opt size=32 for digits, or cifar10) or a model with fewer pools "
            "(small-cnn: 2, medium-cnn: 2, conv6: 3).",
        )
    return c, h, w


def pooled_features(channels: int, h: int, w: int, pools: int) -> int:
    """Flattened size after `pools` 2x2 max-pools of a (channels, h, w) map."""
    return channels * (h // 2**pools) * (w // 2**pools)


def plain_cnn(
    info: DataInfo,
    name: str,
    plan: Sequence[int | str],
    fc: Sequence[int],
    batch_norm: bool,
    removed: Sequence[int] = (),
    dropout: float = 0.0,
) -> SequentialNet:
    """A conv stack (3x3, pad 1, optional BN, ReLU, 2x2 pools) then an FC head: the plain CNNs of the registry."""
    pools = sum(1 for item in plan if item == POOL)
    c, h, w = require_image(info, name, pools=pools)
    convs, channels = conv_stack(c, plan, batch_norm, removed)
    return SequentialNet(convs + fc_stack(pooled_features(channels, h, w, pools), fc, info.num_classes, dropout))


def scaled(width: float, size: int) -> int:
    """A layer size times the width multiplier, at least 1."""
    return max(1, int(round(size * width)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def dummy_input(info: DataInfo, batch: int = 2) -> torch.Tensor:
    """A random batch of the dataset's input shape (for shape checks and smoke tests)."""
    return torch.randn(batch, *info.input_shape)
