"""`conv6` (lottery-ticket Conv-6): conv 64, 64, pool, 128, 128, pool, 256, 256, pool, FC 256, 256, out.

1408 hidden neurons.

All convolutions are padded (the thesis code's missing padding is a bug, docs/METHODS.md A). Like Frankle &
Carbin's Conv-6 it has no BatchNorm by default; `batch_norm=true` adds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import POOL, SequentialNet, plain_cnn

PLAN = (64, 64, POOL, 128, 128, POOL, 256, 256, POOL)
FC = (256, 256)


@dataclass(frozen=True)
class Conv6:
    """Six padded 3x3 convs in three pooled blocks and FC 256, 256: 1408 hidden neurons."""

    batch_norm: bool = field(default=False, metadata={"help": "BatchNorm after each convolution."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout after each hidden FC layer (0 = none)."})
    removed_convs: tuple[int, ...] = field(
        default=(), metadata={"help": "1-based conv layers left out (set by `graphstore prune layers`)."}
    )


def build(params: Conv6, info: DataInfo) -> SequentialNet:
    """Needs images of at least 8x8."""
    return plain_cnn(info, "conv6", PLAN, FC, params.batch_norm, params.removed_convs, params.dropout)


MODELS.register(ModelEntry("conv6", Conv6, build))
