"""`vgg16-plain`: VGG-16 configuration D without BatchNorm (001's net), initialised as torchvision's VGG.

With PyTorch's default init (uniform, variance 1 / (3 fan_in), random biases) 13 plain convs pass almost nothing
but their biases: relu13's output moves 1e-4 (relative) when the input moves by half its scale, so the net learns
nothing in a few epochs and every class sees the same deep maps. torchvision's VGG init (Kaiming normal, fan_out,
ReLU gain; zero biases; FC weights N(0, 0.01)) gives 0.19 there. Same layers, options and parameter count as
`vgg16 batch_norm=false`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import SequentialNet
from graphstore.nn.models.vgg16 import Vgg16
from graphstore.nn.models.vgg16 import build as build_vgg16


@dataclass(frozen=True)
class Vgg16Plain:
    """VGG-16 (configuration D) without BatchNorm, torchvision's init; width < 1 shrinks every layer for CPU runs."""

    width: float = field(default=1.0, metadata={"help": "Width multiplier for all conv channels and FC units."})
    dropout: float = field(default=0.5, metadata={"help": "Dropout after each hidden FC layer (0 = none)."})
    removed_convs: tuple[int, ...] = field(
        default=(), metadata={"help": "1-based conv layers left out (set by `graphstore prune layers`)."}
    )
    resize: int = field(
        default=0,
        metadata={"help": "Resize images bilinearly to resize x resize first (0 = as given; 001: 32 for MNIST)."},
    )

    def __post_init__(self) -> None:
        Vgg16(width=self.width, resize=self.resize)  # the same checks


def init_like_torchvision(net: nn.Module) -> None:
    """Kaiming normal (fan_out, ReLU) convs and zero biases; FC weights N(0, 0.01) and zero biases."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
        if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def build(params: Vgg16Plain, info: DataInfo) -> SequentialNet:
    """vgg16 with batch_norm=false, then torchvision's init (the caller's torch seed decides the draw)."""
    net = build_vgg16(
        Vgg16(params.width, False, params.dropout, params.removed_convs, params.resize),
        info,
    )
    init_like_torchvision(net)
    return net


MODELS.register(ModelEntry("vgg16-plain", Vgg16Plain, build))
