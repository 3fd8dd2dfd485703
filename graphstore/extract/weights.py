"""The weight graph (METHODS.md C1): neurons as nodes, weights as WEIGHT edges; masked weights are absent.

Linear layers give one edge per weight; a convolution gives one edge per (in-channel, out-channel) whose
`abs_w` is a norm of the kernel slice (L1 by default) and whose signed `w` is the slice's sum. A Linear after a
flatten groups its input columns by channel (PyTorch flattens channel-major).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from graphstore.graph import Graph

NORMS = ("l1", "l2", "sum", "maxabs")


@dataclass
class WeightGraphParams:
    """Parameters of the weight graph."""

    conv_norm: str = field(default="l1", metadata={"help": "Norm of a conv kernel slice: l1, l2, sum or maxabs."})
    include_inputs: bool = field(default=True, metadata={"help": "Add input features/channels as nodes."})


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


def _layer_matrices(module: nn.Module, mask: torch.Tensor | None, in_units: int, norm: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signed, magnitude, present) matrices of shape (out, in_units) for one Conv2d or Linear layer."""
    weight = module.weight.detach().cpu().numpy().astype(np.float64)
    present = np.ones_like(weight, dtype=bool) if mask is None else mask.detach().cpu().numpy().astype(bool)
    weight = np.where(present, weight, 0.0)
    out_units = weight.shape[0]
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
    return weight.sum(axis=axes), _slice_norm(weight, norm, axes), present.any(axis=axes)


def weight_graph(graph_id: str, layers: Sequence[tuple[str, nn.Module]], masks: dict[str, torch.Tensor] | None = None,
                 class_names: Sequence[str] | None = None, params: WeightGraphParams | None = None) -> Graph:
    """Build the weight graph of an ordered list of (name, Conv2d | Linear) layers; the last one is the output."""
    params = params or WeightGraphParams()
    masks = masks or {}
    graph = Graph(graph_id, "weights", params={"conv_norm": params.conv_norm, "include_inputs": params.include_inputs})
    first = layers[0][1]
    in_units = first.weight.shape[1]
    prev_keys = np.arange(in_units, dtype=np.int64)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("keys", "layer", "layer_index", "index", "layer_type")}
    edges: dict[str, list[np.ndarray]] = {k: [] for k in ("src", "dst", "w", "abs_w")}
    if params.include_inputs:
        _add_units(columns, prev_keys, "input", -1, "input")
    next_key = in_units
    for position, (name, module) in enumerate(layers):
        signed, magnitude, present = _layer_matrices(module, masks.get(name), len(prev_keys), params.conv_norm)
        keys = np.arange(next_key, next_key + signed.shape[0], dtype=np.int64)
        next_key += len(keys)
        is_output = position == len(layers) - 1
        kind = "output" if is_output else ("conv" if isinstance(module, nn.Conv2d) else "linear")
        _add_units(columns, keys, name, position, kind)
        if params.include_inputs or position > 0:
            out_idx, in_idx = np.nonzero(present)
            edges["src"].append(prev_keys[in_idx])
            edges["dst"].append(keys[out_idx])
            edges["w"].append(signed[out_idx, in_idx])
            edges["abs_w"].append(magnitude[out_idx, in_idx])
        prev_keys = keys
    props = {k: np.concatenate(v) for k, v in columns.items() if k != "keys"}
    names = np.full(len(props["index"]), None, dtype=object)
    if class_names is not None:
        out_rows = props["layer_type"] == "output"
        names[out_rows] = np.asarray(list(class_names), dtype=object)[props["index"][out_rows]]
    props["class_name"] = names
    graph.add_nodes("Neuron", np.concatenate(columns["keys"]), **props)
    graph.add_edges("WEIGHT", "Neuron", "Neuron", *(np.concatenate(edges[k]) for k in ("src", "dst")),
                    w=np.concatenate(edges["w"]), abs_w=np.concatenate(edges["abs_w"]))
    return graph


def _add_units(columns: dict[str, list[np.ndarray]], keys: np.ndarray, layer: str, position: int, kind: str) -> None:
    n = len(keys)
    columns["keys"].append(keys)
    columns["layer"].append(np.full(n, layer, dtype=object))
    columns["layer_index"].append(np.full(n, position, dtype=np.int64))
    columns["index"].append(np.arange(n, dtype=np.int64))
    columns["layer_type"].append(np.full(n, kind, dtype=object))
