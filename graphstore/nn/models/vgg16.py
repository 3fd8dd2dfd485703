"""`vgg16`: 13 padded 3x3 convs in 5 pooled blocks, FC 4096, 4096, out; a width multiplier scales all."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS
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

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"width must be positive, got {self.width}")


@MODELS.register("vgg16", Vgg16)
def build(params: Vgg16, info: DataInfo) -> SequentialNet:
    """Needs images of at least 32x32 (five 2x2 pools)."""
    c, h, w = require_image(info, "vgg16", pools=5)
    plan = [s if s == POOL else scaled(params.width, int(s)) for s in PLAN]
    convs, channels = conv_stack(c, plan, params.batch_norm, params.removed_convs)
    fc = [scaled(params.width, s) for s in FC]
    return SequentialNet(convs + fc_stack(pooled_features(channels, h, w, 5), fc, info.num_classes, params.dropout))
