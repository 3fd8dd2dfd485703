"""`synflow-conv`: 004's MNIST CNN (App. D Table 3, SynFlow's `conv`): 3x3 convs, pad 1, ReLU, no pooling, one dense.

Two 32-filter convolutions by default; on 28 x 28 MNIST the dense layer maps 32 x 28 x 28 = 25,088 features to
the classes, so 004 App. E's ratios (4.19251 per conv, 9.99641 dense, 9.31005 for the model) apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import SequentialNet, plain_cnn


@dataclass(frozen=True)
class SynflowConv:
    """3x3 padded convs (32, 32 filters) with ReLU, then one dense layer from the full-size maps to the classes."""

    filters: tuple[int, ...] = field(default=(32, 32), metadata={"help": "Filters per conv layer, e.g. 32,32."})
    batch_norm: bool = field(default=False, metadata={"help": "BatchNorm after each convolution (004: none)."})

    def __post_init__(self) -> None:
        if not self.filters or any(f < 1 for f in self.filters):
            raise ValueError(f"filters must be one or more positive counts, got {self.filters}")


def build(params: SynflowConv, info: DataInfo) -> SequentialNet:
    """conv1..convN (no pooling), flatten, out."""
    return plain_cnn(info, "synflow-conv", params.filters, (), params.batch_norm)


MODELS.register(ModelEntry("synflow-conv", SynflowConv, build))
