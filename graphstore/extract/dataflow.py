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

import difflib
import fnmatch
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import scipy.sparse as sp
import torch
import torch.fx as fx
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.extract.weights import NORMS, NeuronLayout, add_classes
from graphstore.graph import Graph

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
UNIT_MODULES = (nn.Linear, *CONV)
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
}  # fmt: skip
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
DENSE_INCIDENCE = 4_000_000  # columns x sources up to which a block's incidence matrix is a dense array
MIXING_OPS = {"matmul", "mm", "bmm", "einsum", "linear", "conv1d", "conv2d", "conv3d", "baddbmm", "addmm"}


class UntraceableModel(GraphstoreError):
    """torch.fx cannot follow the model's forward (data-dependent control flow or an unsupported operation)."""


class LayerPatternError(GraphstoreError):
    """A `layers=` name or pattern matches no unit layer of the model."""


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


class SourceSets:
    """Interned sets of global unit ids; id 0 is the empty set. Layers own consecutive global unit ids."""

    def __init__(self) -> None:
        self.sets: list[frozenset[int]] = [frozenset()]
        self._index: dict[frozenset[int], int] = {frozenset(): 0}
        self.names: list[str] = []
        self.offsets: list[int] = [0]

    def intern(self, units: frozenset[int]) -> int:
        """The id of a set of units (new ids for new sets)."""
        found = self._index.get(units)
        if found is None:
            found = self._index[units] = len(self.sets)
            self.sets.append(units)
        return found

    def add_layer(self, name: str, units: int) -> np.ndarray:
        """Give a layer `units` global unit ids; returns the set id of each unit (one singleton set each)."""
        start = self.offsets[-1]
        self.names.append(name)
        self.offsets.append(start + units)
        return np.asarray([self.intern(frozenset((start + i,))) for i in range(units)], dtype=np.int64)

    def union(self, ids: Iterable[int]) -> int:
        """The id of the union of sets."""
        ids = set(int(i) for i in ids) - {0}
        if len(ids) <= 1:
            return ids.pop() if ids else 0
        return self.intern(frozenset().union(*(self.sets[i] for i in ids)))

    def row_union(self, rows: np.ndarray) -> np.ndarray:
        """(M, K) set ids -> (M,) ids of each row's union (computed once per distinct row)."""
        if rows.shape[1] == 1:
            return rows[:, 0].copy()
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        return np.asarray([self.union(row) for row in unique], dtype=np.int64)[inverse.reshape(-1)]

    def owner(self, unit: int) -> tuple[str, int]:
        """(layer name, index) of a global unit id."""
        layer = int(np.searchsorted(self.offsets, unit, side="right")) - 1
        return self.names[layer], unit - self.offsets[layer]

    def ranges(self, set_id: int) -> list[tuple[str, range]]:
        """A set as (layer, range of unit indices) runs, in unit order."""
        out: list[tuple[str, range]] = []
        for unit in sorted(self.sets[set_id]):
            name, index = self.owner(unit)
            if out and out[-1][0] == name and out[-1][1].stop == index:
                out[-1] = (name, range(out[-1][1].start, index + 1))
            else:
                out.append((name, range(index, index + 1)))
        return out


def keep_along(sets: SourceSets, ids: torch.Tensor, dim: int) -> np.ndarray:
    """Per index of `dim`, the union of the sets over every other dimension."""
    rows = ids.movedim(dim, 0).reshape(ids.shape[dim], -1).numpy()
    if (rows == rows[:, :1]).all():
        return rows[:, 0].copy()
    return sets.row_union(rows)


def reduce_dims(sets: SourceSets, ids: torch.Tensor, dims: Sequence[int], keepdim: bool) -> torch.Tensor:
    """Union over `dims` (as mean/sum/max over them would combine the elements)."""
    dims = sorted({d % ids.ndim for d in dims}) if dims else list(range(ids.ndim))
    kept = [d for d in range(ids.ndim) if d not in dims]
    moved = ids.permute(*kept, *dims)
    rows = moved.reshape(-1, int(np.prod([ids.shape[d] for d in dims]))).numpy()
    out = torch.from_numpy(sets.row_union(rows)).reshape([ids.shape[d] for d in kept])
    for d in dims if keepdim else []:
        out = out.unsqueeze(d)
    return out


def pool_channels(sets: SourceSets, ids: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Pooling or resampling: each output channel (dim 1) has the union of its input channel's positions."""
    per_channel = torch.from_numpy(keep_along(sets, ids, 1))
    view = [1] * len(shape)
    view[1] = len(per_channel)
    return per_channel.reshape(view).expand(shape).contiguous()


def union_broadcast(sets: SourceSets, ids: Sequence[torch.Tensor], shape: torch.Size) -> torch.Tensor:
    """Elementwise arithmetic: each output element has the union of its operands' sets (broadcast)."""
    expanded = [i.expand(shape).reshape(-1) for i in ids]
    if len(expanded) == 1:
        return expanded[0].reshape(shape).clone()
    rows = torch.stack(expanded, dim=1).numpy()
    return torch.from_numpy(sets.row_union(rows)).reshape(shape)


def op_name(node: fx.Node) -> str:
    """The bare name of a call_function / call_method target ("add", "cat", "getitem")."""
    if node.op == "call_method":
        return str(node.target)
    name = getattr(node.target, "__name__", str(node.target))
    return name.strip("_") if node.target in (operator.getitem, operator.add) or name.startswith("__") else name


def is_tensor(value: Any) -> bool:
    """Whether a traced value is a tensor (sizes, dtypes and tuples are not)."""
    return isinstance(value, torch.Tensor)


class LeafTracer(fx.Tracer):
    """Keeps unit layers, attention and childless torch.nn modules as leaves; remembers where tracing failed."""

    def __init__(self, opaque: set[str]) -> None:
        super().__init__()
        self.opaque = opaque
        self.failed_in: str | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, (*UNIT_MODULES, nn.MultiheadAttention)) or module_qualified_name in self.opaque:
            return True
        return m.__module__.startswith("torch.nn") and not any(True for _ in m.children())

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self.path_of_module(m)
            raise


class TraceFailed(Exception):
    """torch.fx stopped inside module `path` (the root is "")."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(detail)
        self.path = path
        self.detail = detail


def trace(model: nn.Module, opaque: set[str]) -> fx.GraphModule:
    """Trace with torch.fx (MHA's fused fast path off, so encoder layers take their traceable reference path)."""
    tracer = LeafTracer(opaque)
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        graph = tracer.trace(model)
    except Exception as exc:
        raise TraceFailed(tracer.failed_in or "", f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    return fx.GraphModule(model, graph)


def nulls(value: Any) -> Any:
    """Id tensors with no sources for every tensor in a value (None for non-tensors)."""
    if is_tensor(value):
        return torch.zeros(value.shape, dtype=torch.int64)
    if isinstance(value, (tuple, list)):
        return type(value)(nulls(v) for v in value) if not hasattr(value, "_fields") else None
    return None


def spread(unit_ids: np.ndarray, dim: int, shape: torch.Size) -> torch.Tensor:
    """Set ids laid along `dim` of a tensor of `shape` (the same id at every other position)."""
    view = [1] * len(shape)
    view[dim] = len(unit_ids)
    return torch.from_numpy(unit_ids).reshape(view).expand(shape).contiguous()


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
        if not tensors and not any(nulls(self.env[a]) is not None for a in n.all_input_nodes):
            return nulls(value)
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
        weight = masked_weight(cast(torch.Tensor, m.weight), self.masks.get(f"{name}.weight", self.masks.get(name)))
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
        self.layers[f"{name}.in_proj"] = UnitLayer(
            f"{name}.in_proj", "MultiheadAttention.in_proj", 3 * e, "linear", blocks
        )
        v_units = self.sets.add_layer(f"{name}.in_proj", 3 * e)[2 * e :]
        out_w = masked_weight(m.out_proj.weight, self.masks.get(f"{name}.out_proj.weight"))[:, :, None]
        out_name = f"{name}.out_proj"
        self.layers[out_name] = UnitLayer(out_name, "Linear", e, "linear", [Block(slice(0, e), out_w, v_units)])
        out = spread(self.sets.add_layer(out_name, e), value[0].ndim - 1, value[0].shape)
        return (out, nulls(value[1]))


class _Unsupported(Exception):
    """A step the id propagation does not follow."""


def _unit_modules_under(model: nn.Module, path: str) -> list[str]:
    """Names of the unit layers (and attention modules) inside module `path`."""
    prefix = f"{path}." if path else ""
    return [
        n
        for n, m in model.named_modules()
        if (n == path or n.startswith(prefix)) and isinstance(m, (*UNIT_MODULES, nn.MultiheadAttention))
    ]


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or name.startswith(f"{p}.") for p in patterns)


def traced(model: nn.Module, layers: Sequence[str] | None) -> tuple[fx.GraphModule, set[str]]:
    """Trace; with layers= chosen, a module that fails and holds no chosen layer is retried as one opaque step."""
    opaque: set[str] = set()
    while True:
        try:
            return trace(model, opaque), opaque
        except TraceFailed as exc:
            inside = _unit_modules_under(model, exc.path)
            blocked = not layers or not exc.path or exc.path in opaque or any(_matches(n, layers) for n in inside)
            if blocked:
                where = exc.path or type(model).__name__
                raise UntraceableModel(
                    f"torch.fx cannot trace module {where} ({type(model.get_submodule(exc.path)).__name__}): "
                    f"{exc.detail}",
                    f"Pass layers= naming unit layers outside {where} (it is then kept as one opaque step), or "
                    "remove data-dependent control flow from its forward.",
                ) from exc
            opaque.add(exc.path)


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
        layer.inputs = [
            cache.setdefault(int(c), flow.sets.ranges(int(c))) for block in layer.blocks for c in block.columns
        ]
    return list(flow.layers.values()), flow


def choose_layers(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    """The unit layers matching names or glob patterns, in forward order; a pattern matching none is an error."""
    if not patterns:
        return list(names)
    missing = [p for p in patterns if not any(_matches(n, [p]) for n in names)]
    if missing:
        close = sorted({c for p in missing for c in difflib.get_close_matches(p, names, n=5, cutoff=0.5)})
        raise LayerPatternError(
            f"No unit layer matches {', '.join(repr(p) for p in missing)}.",
            f"Close names: {', '.join(close)}."
            if close
            else f"Unit layers: {', '.join(names[:12])}" + (", ..." if len(names) > 12 else "."),
        )
    return [n for n in names if _matches(n, patterns)]


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


def _layout(layers: Sequence[UnitLayer], sets: SourceSets, class_names: Sequence[str] | None) -> NeuronLayout:
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
        out = layer_type == "output"
        class_name[out] = np.asarray(list(class_names), dtype=object)[index[out]]
    layer_index = np.repeat(np.arange(-1, len(layers)), reps).astype(np.int64)
    names_col = np.repeat(np.asarray(names, dtype=object), reps)
    return NeuronLayout(
        np.arange(len(index), dtype=np.int64), names_col, layer_index, index, layer_type, class_name, sizes[0]
    )


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
    all_layers, flow = unit_map(model, example_input, masks, layers)
    units = [layer for layer in all_layers if layer.kind != "opaque"]
    chosen_names = set(choose_layers([layer.name for layer in units], layers))
    chosen = [layer for layer in units if layer.name in chosen_names]
    sets = flow.sets
    layout = _layout(chosen, sets, class_names)
    key_of = np.full(sets.offsets[-1], -1, dtype=np.int64)
    for name in ["input", *(layer.name for layer in chosen)]:
        if name == "input" and not include_inputs:
            continue
        start = sets.offsets[sets.names.index(name)]
        keys = layout.layer_keys(name)
        key_of[start : start + len(keys)] = keys
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
