"""`gs.extract(model, data, kind, **params)`: one graph of any PyTorch model, without a checkpoint or a store (the
kinds `gs.ingest` and `graphstore ingest --model` store, too).

Each kind maps onto the extractor that serves any model: weights -> the data-flow weight graph (C1a), coactivation
and knn -> forward hooks (C1b, C2, C4), class-graph -> the class distances of the hooked latent (C5), multilayer ->
the patch networks of a plain conv chain (C3, graphstore.extract.model_multilayer). Parameters are checked per kind
before anything runs; an unknown one names the kind's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore import params as P
from graphstore.errors import IngestError, InvalidParams
from graphstore.extract.class_graph import ClassGraphParams, class_graph_from_latents
from graphstore.extract.dataflow import dataflow_weight_graph
from graphstore.extract.hooks import coactivation_graph_of, knn_graph_of, record_latent
from graphstore.extract.hooks_data import run_checked
from graphstore.extract.model_data import Data, example_input, labelled_classes, resolve_data
from graphstore.extract.model_multilayer import multilayer_of_model, require_chain
from graphstore.extract.multilayer import MultilayerParams
from graphstore.graph import Graph

Builder = Callable[[nn.Module, Any, str, dict[str, Any]], list[Graph]]
HOOK_OPTIONS = ("batch_size", "device", "limit")


@dataclass(frozen=True)
class Kind:
    """A graph kind of the API: its parameters (with defaults where the API sets one) and its builder."""

    name: str
    params: tuple[str, ...]
    build: Builder
    needs_labels: bool = True

    def check(self, given: dict[str, Any]) -> None:
        """InvalidParams for a parameter this kind does not take."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise InvalidParams(
                f"Graph kind {self.name} has no parameter {', '.join(unknown)}.",
                f"Its parameters: {', '.join(self.params)}.",
            )


class UnknownKind(IngestError):
    """A graph kind the API does not know."""


def checked_forward(model: nn.Module, x: torch.Tensor) -> None:
    """One forward in eval mode without gradients (batch norm takes one sample), a shape mismatch a DataError."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            run_checked(model, x)
    finally:
        model.train(was_training)


def _weights(model: nn.Module, data: Any, graph_id: str, p: dict[str, Any]) -> list[Graph]:
    x = example_input(data)
    checked_forward(model, x)
    names = p.pop("class_names", None)
    return [dataflow_weight_graph(model, x, p.pop("layers", None), class_names=names, graph_id=graph_id, **p)]


def _coactivation(model: nn.Module, data: Data, graph_id: str, p: dict[str, Any]) -> list[Graph]:
    return [coactivation_graph_of(model, data.source, p.pop("layers", None), graph_id=graph_id, **p)]


def _knn(model: nn.Module, data: Data, graph_id: str, p: dict[str, Any]) -> list[Graph]:
    return knn_graph_of(model, data.source, graph_id=graph_id, **p)


def _class_graph(model: nn.Module, data: Data, graph_id: str, p: dict[str, Any]) -> list[Graph]:
    hooks = {k: p.pop(k) for k in (*HOOK_OPTIONS, "latent") if k in p}
    names = p.pop("class_names", None)
    rec, source = record_latent(model, data.source, **hooks)
    classes = list(names) if names is not None else labelled_classes(data, rec.labels)
    params = P.from_mapping(ClassGraphParams, {**p, **{k: v for k, v in hooks.items() if k != "latent"}}, "class-graph")
    graph = class_graph_from_latents(graph_id, rec.values, rec.labels, classes, params)
    graph.params.update(method="hooks", split=None, latent=source)
    return [graph]


def _multilayer(model: nn.Module, data: Data, graph_id: str, p: dict[str, Any]) -> list[Graph]:
    names = p.pop("class_names", None) or data.class_names
    return [multilayer_of_model(model, data, P.from_mapping(MultilayerParams, p, "multilayer"), graph_id, names)]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "weights",
            ("layers", "conv_norm", "masks", "class_names", "include_inputs"),
            _weights,
            needs_labels=False,
        ),
        Kind(
            "coactivation",
            ("layers", "where", "threshold", "rescale", "class_names", "chunk", "sample_chunk", *HOOK_OPTIONS),
            _coactivation,
        ),
        Kind("knn", ("k", "metric", "latent", "approximate", *HOOK_OPTIONS), _knn),
        Kind(
            "class-graph",
            ("k", "class_k", "metric", "path", "latent", "approximate", "chunk", "class_names", *HOOK_OPTIONS),
            _class_graph,
        ),
        Kind(
            "multilayer",
            ("weight", "source", "arcs", "max_arcs", "degree_columns", "class_names", *HOOK_OPTIONS),
            _multilayer,
        ),
    )
}


def get_kind(name: str) -> Kind:
    """The API kind `name`; an unknown one names every kind."""
    kind = KINDS.get(str(name).strip().lower().replace("_", "-"))
    if kind is None:
        raise UnknownKind(f"Unknown graph kind {name!r}.", f"Choose one of: {', '.join(KINDS)}.")
    return kind


def check_model(model: Any) -> nn.Module:
    """The model, or IngestError when it is not a torch.nn.Module."""
    if not isinstance(model, nn.Module):
        raise IngestError(
            f"model is a {type(model).__name__}, not a torch.nn.Module.",
            "Pass the module itself (load a state dict into it first).",
        )
    return model


def build(
    model: nn.Module, data: Data | torch.Tensor, kind: Kind, graph_id: str, params: dict[str, Any]
) -> list[Graph]:
    """The kind's graphs (knn: one per k) of `model` over `data`, after the kind's own checks."""
    kind.check(params)
    if kind.name == "multilayer":
        require_chain(model)  # before any data is read
    if isinstance(data, torch.Tensor) and kind.needs_labels:
        raise IngestError(f"Graph kind {kind.name} needs labelled data, not one tensor.", "Pass a Dataset.")
    return kind.build(model, data, graph_id, dict(params))


def extract(
    model: nn.Module,
    data: Any,
    kind: str,
    *,
    graph_id: str | None = None,
    split: str = "test",
    data_dir: str | Path | None = None,
    **params: Any,
) -> Graph:
    """One graph of kind weights, coactivation, knn (one k), class-graph or multilayer from any `model` over
    `data` (a Dataset / DataLoader of (input, label) pairs, a registry dataset name, or for weights one input
    tensor). `layers=` names modules or globs; `latent=` the embedding's module (`input:NAME` for its input)."""
    spec = get_kind(kind)
    check_model(model)
    if spec.name == "knn" and not isinstance(params.get("k", 8), int):
        raise InvalidParams(
            f"extract makes one graph; k={params['k']!r} asks for several.",
            "Pass one k (e.g. k=8), or call gs.ingest, which stores one knn graph per k.",
        )
    params = {"k": 8, **params} if spec.name == "knn" else params
    source = data if isinstance(data, torch.Tensor) else resolve_data(data, split=split, data_dir=data_dir)
    graphs = build(model, source, spec, graph_id or spec.name, params)
    return graphs[0]
