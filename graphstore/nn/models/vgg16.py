"""`vgg16`: 13 padded 3x3 convs in 5 pooled blocks, FC 4096, 4096, out; a width multiplier scales all.

`resize=32` first resizes the images bilinearly to 32x32 inside the model, so 28x28 MNIST runs as 001's "32x32
MNIST" (batch_norm=false then gives 001's 33,637,066 parameters); the resize has no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from torch import nn

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import (
    POOL,
    SequentialNet,
    conv_stack,
    fc_stack,
    pooled_features,
    require_image,
    scaled,
)

PLAN = (64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL, 512, 512, 512, POOL, 512, 512, 512, POOL)
FC = (4096, 4096)


@dataclass(frozen=True)
class Vgg16:
    """VGG-16 (configuration D) with BatchNorm; width < 1 shrinks every conv and FC layer for CPU runs."""

    width: float = field(default=1.0, metadata={"help": "Width multiplier for all conv channels and FC units."})
    batch_norm: bool = field(default=True, metadata={"help": "BatchNorm after each convolution."})
    dropout: float = field(default=0.5, metadata={"help": "Dropout after each hidden FC layer (0 = none)."})
    removed_convs: tuple[int, ...] = field(
        default=(), metadata={"help": "1-based conv layers left out (set by `graphstore prune layers`)."}
    )

    resize: int = field(
        default=0,
        metadata={"help": "Resize images bilinearly to resize x resize first (0 = as given; 001: 32 for MNIST)."},
    )

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if self.resize < 0:
            raise ValueError(f"resize must be >= 0, got {self.resize}")


def build(params: Vgg16, info: DataInfo) -> SequentialNet:
    """Needs images of at least 32x32 (five 2x2 pools), or `resize` >= 32."""
    if params.resize:
        require_image(info, "vgg16", pools=0)
        info = replace(info, input_shape=(info.input_shape[0], params.resize, params.resize))
    c, h, w = require_image(info, "vgg16", pools=5)
    plan = [s if s == POOL else scaled(params.width, int(s)) for s in PLAN]
    convs, channels = conv_stack(c, plan, params.batch_norm, params.removed_convs)
    fc = [scaled(params.width, s) for s in FC]
    resize = [("resize", nn.Upsample(size=(h, w), mode="bilinear", align_corners=False))] if params.resize else []
    head = fc_stack(pooled_features(channels, h, w, 5), fc, info.num_classes, params.dropout)
    return SequentialNet(resize + convs + head)


MODELS.register(ModelEntry("vgg16", Vgg16, build))
