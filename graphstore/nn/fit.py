"""Whether a dataset fits a model: the input shape it was built for and one output per class."""

from __future__ import annotations

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.errors import DataDoesNotFit
from graphstore.nn.models import ModelSpec


def check_data_fits(model: ModelSpec, data: DataInfo) -> None:
    """Refuse data whose input shape or class count differs from what the model was built for, naming the fix."""
    if tuple(data.input_shape) != tuple(model.input_shape):
        raise DataDoesNotFit(
            f"Dataset {data.name} gives inputs of shape {tuple(data.input_shape)}; the model "
            f"was built for {tuple(model.input_shape)}.",
            "Use the dataset the model was trained on (leave out --dataset), or set --data-opt "
            "(e.g. size=...) to match.",
        )
    if data.num_classes != model.num_classes:
        raise DataDoesNotFit(
            f"Dataset {data.name} has {data.num_classes} classes; the model has {model.num_classes} outputs.",
            "Use the dataset the model was trained on (leave out --dataset), or one with as many "
            "classes as the model's outputs.",
        )
