"""Unit maps of any PyTorch model from its torch.fx data flow (docs/METHODS.md C1, "any architecture").

The model is traced with torch.fx and run once on an example input. Beside every real tensor the interpreter
carries an "id tensor" of the same shape whose entries name a set of source units (0 = no source): a unit layer
(Linear, Conv1d/2d/3d, the projections of nn.MultiheadAttention) starts fresh ids, one per output unit; arithmetic
unions its operands' sets element by element (a residual add, a squeeze-excitation gate); data movement (view,
flatten, permute, cat, getitem, pad...) moves the ids exactly as it moves the values; a reduction or pooling
unions what it reduces; norms, activations and dropout keep them. At each unit layer the sets of its input columns
(features, or channels pooled over positions) are its sources: the unit map.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from graphstore.extract.dataflow_sources import (
    SourceSets,
    carries_sources,
    is_tensor,
    keep_along,
    nulls,
    pool_channels,
    reduce_dims,
    spread,
    union_broadcast,
)
from graphstore.extract.dataflow_trace import CONV, UNIT_MODULES, UntraceableModel, traced

POOL_MODULES = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d, nn.LPPool2d,
)  # fmt: skip
MOVE_MODULES = (nn.Flatten, nn.Unflatten, nn.Identity, nn.ZeroPad2d, nn.ConstantPad2d, nn.PixelShuffle)
MOVE_OPS = {
    "view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "contiguous", "squeeze", "unsqueeze",
    "expand", "expand_as", "view_as", "reshape_as", "repeat", "cat", "concat", "concatenate", "stack", "getitem",
    "chunk", "split", "unbind", "narrow", "select", "index_select", "flip", "roll", "movedim", "swapaxes",
    "clone", "to", "type", "float", "double", "half", "detach", "pad", "pixel_shuffle", "pixel_unshuffle", "getattr",
    "_patch_merging_pad",  # torchvision's swin: a leaf function that pads and nothing else
}  # fmt: skip
# Leaf functions that apply two nn.Linear weights as attention (input, qkv weight, proj weight, ...): torchvision's swin
WINDOW_ATTENTION_OPS = {"shifted_window_attention"}
KEEP_OPS = {
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "normalize", "softmax", "log_softmax", "dropout",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "masked_fill", "masked_fill_", "contiguous",
}  # fmt: skip
REDUCE_OPS = {"mean", "sum", "amax", "amin", "max", "min", "std", "var", "norm", "logsumexp", "prod", "nansum"}
POOL_OPS = {
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "adaptive_max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d",
    "max_pool2d", "max_pool3d", "lp_pool1d", "lp_pool2d", "interpolate", "upsample",
}  # fmt: skip
MIXING_OPS = {"matmul", "mm", "bmm", "einsum", "linear", "conv1d", "conv2d", "conv3d", "baddbmm", "addmm"}


@dataclass
class Block:
    """Output units `rows` of a layer and the weights (rows, columns, kernel) reading `columns` (set ids)."""

    rows: slice
    weight: np.ndarray
    columns: np.ndarray


@dataclass
class UnitLayer:
    """A parametrised layer: its units and the weight blocks that read its sources."""

    name: str
    module_type: str
    units: int
    kind: str  # "conv", "linear" or "opaque" (a pseudo-source standing for an untraced module)
    blocks: list[Block] = field(default_factory=list)
    inputs: list[list[tuple[str, range]]] = field(default_factory=list)


def op_name(node: fx.Node) -> str:
    """The bare name of a call_function / call_method target ("add", "cat", "getitem")."""
    if node.op == "call_method":
        return str(node.target)
    name = getattr(node.target, "__name__", str(node.target))
    return name.strip("_") if node.target in (operator.getitem, operator.add) or name.startswith("__") else name


def masked_weight(weight: torch.Tensor, mask: torch.Tensor | None) -> np.ndarray:
    """A weight as float64 numpy, with masked entries zeroed (zero weights count as absent)."""
    out = weight.detach().cpu().to(torch.float64)
    if mask is not None:
        out = out * mask.detach().cpu().to(torch.float64)
    return out.numpy()


def module_of(node: fx.Node) -> str:
    """The innermost module a traced node belongs to ("" for the model itself)."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    return str(next(reversed(stack), ""))


class FlowInterpreter(fx.Interpreter):
    """Runs the traced model on real values and carries each value's id tensor beside it."""

    def __init__(self, gm: fx.GraphModule, masks: dict[str, torch.Tensor], opaque: set[str] | None) -> None:
        super().__init__(gm)
        self.extra_traceback = False
        self.sets = SourceSets()
        self.ids: dict[fx.Node, Any] = {}
        self.layers: dict[str, UnitLayer] = {}
        self.masks = masks
        self.tolerant = opaque is not None
        self.opaque_modules = opaque or set()
        self.opaque_steps: list[str] = []
        self.first_unit = next(
            (self.submodule(str(n.target)) for n in gm.graph.nodes if n.op == "call_module" and self._is_unit(n)), None
        )
        self.seen_input = False

    def submodule(self, name: str) -> nn.Module:
        return cast(nn.Module, self.fetch_attr(name))

    def _is_unit(self, node: fx.Node) -> bool:
        return isinstance(self.submodule(str(node.target)), (*UNIT_MODULES, nn.MultiheadAttention))

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        try:
            self.ids[n] = self.flow(n, value)
        except _Unsupported as exc:
            self.ids[n] = self.opaque(n, value, str(exc))
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:  # the ids could not follow the real op
            why = f"{op_name(n) if n.op != 'call_module' else n.target} was not followed ({type(exc).__name__}: {exc})"
            self.ids[n] = self.opaque(n, value, why)
        return value

    def idv(self, arg: Any) -> Any:
        """The id value of an argument (nodes mapped to their ids; constants unchanged)."""
        return fx.node.map_arg(arg, lambda a: self.ids[a])

    def real(self, arg: Any) -> Any:
        return fx.node.map_arg(arg, lambda a: self.env[a])

    def flow(self, n: fx.Node, value: Any) -> Any:
        """The id value of node n's output."""
        if n.op == "placeholder":
            return self.input_ids(value)
        if n.op in ("get_attr", "output"):
            return nulls(value)
        if n.op == "call_module":
            return self.module_flow(n, self.submodule(str(n.target)), value)
        return self.function_flow(n, value)

    def input_ids(self, value: Any) -> Any:
        """The model input's units: channels (conv first), features (Linear first) or every element (flattened)."""
        if not is_tensor(value) or self.seen_input:
            return nulls(value)
        self.seen_input = True
        first = self.first_unit
        if isinstance(first, CONV):
            dim = value.ndim - len(first.kernel_size) - 1
        elif value.ndim <= 2 or getattr(first, "in_features", getattr(first, "embed_dim", None)) == value.shape[-1]:
            dim = value.ndim - 1
        else:
            per_sample = self.sets.add_layer("input", int(value[0].numel()))
            return torch.from_numpy(per_sample).reshape(value.shape[1:]).expand(value.shape).contiguous()
        return spread(self.sets.add_layer("input", int(value.shape[dim])), dim, value.shape)

    def module_flow(self, n: fx.Node, m: nn.Module, value: Any) -> Any:
        name = str(n.target)
        if isinstance(m, UNIT_MODULES):
            return self.unit_call(name, m, self.ids[cast(fx.Node, n.args[0])], value)
        if isinstance(m, nn.MultiheadAttention):
            return self.attention_call(name, m, n, value)
        if name in self.opaque_modules:
            raise _Unsupported("torch.fx cannot trace it, kept as one step")
        x: Any = self.idv(n.args[0]) if n.args else None
        if isinstance(m, POOL_MODULES) or (isinstance(m, nn.Upsample) and m.mode != "nearest"):
            return pool_channels(self.sets, x, value.shape)
        if isinstance(m, (*MOVE_MODULES, nn.Upsample)):
            return m(x.double()).round().long() if isinstance(m, nn.Upsample) else m(x)
        if is_tensor(value) and is_tensor(x) and x.shape == value.shape:
            return x.clone()
        raise _Unsupported(f"module {name} ({type(m).__name__}) changes its input's shape in a way not followed")

    def function_flow(self, n: fx.Node, value: Any) -> Any:
        name = op_name(n)
        tensors = [a for a in n.all_input_nodes if is_tensor(self.env[a])]
        if nulls(value) is None:
            return None
        if not any(carries_sources(self.ids[a]) for a in n.all_input_nodes):
            return nulls(value)  # from parameters, sizes and constants only (swin's relative position bias)
        if name in WINDOW_ATTENTION_OPS:
            return self.window_attention(n, value)
        if name in MIXING_OPS:
            raise _Unsupported(f"{name} mixes two activations (or uses a weight outside an nn module)")
        if name in MOVE_OPS:
            return self.move(n, name)
        if name in KEEP_OPS:
            return self.idv(n.args[0]).clone()
        if name in REDUCE_OPS and not (len(n.args) > 1 and isinstance(n.args[1], fx.Node)):
            return self.reduce(n, name, value)
        if name in POOL_OPS:
            return self.pool(n, name, value)
        if name == "scaled_dot_product_attention":
            v = self.idv(n.args[2])
            return union_broadcast(self.sets, [reduce_dims(self.sets, v, [-2], True)], value.shape)
        return self.elementwise(n, name, value, tensors)

    def window_attention(self, n: fx.Node, value: Any) -> Any:
        """Attention through a function given its module's Linear weights (swin's shifted_window_attention): the qkv
        layer (q, k, v units) reads the input's channels, the proj layer reads the v units only, as for MHA."""
        x, qkv, proj = n.args[:3]
        if not all(isinstance(a, fx.Node) and a.op == "get_attr" for a in (qkv, proj)):
            raise _Unsupported(f"{op_name(n)} is given weights that are not module parameters")
        qkv_name, proj_name = (str(cast(fx.Node, a).target).removesuffix(".weight") for a in (qkv, proj))
        ids = self.ids[cast(fx.Node, x)]
        w_qkv, w_proj = (self.weight_of(cast(fx.Node, a)) for a in (qkv, proj))
        blocks = [Block(slice(0, len(w_qkv)), w_qkv, keep_along(self.sets, ids, ids.ndim - 1))]
        return self.attention_layers((qkv_name, "Linear", blocks), proj_name, w_proj, value.shape)

    def attention_layers(
        self, qkv: tuple[str, str, list[Block]], out_name: str, out_w: np.ndarray, shape: torch.Size
    ) -> torch.Tensor:
        """The two layers of an attention: `qkv` (name, module type, blocks of its q, k, v units) and the output
        projection reading the v units only; the ids of the projection's output, of `shape`."""
        name, module_type, blocks = qkv
        units = sum(b.rows.stop - b.rows.start for b in blocks)
        self.layers[name] = UnitLayer(name, module_type, units, "linear", blocks)
        v_units = self.sets.add_layer(name, units)[2 * (units // 3) :]
        out = len(out_w)
        self.layers[out_name] = UnitLayer(out_name, "Linear", out, "linear", [Block(slice(0, out), out_w, v_units)])
        return spread(self.sets.add_layer(out_name, out), len(shape) - 1, shape)

    def weight_of(self, node: fx.Node) -> np.ndarray:
        """A Linear weight read by a get_attr node, masked as its module's would be, as (rows, columns, 1)."""
        target = str(node.target)
        return masked_weight(cast(torch.Tensor, self.env[node]), self.mask_of(target))[:, :, None]

    def mask_of(self, param: str) -> torch.Tensor | None:
        """The mask of a weight parameter ("conv1.weight"), given under its own name or its module's."""
        return self.masks.get(param, self.masks.get(param.removesuffix(".weight")))

    def move(self, n: fx.Node, name: str) -> Any:
        """Run the same data movement on the ids (the data argument's ids; indices and sizes stay real)."""
        args = [self.idv(n.args[0]), *self.real(n.args[1:])]
        kwargs = dict(self.real(n.kwargs))
        if name == "pad":
            kwargs["value"] = 0
            args = args[:3]
        if n.op == "call_method":
            return getattr(args[0], str(n.target))(*args[1:], **kwargs)
        return cast(Callable[..., Any], n.target)(*args, **kwargs)

    def reduce(self, n: fx.Node, name: str, value: Any) -> Any:
        """Union over the reduced dimensions."""
        at = 2 if name == "norm" else 1
        dims = n.kwargs.get("dim", n.args[at] if len(n.args) > at else None)
        keepdim = bool(n.kwargs.get("keepdim", n.args[at + 1] if len(n.args) > at + 1 else False))
        dims_list = [] if dims is None else [dims] if isinstance(dims, int) else list(cast(Sequence[int], dims))
        out = reduce_dims(self.sets, self.idv(n.args[0]), dims_list, keepdim and dims is not None)
        if isinstance(value, tuple):
            return type(value)(out for _ in value) if not hasattr(value, "_fields") else (out, out)
        return out

    def pool(self, n: fx.Node, name: str, value: Any) -> Any:
        """Pooling keeps channels; nearest resampling moves ids like data."""
        mode = n.kwargs.get("mode", n.args[3] if len(n.args) > 3 else "nearest")
        if name in ("interpolate", "upsample") and mode == "nearest":
            args = [self.idv(n.args[0]).double(), *self.real(n.args[1:])]
            return cast(Callable[..., Any], n.target)(*args, **self.real(n.kwargs)).round().long()
        return pool_channels(self.sets, self.idv(n.args[0]), value.shape)

    def elementwise(self, n: fx.Node, name: str, value: Any, tensors: list[fx.Node]) -> Any:
        """Arithmetic and unknown shape-keeping ops: each element has the union of its operands' elements."""
        shapes = [self.env[a].shape for a in tensors]
        if not is_tensor(value) or torch.broadcast_shapes(value.shape, *shapes) != value.shape:
            raise _Unsupported(f"{name} changes its input's shape in a way not followed")
        return union_broadcast(self.sets, [self.ids[a] for a in tensors], value.shape)

    def opaque(self, n: fx.Node, value: Any, why: str) -> Any:
        """An unsupported step: an error, or (with layers= chosen) a pseudo-source its consumers cannot link to."""
        where = module_of(n)
        if not self.tolerant:
            raise UntraceableModel(
                f"Cannot follow the data flow at {where or 'the model itself'} (node {n.name}): {why}.",
                f"Pass layers= naming unit layers away from {where or n.name}; the step is then kept as one "
                "opaque source that no edge crosses.",
            )
        name = f"opaque:{where or n.name}"
        unit = self.sets.add_layer(name, 1)
        self.layers[name] = UnitLayer(name, "opaque", 1, "opaque")
        self.opaque_steps.append(f"{where or n.name}: {why}")
        fill = int(unit[0])
        return fx.node.map_aggregate(
            nulls(value), lambda t: torch.full_like(cast(torch.Tensor, t), fill) if is_tensor(t) else t
        )

    def unit_call(self, name: str, m: nn.Module, x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """A Linear or Conv: its columns' sources, its weight blocks, fresh ids for its units."""
        if name in self.layers:
            raise UntraceableModel(f"Layer {name} is called more than once (shared weights).", "Not supported yet.")
        conv = isinstance(m, CONV)
        dim = x.ndim - len(cast(Sequence[int], getattr(m, "kernel_size", ()))) - 1 if conv else x.ndim - 1
        columns = keep_along(self.sets, x, dim)
        weight = masked_weight(cast(torch.Tensor, m.weight), self.mask_of(f"{name}.weight"))
        weight = weight.reshape(weight.shape[0], weight.shape[1], -1)
        groups = int(getattr(m, "groups", 1))
        rows, cols = weight.shape[0] // groups, weight.shape[1]
        blocks = [
            Block(
                slice(g * rows, (g + 1) * rows), weight[g * rows : (g + 1) * rows], columns[g * cols : (g + 1) * cols]
            )
            for g in range(groups)
        ]
        kind = "conv" if conv else "linear"
        self.layers[name] = UnitLayer(name, type(m).__name__, weight.shape[0], kind, blocks)
        return spread(self.sets.add_layer(name, weight.shape[0]), dim, value.shape)

    def attention_call(self, name: str, m: nn.MultiheadAttention, n: fx.Node, value: Any) -> Any:
        """MHA as two layers: in_proj (q, k, v units) reads query/key/value; out_proj reads the v units only."""
        bound = dict(zip(("query", "key", "value"), n.args, strict=False)) | dict(n.kwargs)
        e = m.embed_dim
        weights = (
            [m.in_proj_weight[i * e : (i + 1) * e] for i in range(3)]
            if m._qkv_same_embed_dim
            else [m.q_proj_weight, m.k_proj_weight, m.v_proj_weight]
        )
        mask = self.masks.get(f"{name}.in_proj_weight")
        blocks = []
        for i, (part, w) in enumerate(zip(("query", "key", "value"), weights, strict=True)):
            x = self.ids[cast(fx.Node, bound[part])]
            wm = masked_weight(w, None if mask is None else mask[i * e : (i + 1) * e])
            blocks.append(Block(slice(i * e, (i + 1) * e), wm[:, :, None], keep_along(self.sets, x, x.ndim - 1)))
        out_w = masked_weight(m.out_proj.weight, self.masks.get(f"{name}.out_proj.weight"))[:, :, None]
        qkv = (f"{name}.in_proj", "MultiheadAttention.in_proj", blocks)
        return (self.attention_layers(qkv, f"{name}.out_proj", out_w, value[0].shape), nulls(value[1]))


class _Unsupported(Exception):
    """A step the id propagation does not follow."""


def unit_map(
    model: nn.Module,
    example_input: torch.Tensor,
    masks: dict[str, torch.Tensor] | None = None,
    layers: Sequence[str] | None = None,
) -> tuple[list[UnitLayer], FlowInterpreter]:
    """Every unit layer in forward order with its weight blocks and, per input column, its source ranges."""
    was_training = model.training
    model.eval()
    try:
        gm, opaque = traced(model, layers)
        flow = FlowInterpreter(gm, dict(masks or {}), opaque if layers else None)
        with torch.no_grad():
            flow.run(example_input)
    finally:
        model.train(was_training)
    cache: dict[int, list[tuple[str, range]]] = {}
    for layer in flow.layers.values():
        layer.inputs = [cached_ranges(flow.sets, int(c), cache) for block in layer.blocks for c in block.columns]
    return list(flow.layers.values()), flow


def cached_ranges(sets: SourceSets, set_id: int, cache: dict[int, list[tuple[str, range]]]) -> list[tuple[str, range]]:
    """sets.ranges(set_id), computed once per set (columns fed by one residual sum share theirs)."""
    found = cache.get(set_id)
    if found is None:
        found = cache[set_id] = sets.ranges(set_id)
    return found
