"""The weight graph (docs/METHODS.md C1): neurons as nodes, weights as WEIGHT edges; masked weights are absent.

Linear layers give one edge per weight; a convolution gives one edge per (in-channel, out-channel) whose
`abs_w` is a norm of the kernel slice (L1 by default) and whose signed `w` is the slice's sum. A Linear after a
flatten groups its input columns by channel (PyTorch flattens channel-major). Output units carry their class
name and link to :Class nodes by REPRESENTS.

Node keys follow one layout shared by every neuron-level graph of a checkpoint (weights, coactivation): inputs
0..I-1, then each layer's units in forward order, then one :Class node per class, so the same neuron has the
same key in every graph extracted from the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from graphstore.extract.registry import KINDS, GraphKind
from graphstore.graph import Graph, NodeTable
from graphstore.nn.models.base import prunable

if TYPE_CHECKING:
    from graphstore.nn.checkpoint import Checkpoint
    from graphstore.nn.datasets.base import LoadedDataset

NORMS = ("l1", "l2", "sum", "maxabs")


@dataclass
class WeightGraphParams:
    """Parameters of the weight graph."""

    conv_norm: str = field(
        default="l1", metadata={"help": "Norm of a conv kernel slice: l1, l2, sum or maxabs.", "choices": NORMS}
    )
    include_inputs: bool = field(default=True, metadata={"help": "Add input features/channels as nodes."})


@dataclass
class NeuronLayout:
    """Keys and properties of every unit of a model's prunable layers (inputs first, outputs last)."""

    keys: np.ndarray
    layer: np.ndarray
    layer_index: np.ndarray
    index: np.ndarray
    layer_type: np.ndarray
    class_name: np.ndarray
    in_units: int

    def props(self, rows: np.ndarray | slice = slice(None)) -> dict[str, np.ndarray]:
        """Node properties of the chosen rows."""
        return {k: getattr(self, k)[rows] for k in ("layer", "layer_index", "index", "layer_type", "class_name")}

    def layer_keys(self, name: str) -> np.ndarray:
        """Keys of one layer's units."""
        return self.keys[self.layer == name]

    @property
    def next_key(self) -> int:
        """The first key after every neuron (where :Class nodes start)."""
        return int(self.keys[-1]) + 1


def unit_count(module: nn.Module) -> int:
    """Output channels of a conv, output features of a linear layer."""
    return int(cast(torch.Tensor, module.weight).shape[0])


def neuron_layout(layers: Sequence[tuple[str, nn.Module]], class_names: Sequence[str] | None = None) -> NeuronLayout:
    """The key layout of inputs and units; output units get class names."""
    in_units = int(cast(torch.Tensor, layers[0][1].weight).shape[1])
    sizes = [in_units] + [unit_count(m) for _, m in layers]
    names = ["input"] + [n for n, _ in layers]
    kinds = ["input"] + [
        "output" if i == len(layers) - 1 else ("conv" if isinstance(m, nn.Conv2d) else "linear")
        for i, (_, m) in enumerate(layers)
    ]
    reps = np.asarray(sizes)
    index = np.concatenate([np.arange(s) for s in sizes]).astype(np.int64)
    layer_type = np.repeat(np.asarray(kinds, dtype=object), reps)
    class_name = np.full(len(index), None, dtype=object)
    if class_names is not None:
        out = layer_type == "output"
        class_name[out] = np.asarray(list(class_names), dtype=object)[index[out]]
    return NeuronLayout(
        np.arange(len(index), dtype=np.int64),
        np.repeat(np.asarray(names, dtype=object), reps),
        np.repeat(np.arange(-1, len(layers)), reps).astype(np.int64),
        index,
        layer_type,
        class_name,
        in_units,
    )


def add_classes(
    graph: Graph, layout: NeuronLayout, out_keys: np.ndarray, out_index: np.ndarray, class_names: Sequence[str]
) -> None:
    """:Class nodes (label, name) and REPRESENTS edges from the given output neurons."""
    class_keys = layout.next_key + np.arange(len(class_names), dtype=np.int64)
    add_class_nodes(
        graph,
        class_keys,
        label=np.arange(len(class_names), dtype=np.int64),
        name=np.asarray(list(class_names), dtype=object),
    )
    graph.add_edges("REPRESENTS", "Neuron", "Class", out_keys, class_keys[out_index])


def add_class_nodes(graph: Graph, keys: np.ndarray, **props: np.ndarray) -> None:
    """:Class nodes; their `label` property clashes with add_nodes' first argument, so build the table directly."""
    graph.nodes["Class"] = NodeTable("Class", np.asarray(keys, dtype=np.int64), dict(props))


def _slice_norm(block: np.ndarray, norm: str, axis: tuple[int, ...]) -> np.ndarray:
    """Reduce kernel slices (or flatten groups) to one magnitude per edge."""
    if norm == "l1":
        return np.abs(block).sum(axis=axis)
    if norm == "l2":
        return np.sqrt((block**2).sum(axis=axis))
    if norm == "sum":
        return np.abs(block.sum(axis=axis))
    if norm == "maxabs":
        return np.abs(block).max(axis=axis)
    raise ValueError(f"Unknown conv norm {norm!r}; choose one of {', '.join(NORMS)}.")


def _layer_matrices(
    module: nn.Module, mask: torch.Tensor | None, in_units: int, norm: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signed, magnitude, present) matrices of shape (out, in_units) for one Conv2d or Linear layer."""
    weight = cast(torch.Tensor, module.weight).detach().cpu().numpy().astype(np.float64)
    present = np.ones_like(weight, dtype=bool) if mask is None else mask.detach().cpu().numpy().astype(bool)
    weight = np.where(present, weight, 0.0)
    out_units = weight.shape[0]
    axes: tuple[int, ...]
    if isinstance(module, nn.Conv2d):
        axes = (2, 3)
    elif weight.shape[1] == in_units:
        return weight, np.abs(weight), present
    else:
        if weight.shape[1] % in_units:
            raise ValueError(f"Linear layer with {weight.shape[1]} inputs does not follow {in_units} channels.")
        weight = weight.reshape(out_units, in_units, -1)
        present = present.reshape(out_units, in_units, -1)
        axes = (2,)
    return weight.sum(axis=axes), _slice_norm(weight, norm, axes), cast(np.ndarray, present.any(axis=axes))


def _mask_of(masks: dict[str, torch.Tensor], name: str) -> torch.Tensor | None:
    """The mask of a layer's weight: keyed by parameter name ("conv1.weight"), or by layer name."""
    return masks.get(f"{name}.weight", masks.get(name))


def weight_graph(
    graph_id: str,
    layers: Sequence[tuple[str, nn.Module]],
    masks: dict[str, torch.Tensor] | None = None,
    class_names: Sequence[str] | None = None,
    params: WeightGraphParams | None = None,
) -> Graph:
    """Build the weight graph of an ordered list of (name, Conv2d | Linear) layers; the last one is the output."""
    params = params or WeightGraphParams()
    masks = masks or {}
    graph = Graph(graph_id, "weights", params=asdict(params))
    layout = neuron_layout(layers, class_names)
    prev_keys = layout.layer_keys("input")
    edges: dict[str, list[np.ndarray]] = {k: [] for k in ("src", "dst", "w", "abs_w")}
    for position, (name, module) in enumerate(layers):
        signed, magnitude, present = _layer_matrices(module, _mask_of(masks, name), len(prev_keys), params.conv_norm)
        keys = layout.layer_keys(name)
        if params.include_inputs or position > 0:
            out_idx, in_idx = np.nonzero(present)
            edges["src"].append(prev_keys[in_idx])
            edges["dst"].append(keys[out_idx])
            edges["w"].append(signed[out_idx, in_idx])
            edges["abs_w"].append(magnitude[out_idx, in_idx])
        prev_keys = keys
    rows = np.ones(len(layout.keys), bool) if params.include_inputs else layout.layer_type != "input"
    graph.add_nodes("Neuron", layout.keys[rows], **layout.props(rows))
    src, dst = np.concatenate(edges["src"]), np.concatenate(edges["dst"])
    graph.add_edges(
        "WEIGHT", "Neuron", "Neuron", src, dst, w=np.concatenate(edges["w"]), abs_w=np.concatenate(edges["abs_w"])
    )
    if class_names is not None:
        out = layout.layer_type == "output"
        add_classes(graph, layout, layout.keys[out], layout.index[out], class_names)
    graph.params["masked_weights"] = int(sum(int((~m).sum()) for m in masks.values()))
    return graph


def weights_from_checkpoint(
    checkpoint: Checkpoint, data: LoadedDataset | None, params: WeightGraphParams, graph_id: str
) -> Graph:
    """Neuron graph of the weights (masked weights absent, signed w and abs_w)."""
    model = checkpoint.build_model()
    layers = prunable(model).prunable_layers()
    return weight_graph(graph_id, layers, checkpoint.masks, checkpoint.data_info.class_names, params)


KINDS.register(GraphKind("weights", WeightGraphParams, weights_from_checkpoint, needs_data=False))
