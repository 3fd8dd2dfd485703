"""Model registry: one module per model registers a parameter dataclass and a build function:

    MODELS.register(ModelEntry("small-cnn", SmallCnn, build))   # at the end of graphstore/nn/models/small_cnn.py

spec = model_spec("small-cnn", data.info)      # validated, JSON-serialisable
model = build_model(spec)                       # nn.Module with prunable_layers() / hidden_neurons()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, cast

from torch import nn

from graphstore import params as P
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.registry import Builder, builder_registry
from graphstore.registry import Registry

ModelBuilder = Callable[[Any, DataInfo], nn.Module]


@dataclass(frozen=True)
class ModelEntry(Builder[ModelBuilder]):
    """A registered model: name, parameter dataclass, `build(params, info) -> nn.Module`."""

    what: ClassVar[str] = "model"


MODELS: Registry[ModelEntry] = builder_registry("model", "graphstore.nn.models", "MODELS")


@dataclass(frozen=True)
class ModelSpec:
    """A model name, its parameters, and the data shape it was built for: enough to rebuild it anywhere."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()
    num_classes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "params": P.to_dict_any(self.params),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Inverse of to_dict."""
        return cls(
            str(data["name"]),
            dict(data.get("params") or {}),
            tuple(int(v) for v in data.get("input_shape", ())),
            int(data.get("num_classes", 0)),
        )

    def data_info(self) -> DataInfo:
        """A DataInfo with this spec's shape (class names are placeholders)."""
        return DataInfo("input", self.input_shape, tuple(str(i) for i in range(self.num_classes)))


def model_spec(name: str, info: DataInfo, params: Mapping[str, Any] | None = None) -> ModelSpec:
    """A validated spec (every parameter filled in) for `name` on data shaped like `info`."""
    entry = MODELS.get(name)
    values = P.to_dict(entry.make_params(params))
    return ModelSpec(entry.name, values, tuple(info.input_shape), info.num_classes)


def build_model(spec: ModelSpec, info: DataInfo | None = None) -> nn.Module:
    """Build the (freshly initialised) model of a spec; `spec` is attached as `model.spec`."""
    entry = MODELS.get(spec.name)
    model = entry.build(entry.make_params(spec.params), info or spec.data_info())
    model.spec = spec  # type: ignore[assignment]  # nn.Module types attributes as Tensor | Module
    return model


def spec_of(model: nn.Module) -> ModelSpec:
    """The ModelSpec build_model attached as `model.spec`, typed (nn.Module types attributes as Tensor | Module)."""
    return cast(ModelSpec, model.spec)


def conv_stack_models() -> list[str]:
    """Registered models that are plain conv/pool chains (they can be rebuilt without some convs: `removed_convs`)."""
    return [e.name for e in MODELS.entries() if "removed_convs" in {f.name for f in fields(e.params)}]


def make_model(name: str, info: DataInfo, params: Mapping[str, Any] | None = None) -> nn.Module:
    """Spec and build in one step: `make_model("small-cnn", data.info)`."""
    return build_model(model_spec(name, info, params), info)


def model_entry(name: str) -> ModelEntry:
    """The registry entry (parameter dataclass, summary) of a model."""
    return MODELS.get(name)


__all__ = ["MODELS", "ModelEntry", "ModelSpec", "build_model", "make_model", "model_entry", "model_spec", "spec_of"]
