"""`small-cnn`: conv32, conv64 (3x3, pad 1, BN, ReLU, maxpool 2 after each), FC 64, FC 32, out: 192 hidden."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import POOL, SequentialNet, plain_cnn

PLAN = (32, POOL, 64, POOL)
FC = (64, 32)


@dataclass(frozen=True)
class SmallCnn:
    """Two conv blocks (32, 64 channels) and FC 64, 32: 192 hidden neurons."""

    batch_norm: bool = field(default=True, metadata={"help": "BatchNorm after each convolution."})
    removed_convs: tuple[int, ...] = field(
        default=(), metadata={"help": "1-based conv layers left out (set by `graphstore prune layers`)."}
    )


def build(params: SmallCnn, info: DataInfo) -> SequentialNet:
    """Needs images of at least 4x4."""
    return plain_cnn(info, "small-cnn", PLAN, FC, params.batch_norm, params.removed_convs)


MODELS.register(ModelEntry("small-cnn", SmallCnn, build))
