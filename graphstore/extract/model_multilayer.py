"""The multilayer patch networks (001, docs/METHODS.md C3) of a model given in Python: only for plain conv chains.

001's arcs join each conv layer's positions to the next conv's window, which presumes one chain of convs and pools.
An `nn.Sequential` (graphstore's CNNs are ones) is such a chain by construction when every module in it is a leaf
or another Sequential: each module reads only the one before it. Any other model (residual blocks, branches, a
custom forward) is refused with the kinds that do apply; its convs' module order says nothing about its data flow.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch
from torch import nn

from graphstore.extract.feature_maps import conv_geometry, record_class_maps
from graphstore.extract.hooks_data import DataError, batches_of, first_batch
from graphstore.extract.model_data import Data, labelled_classes
from graphstore.extract.multilayer import (
    WEIGHTS,
    MultilayerParams,
    check_arc_budget,
    compute_multilayer,
    multilayer_graph,
    node_weights,
)
from graphstore.extract.registry import KindDoesNotApply
from graphstore.graph import Graph

OTHER_KINDS = "weights, coactivation, knn and class-graph"


def why_not_chain(model: nn.Module) -> str | None:
    """Why multilayer does not apply to `model` (None = a plain Sequential conv chain)."""
    if not isinstance(model, nn.Sequential):
        return f"{type(model).__name__} is not a torch.nn.Sequential, so its convs need not form one chain"
    for name, module in model.named_modules():
        if module is not model and not isinstance(module, nn.Sequential) and any(module.children()):
            return f"its module {name} ({type(module).__name__}) has submodules and a forward of its own"
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return "it has no Conv2d layer"
    return None


def require_chain(model: nn.Module) -> None:
    """KindDoesNotApply naming the reason and what multilayer supports."""
    reason = why_not_chain(model)
    if reason is not None:
        raise KindDoesNotApply(
            f"The multilayer graph does not apply to this model: {reason}.",
            "multilayer supports graphstore's CNNs and a plain torch.nn.Sequential of Conv2d, pooling, "
            f"normalisation and activation layers; for this model use {OTHER_KINDS}.",
        )


def labelled_batches(data: Data, batch_size: int, limit: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Checked (input, label) batches, at most `limit` samples (0 = all)."""
    loader, n = batches_of(data.source, batch_size, limit or None)
    seen = 0
    for x, y in first_batch(loader):
        take = min(len(x), n - seen)
        if take <= 0:
            return
        yield x[:take], y[:take]
        seen += take


def multilayer_of_model(
    model: nn.Module, data: Data, params: MultilayerParams, graph_id: str, class_names: Sequence[str] | None = None
) -> Graph:
    """Per-class patch networks of a plain conv chain over `data`, with delta on every Patch node (as ingest's)."""
    require_chain(model)
    model.to(params.device)
    if class_names is None:
        labels = torch.cat([y for _, y in labelled_batches(data, params.batch_size, params.limit)])
        class_names = labelled_classes(data, labels)
    x0, _ = next(labelled_batches(data, 1, 1))
    shape = tuple(int(s) for s in x0.shape[1:])
    if params.arcs:
        check_arc_budget(conv_geometry(model, shape), len(class_names), params.max_arcs)
    full = params.arcs or params.weight == "median"
    try:
        maps = record_class_maps(
            model,
            labelled_batches(data, params.batch_size, params.limit),
            len(class_names),
            shape,
            activations=params.source == "activation",
            responses=params.source == "response",
            reduce_channels=not full,
        )
    except IndexError as exc:  # index_add_ of a label past the last class
        raise DataError(
            f"A label is outside the {len(class_names)} class names: {exc}", "Pass class_names= for every label."
        ) from exc
    ml = compute_multilayer(maps, params.weight, params.source)
    arc_weights = None
    if params.arcs:
        arc_weights = {w: ml.weights if w == params.weight else node_weights(maps, w, params.source) for w in WEIGHTS}
    graph = multilayer_graph(graph_id, ml, replace(params, split="data"), tuple(class_names), arc_weights)
    graph.params["images_per_class"] = [int(c) for c in maps.counts.tolist()]
    return graph
