"""`mlp`: fully connected ReLU network with the hidden sizes given (flattens any input)."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import SequentialNet, fc_stack


@dataclass(frozen=True)
class Mlp:
    """Multilayer perceptron: Linear + ReLU per hidden size, then the output layer."""

    hidden: tuple[int, ...] = field(default=(256, 128), metadata={"help": "Hidden layer sizes, e.g. 24,24."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout after each hidden layer (0 = none)."})

    def __post_init__(self) -> None:
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}")


def build(params: Mlp, info: DataInfo) -> SequentialNet:
    """fc1..fcN (ReLU) then out; works on images (flattened) and vectors alike."""
    return SequentialNet(fc_stack(info.in_features, params.hidden, info.num_classes, params.dropout))


MODELS.register(ModelEntry("mlp", Mlp, build))
