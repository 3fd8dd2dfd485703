"""`medium-cnn`: conv 64, 64, pool, 128, 128, pool (3x3, pad 1, BN, ReLU), FC 128, 64, out (576 hidden)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import POOL, SequentialNet, plain_cnn

PLAN = (64, 64, POOL, 128, 128, POOL)
FC = (128, 64)


@dataclass(frozen=True)
class MediumCnn:
    """Four convs (64, 64, 128, 128) in two pooled blocks and FC 128, 64: 576 hidden neurons."""

    batch_norm: bool = field(default=True, metadata={"help": "BatchNorm after each convolution."})
    removed_convs: tuple[int, ...] = field(
        default=(), metadata={"help": "1-based conv layers left out (set by `graphstore prune layers`)."}
    )


def build(params: MediumCnn, info: DataInfo) -> SequentialNet:
    """Needs images of at least 4x4."""
    return plain_cnn(info, "medium-cnn", PLAN, FC, params.batch_norm, params.removed_convs)


MODELS.register(ModelEntry("medium-cnn", MediumCnn, build))
