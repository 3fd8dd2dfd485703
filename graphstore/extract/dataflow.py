"""Weight graphs of any traceable PyTorch model from its data flow (docs/METHODS.md C1a).

The unit map (graphstore.extract.dataflow_flow) says, per input column of every unit layer, which source units it
carries; this module turns it into the C1 graph: one WEIGHT edge per real (source unit, unit) pair, and the neuron
key layout (inputs, then the chosen layers in forward order) that every neuron-level graph of the model shares.
The public names of the tracing and flow modules stay importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from graphstore.extract.dataflow_budget import available_bytes, check_fits, planned_edges
from graphstore.extract.dataflow_flow import (
    KEEP_OPS,
    MIXING_OPS,
    MOVE_MODULES,
    MOVE_OPS,
    POOL_MODULES,
    POOL_OPS,
    REDUCE_OPS,
    Block,
    FlowInterpreter,
    UnitLayer,
    masked_weight,
    module_of,
    op_name,
    unit_map,
)
from graphstore.extract.dataflow_sources import (
    SourceSets,
    is_tensor,
    keep_along,
    nulls,
    pool_channels,
    reduce_dims,
    spread,
    union_broadcast,
)
from graphstore.extract.dataflow_trace import (
    CONV,
    UNIT_MODULES,
    LayerPatternError,
    LeafTracer,
    TraceFailed,
    UntraceableModel,
    choose_layers,
    trace,
    traced,
)
from graphstore.extract.weights import NORMS, NeuronLayout, add_classes
from graphstore.graph import Graph

__all__ = [
    "Block",
    "CONV",
    "DENSE_INCIDENCE",
    "FlowInterpreter",
    "KEEP_OPS",
    "LayerPatternError",
    "LeafTracer",
    "MIXING_OPS",
    "MOVE_MODULES",
    "MOVE_OPS",
    "POOL_MODULES",
    "POOL_OPS",
    "REDUCE_OPS",
    "SourceSets",
    "TraceFailed",
    "UNIT_MODULES",
    "UnitLayer",
    "UntraceableModel",
    "choose_layers",
    "chosen_units",
    "dataflow_weight_graph",
    "is_tensor",
    "keep_along",
    "layout_of",
    "masked_weight",
    "module_of",
    "nulls",
    "op_name",
    "pool_channels",
    "reduce_dims",
    "spread",
    "trace",
    "traced",
    "union_broadcast",
    "unit_layout",
    "unit_map",
]

DENSE_INCIDENCE = 4_000_000  # columns x sources up to which a block's incidence matrix is a dense array


def _aggregate(weight: np.ndarray, incidence: np.ndarray | sp.csr_matrix, norm: str) -> tuple[np.ndarray, ...]:
    """(signed, magnitude, present) per (row, source unit): kernel slices and same-source columns pooled."""

    def through(m: np.ndarray) -> np.ndarray:
        return np.asarray(m @ incidence)

    signed = through(weight.sum(axis=2))
    present = through((weight != 0).any(axis=2).astype(np.float64)) > 0
    if norm == "l1":
        magnitude = through(np.abs(weight).sum(axis=2))
    elif norm == "l2":
        magnitude = np.sqrt(through((weight**2).sum(axis=2)))
    elif norm == "sum":
        magnitude = np.abs(signed)
    elif norm == "maxabs":
        peak = np.abs(weight).max(axis=2)
        magnitude = np.stack(
            [peak[:, incidence[:, [s]].nonzero()[0]].max(axis=1) for s in range(incidence.shape[1])], axis=1
        ).reshape(peak.shape[0], -1)
    else:
        raise ValueError(f"Unknown conv norm {norm!r}; choose one of {', '.join(NORMS)}.")
    return signed, magnitude, present


def _block_edges(
    block: Block, sets: SourceSets, key_of: np.ndarray, row_keys: np.ndarray, norm: str
) -> tuple[list[np.ndarray], set[str]]:
    """[src, dst, w, abs_w] of one weight block (sources that are not nodes left out) and the layers left out."""
    members = [sets.sets[int(c)] for c in block.columns]
    cols = np.repeat(np.arange(len(members)), [len(u) for u in members])
    units = np.fromiter((u for m in members for u in m), dtype=np.int64, count=len(cols))
    keys = key_of[units] if len(units) else np.empty(0, np.int64)
    dropped = {sets.owner(int(u))[0] for u in units[keys < 0]}
    source_keys, source = np.unique(keys[keys >= 0], return_inverse=True)
    incidence = sp.csr_matrix((np.ones(len(source)), (cols[keys >= 0], source)), shape=(len(members), len(source_keys)))
    signed, magnitude, present = _aggregate(block.weight, incidence, norm)
    row, col = np.nonzero(present)
    return [source_keys[col], row_keys[block.rows][row], signed[row, col], magnitude[row, col]], dropped


def layout_of(layers: Sequence[UnitLayer], sets: SourceSets, class_names: Sequence[str] | None) -> NeuronLayout:
    """Keys of the input units, then each chosen layer's units in forward order (the last is the output)."""
    sizes = [sets.offsets[sets.names.index("input") + 1] - sets.offsets[sets.names.index("input")]]
    sizes += [layer.units for layer in layers]
    names = ["input", *(layer.name for layer in layers)]
    kinds = ["input", *(layer.kind for layer in layers)]
    if layers:
        kinds[-1] = "output"
    reps = np.asarray(sizes)
    index = np.concatenate([np.arange(s) for s in sizes]).astype(np.int64)
    layer_type = np.repeat(np.asarray(kinds, dtype=object), reps)
    class_name = np.full(len(index), None, dtype=object)
    if class_names is not None and layers:
        if len(class_names) != layers[-1].units:
            raise LayerPatternError(
                f"{len(class_names)} class names for the {layers[-1].units} units of {layers[-1].name}, the last "
                "chosen layer.",
                "Pass class names only when layers= ends with the output layer.",
            )
        out = layer_type == "output"
        class_name[out] = np.asarray(list(class_names), dtype=object)[index[out]]
    layer_index = np.repeat(np.arange(-1, len(layers)), reps).astype(np.int64)
    names_col = np.repeat(np.asarray(names, dtype=object), reps)
    return NeuronLayout(
        np.arange(len(index), dtype=np.int64), names_col, layer_index, index, layer_type, class_name, sizes[0]
    )


def chosen_units(
    model: nn.Module,
    example_input: torch.Tensor,
    layers: Sequence[str] | None = None,
    masks: dict[str, torch.Tensor] | None = None,
) -> tuple[list[UnitLayer], FlowInterpreter]:
    """The unit layers `layers` names (all when None) in forward order, and the flow that mapped them."""
    all_layers, flow = unit_map(model, example_input, masks, layers)
    units = [layer for layer in all_layers if layer.kind != "opaque"]
    chosen_names = set(choose_layers([layer.name for layer in units], layers))
    return [layer for layer in units if layer.name in chosen_names], flow


def unit_layout(
    model: nn.Module,
    example_input: torch.Tensor,
    layers: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> NeuronLayout:
    """The neuron keys dataflow_weight_graph gives the same model and `layers` (so every neuron-level graph of the
    model, weights or co-activation, names a unit by the same key)."""
    chosen, flow = chosen_units(model, example_input, layers)
    return layout_of(chosen, flow.sets, class_names)


def dataflow_weight_graph(
    model: nn.Module,
    example_input: torch.Tensor,
    layers: Sequence[str] | None = None,
    conv_norm: str = "l1",
    *,
    masks: dict[str, torch.Tensor] | None = None,
    class_names: Sequence[str] | None = None,
    include_inputs: bool = True,
    graph_id: str = "weights",
) -> Graph:
    """The weight graph of any traceable model: WEIGHT edges from each real source unit, one per surviving weight
    (Linear) or per connected (in-channel, out-channel) pair (conv), following the model's data flow."""
    if conv_norm not in NORMS:
        raise LayerPatternError(f"Unknown conv norm {conv_norm!r}.", f"Choose one of {', '.join(NORMS)}.")
    chosen, flow = chosen_units(model, example_input, layers, masks)
    sets = flow.sets
    layout = layout_of(chosen, sets, class_names)
    key_of = np.full(sets.offsets[-1], -1, dtype=np.int64)
    for name in ["input", *(layer.name for layer in chosen)]:
        if name == "input" and not include_inputs:
            continue
        start = sets.offsets[sets.names.index(name)]
        keys = layout.layer_keys(name)
        key_of[start : start + len(keys)] = keys
    check_fits(planned_edges(chosen, sets, key_of >= 0), available_bytes())
    parts: list[list[np.ndarray]] = []
    unlinked: dict[str, list[str]] = {}
    for layer in chosen:
        row_keys = layout.layer_keys(layer.name)
        for block in layer.blocks:
            edges, dropped = _block_edges(block, sets, key_of, row_keys, conv_norm)
            parts.append(edges)
            if dropped - {"input"}:
                unlinked[layer.name] = sorted(set(unlinked.get(layer.name, [])) | (dropped - {"input"}))
    graph = Graph(graph_id, "weights")
    rows = np.ones(len(layout.keys), bool) if include_inputs else layout.layer_type != "input"
    graph.add_nodes("Neuron", layout.keys[rows], **layout.props(rows))
    src, dst, w, abs_w = (np.concatenate([p[i] for p in parts]) if parts else np.empty(0) for i in range(4))
    graph.add_edges("WEIGHT", "Neuron", "Neuron", src.astype(np.int64), dst.astype(np.int64), w=w, abs_w=abs_w)
    if class_names is not None and chosen:
        out = layout.layer_type == "output"
        add_classes(graph, layout, layout.keys[out], layout.index[out], class_names)
    graph.params = {
        "method": "dataflow",
        "conv_norm": conv_norm,
        "include_inputs": include_inputs,
        "layers": list(layers) if layers else None,
        "unit_layers": [layer.name for layer in chosen],
        "unlinked": unlinked,
        "opaque": flow.opaque_steps,
        "absent_weights": int(sum(int((b.weight == 0).sum()) for layer in chosen for b in layer.blocks)),
    }
    return graph
