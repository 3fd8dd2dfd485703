"""`multilayer`: the per-class patch networks of a CNN (001, docs/METHODS.md C3) and the entropy of degree delta.

Nodes are the spatial positions (i, j) of every conv layer's output (all positions, the last conv included).
A node of conv k has arcs to the kh x kw neighbourhood (kh x kw = the next conv's filter, clipped at the border)
of position (i // s, j // s) of conv k+1, s being the pool factor between them. There is one class network per
target class; in class h every out-arc of a node carries the same weight: the mean (or median) over the
channels of conv k+1's class-averaged raw output at (i // s, j // s) - "the convolution result" g(i, j) of 001
section 3.1.3, which can be negative (`source=response`, the default) - or over the node's kh x kw window
(clipped) and all channels of conv k's class-averaged post-ReLU map (`source=activation`).

Because all out-arcs of a node share one weight, the weighted degrees are box-filter sums and never need the
arcs: out-degree = weight x (number of targets), in-degree of a node = the sum of the weights of the nodes of
the previous layer whose windows cover it (block-sum over the pool, then a box sum). delta(v) =
-sum_h p_h ln p_h with p_h = d_h(v) / sum_h d_h(v), d = in + out degree. A node with a negative degree in some
class while another is positive (then some p_h < 0: "the log has no meaning for negative numbers", 001 section 4.1)
or a zero total degree gets delta 0 and still counts in the mean; all class degrees negative give p_h >= 0 and a
defined delta. Arcs are materialised only to store the graph (classes x positions x kh*kw of them).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.extract.feature_maps import (
    ConvGeometry,
    FeatureMaps,
    conv_geometry,
    loader_batches,
    record_class_maps,
)
from graphstore.extract.registry import (
    KINDS,
    GraphKind,
    KindDoesNotApply,
    kinds,
    requires_conv,
    requires_multiclass,
)
from graphstore.graph import Graph
from graphstore.nn.checkpoint import Checkpoint
from graphstore.nn.datasets.base import LoadedDataset
from graphstore.nn.models import conv_stack_models
from graphstore.nn.models.base import SequentialNet
from graphstore.nn.train import resolve_device

WEIGHTS = ("mean", "median")
SOURCES = ("response", "activation")
MEDIAN_CHUNK = 1 << 25  # elements per sort when taking window medians


@dataclass(frozen=True)
class MultilayerParams:
    """Parameters of the multilayer class networks (001): arc weights, data, and what is stored."""

    weight: str = field(
        default="mean",
        metadata={"help": "Arc weight: mean or median over the window and channels (001 eq. 2-3).", "choices": WEIGHTS},
    )
    source: str = field(
        default="response",
        metadata={
            "help": "response = layer k+1's raw conv output, 'the convolution result' (001 3.1.3); activation = "
            "layer k's post-ReLU map.",
            "choices": SOURCES,
        },
    )
    split: str = field(default="train", metadata={"help": "Split whose images are averaged per class."})
    limit: int = field(default=0, metadata={"help": "Use at most this many images of the split (0 = all)."})
    batch_size: int = field(default=256, metadata={"help": "Images per forward pass."})
    device: str = field(default="cpu", metadata={"help": "Device for the forward passes (cpu, cuda)."})
    arcs: bool = field(default=True, metadata={"help": "Store the ARC edges (false = Patch nodes with delta only)."})
    max_arcs: int = field(
        default=5_000_000, metadata={"help": "Refuse to store more arcs than this (classes x positions x 9)."}
    )
    degree_columns: int = field(
        default=16, metadata={"help": "Store per-class degrees degree_<h> on Patch nodes up to this many classes."}
    )

    def __post_init__(self) -> None:
        if self.limit < 0 or self.batch_size < 1 or self.max_arcs < 0:
            raise ValueError("limit and max_arcs must be >= 0 and batch_size >= 1")


@dataclass
class Multilayer:
    """Per conv layer: arc weights and weighted degrees per class (classes, H, W), and delta (H, W)."""

    layers: list[ConvGeometry]
    weights: list[torch.Tensor]
    degrees: list[torch.Tensor]
    delta: list[torch.Tensor]

    @property
    def num_nodes(self) -> int:
        """Nodes over all layers."""
        return sum(g.size for g in self.layers)

    def delta_flat(self) -> np.ndarray:
        """delta of every node, layer by layer, row-major within a layer (the node-key order)."""
        return torch.cat([d.reshape(-1) for d in self.delta]).cpu().numpy()

    def layer_index(self) -> np.ndarray:
        """The conv position (0-based) of every node, in node-key order."""
        return np.repeat(np.arange(len(self.layers)), [g.size for g in self.layers])


def _around(k: int) -> tuple[int, int]:
    """(before, after) the centre of a filter of size k: 3 -> (1, 1), 1 -> (0, 0), 4 -> (1, 2)."""
    return (k - 1) // 2, k // 2


def window_sum(x: torch.Tensor, kernel: tuple[int, int], reverse: bool = False) -> torch.Tensor:
    """Box sums of (B, H, W) over [i - before, i + after] x [j - ..] (reverse: [i - after, i + before]), 0-padded."""
    (bh, ah), (bw, aw) = _around(kernel[0]), _around(kernel[1])
    pads = (aw, bw, ah, bh) if reverse else (bw, aw, bh, ah)
    padded = F.pad(x.unsqueeze(1), pads)
    return F.avg_pool2d(padded, kernel, stride=1).squeeze(1) * (kernel[0] * kernel[1])


def window_mean(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Mean of (B, H, W) over each position's kernel window, clipped at the border."""
    ones = torch.ones_like(x[:1])
    return window_sum(x, kernel) / window_sum(ones, kernel)


def nan_median(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Median along `dim` ignoring NaN; the mean of the two middle values for an even count (001 eq. 3).

    torch.nanmedian gives the lower middle value by selection (no full sort); the upper one is -nanmedian(-x).
    """
    return (torch.nanmedian(values, dim).values - torch.nanmedian(-values, dim).values) / 2


def window_median(maps: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Median over each position's clipped kernel window and all channels of (B, C, H, W) -> (B, H, W)."""
    b, c, h, w = maps.shape
    (bh, ah), (bw, aw) = _around(kernel[0]), _around(kernel[1])
    step = max(1, MEDIAN_CHUNK // max(1, c * kernel[0] * kernel[1] * h * w))
    out = []
    for lo in range(0, b, step):
        padded = F.pad(maps[lo : lo + step], (bw, aw, bh, ah), value=float("nan"))
        out.append(nan_median(F.unfold(padded, kernel), 1).view(-1, h, w))
    return torch.cat(out)


def channel_reduce(maps: torch.Tensor, weight: str) -> torch.Tensor:
    """Mean or median over the channels of (B, C, H, W) -> (B, H, W)."""
    if weight == "mean" or maps.shape[1] == 1:
        return maps.mean(1)
    b, c, h, w = maps.shape
    step = max(1, MEDIAN_CHUNK // max(1, c * h * w))
    return torch.cat([nan_median(maps[lo : lo + step], 1) for lo in range(0, b, step)])


def node_weights(maps: FeatureMaps, weight: str = "mean", source: str = "response") -> list[torch.Tensor]:
    """The out-arc weight of every node per class, one (classes, H, W) tensor per conv (last: unused zeros)."""
    layers, out = maps.layers, []
    if weight == "median" and maps.channel_reduced:
        raise GraphstoreError(
            "The median arc weight needs full feature maps, not channel means.",
            "Record the maps with reduce_channels=False.",
        )
    for k, g in enumerate(layers[:-1]):
        if source == "response":
            if maps.responses is None:
                raise GraphstoreError("source=response needs the conv outputs (responses) recorded.")
            nxt = layers[k + 1]
            reduced = channel_reduce(maps.responses[k + 1], weight)
            rows = (torch.arange(g.height, device=reduced.device) // g.stride).clamp_max(nxt.height - 1)
            cols = (torch.arange(g.width, device=reduced.device) // g.stride).clamp_max(nxt.width - 1)
            out.append(reduced[:, rows][:, :, cols])
            continue
        if maps.activations is None:
            raise GraphstoreError("source=activation needs the post-ReLU maps recorded.")
        act = maps.activations[k]
        out.append(window_mean(act.mean(1), g.kernel) if weight == "mean" else window_median(act, g.kernel))
    last, recorded = layers[-1], maps.activations if maps.activations is not None else maps.responses
    device = recorded[0].device if recorded else maps.counts.device
    out.append(torch.zeros(maps.num_classes, last.height, last.width, device=device))
    return out


def out_counts(g: ConvGeometry, nxt: ConvGeometry) -> torch.Tensor:
    """Number of out-arcs of every node of layer g (its clipped neighbourhood in the next layer), (H, W)."""
    (bh, ah), (bw, aw) = _around(g.kernel[0]), _around(g.kernel[1])

    def along(n: int, limit: int, before: int, after: int) -> torch.Tensor:
        p = torch.arange(n) // g.stride
        return ((p + after).clamp_max(limit - 1) - (p - before).clamp_min(0) + 1).clamp_min(0)

    return along(g.height, nxt.height, bh, ah)[:, None] * along(g.width, nxt.width, bw, aw)[None, :]


def in_sums(w: torch.Tensor, g: ConvGeometry, nxt: ConvGeometry) -> torch.Tensor:
    """In-degree of every node of the next layer: block-sum the weights over the pool, then a box sum."""
    s = g.stride
    p, q = -(-g.height // s), -(-g.width // s)
    blocks = F.pad(w, (0, q * s - g.width, 0, p * s - g.height))
    blocks = blocks.view(w.shape[0], p, s, q, s).sum((2, 4))
    grid = F.pad(blocks, (0, max(0, nxt.width - q), 0, max(0, nxt.height - p)))
    return window_sum(grid, g.kernel, reverse=True)[:, : nxt.height, : nxt.width]


def class_degrees(weights: list[torch.Tensor], layers: list[ConvGeometry]) -> list[torch.Tensor]:
    """Weighted degree (in + out) of every node in every class network, one (classes, H, W) per conv."""
    degrees = [torch.zeros_like(w, dtype=torch.float64) for w in weights]
    for k in range(len(layers) - 1):
        w = weights[k].double()
        degrees[k] += w * out_counts(layers[k], layers[k + 1]).to(w.device, torch.float64)
        degrees[k + 1] += in_sums(w, layers[k], layers[k + 1])
    return degrees


def entropy_delta(degrees: torch.Tensor) -> torch.Tensor:
    """delta over dim 0 (classes); 0 where some p_h = d_h / total is negative (mixed signs) or the total is 0.

    001 takes log(d_h / d_tot), which "has no meaning for negative numbers": class degrees all negative give
    p_h >= 0 and a defined entropy; only mixed signs (or a zero total) make a node contribute nothing.
    """
    d = degrees.double()
    total = d.sum(0)
    valid = ((d >= 0).all(0) | (d <= 0).all(0)) & (total != 0)
    p = d / torch.where(valid, total, torch.ones_like(total))
    terms = torch.where(p > 0, -p * torch.log(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p))
    return torch.where(valid, terms.sum(0), torch.zeros_like(total))


def compute_multilayer(maps: FeatureMaps, weight: str = "mean", source: str = "response") -> Multilayer:
    """Weights, per-class degrees and delta of every node, by box filters (no arcs)."""
    weights = node_weights(maps, weight, source)
    degrees = class_degrees(weights, maps.layers)
    return Multilayer(maps.layers, weights, degrees, [entropy_delta(d) for d in degrees])


def arc_count(layers: list[ConvGeometry]) -> int:
    """Arcs of one class network."""
    return sum(int(out_counts(g, n).sum()) for g, n in zip(layers[:-1], layers[1:], strict=True))


def arc_index(layers: list[ConvGeometry]) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) node keys of the arcs of one class network, source-major within each layer."""
    offsets = np.cumsum([0] + [g.size for g in layers])
    src, dst = [], []
    for k, (g, n) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        (bh, ah), (bw, aw) = _around(g.kernel[0]), _around(g.kernel[1])
        t = (np.arange(g.height) // g.stride)[:, None] + np.arange(-bh, ah + 1)[None, :]
        u = (np.arange(g.width) // g.stride)[:, None] + np.arange(-bw, aw + 1)[None, :]
        shape = (g.height, g.width, t.shape[1], u.shape[1])
        ok = ((t >= 0) & (t < n.height))[:, None, :, None] & ((u >= 0) & (u < n.width))[None, :, None, :]
        source = np.broadcast_to(np.arange(g.size).reshape(g.height, g.width, 1, 1), shape)
        target = t[:, None, :, None] * n.width + u[None, :, None, :]
        src.append(offsets[k] + source[ok])
        dst.append(offsets[k + 1] + np.broadcast_to(target, shape)[ok])
    empty = np.empty(0, np.int64)
    return (np.concatenate(src) if src else empty), (np.concatenate(dst) if dst else empty)


def multilayer_graph(
    graph_id: str,
    ml: Multilayer,
    params: MultilayerParams,
    class_names: tuple[str, ...] = (),
    arc_weights: dict[str, list[torch.Tensor]] | None = None,
) -> Graph:
    """Patch nodes (layer, i, j, delta, degrees) and, if params.arcs, ARC edges (class, w_mean, w_median)."""
    classes = ml.degrees[0].shape[0]
    graph = Graph(
        graph_id, "multilayer", params={**asdict(params), "classes": classes, "layers": [g.name for g in ml.layers]}
    )
    keys = np.arange(ml.num_nodes, dtype=np.int64)
    deg = torch.cat([d.reshape(classes, -1) for d in ml.degrees], 1).cpu().numpy()
    props = _patch_props(ml)
    props.update(delta=ml.delta_flat(), degree=deg.sum(0))
    if classes <= params.degree_columns:
        props.update({f"degree_{h}": deg[h] for h in range(classes)})
    graph.add_nodes("Patch", keys, **props)
    if params.arcs:
        _add_arcs(graph, ml, params, arc_weights or {})
    graph.params.update(
        class_names=list(class_names),
        arcs=params.arcs and graph.edge_count > 0,
        delta_mean=float(props["delta"].mean()),
        delta_median=float(np.median(props["delta"])),
    )
    return graph


def _patch_props(ml: Multilayer) -> dict[str, np.ndarray]:
    """layer name, layer index, i and j of every node in key order."""
    index = ml.layer_index()
    names = np.asarray([g.name for g in ml.layers], dtype=object)[index]
    i = np.concatenate([np.repeat(np.arange(g.height), g.width) for g in ml.layers])
    j = np.concatenate([np.tile(np.arange(g.width), g.height) for g in ml.layers])
    return {"layer": names, "layer_index": index.astype(np.int64), "i": i.astype(np.int64), "j": j.astype(np.int64)}


def _add_arcs(graph: Graph, ml: Multilayer, params: MultilayerParams, weights: dict[str, list[torch.Tensor]]) -> None:
    """ARC edges of every class network: one row per (class, arc), weights gathered from the source node."""
    classes = ml.degrees[0].shape[0]
    check_arc_budget(ml.layers, classes, params.max_arcs)
    src, dst = arc_index(ml.layers)
    flat = {name: torch.cat([w.reshape(classes, -1) for w in ws], 1).cpu().numpy() for name, ws in weights.items()}
    mean = flat.get("mean", torch.cat([w.reshape(classes, -1) for w in ml.weights], 1).cpu().numpy())
    median = flat.get("median", np.full_like(mean, np.nan))
    cls = np.repeat(np.arange(classes, dtype=np.int64), len(src))
    props: dict[str, Any] = {"class": cls, "w_mean": mean[:, src].reshape(-1), "w_median": median[:, src].reshape(-1)}
    graph.add_edges("ARC", "Patch", "Patch", np.tile(src, classes), np.tile(dst, classes), **props)


def check_arc_budget(layers: list[ConvGeometry], classes: int, max_arcs: int) -> int:
    """Arcs the stored graph would have; over max_arcs is an error naming the options that shrink it."""
    total = arc_count(layers) * classes
    if total > max_arcs:
        raise GraphstoreError(
            f"The multilayer graph would have {total:,} arcs ({classes} classes x {total // classes:,}), "
            f"over max_arcs={max_arcs:,}.",
            "Store Patch nodes with delta only (--opt arcs=false), or raise the limit (--opt max_arcs=N).",
        )
    if total > 1_000_000:
        warnings.warn(f"multilayer: materialising {total:,} arcs", stacklevel=2)
    return total


def why_not_multilayer(checkpoint: Checkpoint, model: nn.Module) -> str | None:
    """Why the multilayer kind does not apply to this model (None = it applies)."""
    reason = requires_conv(checkpoint, model) or requires_multiclass(checkpoint, model)
    if reason is None and not isinstance(model, SequentialNet):
        reason = f"it needs a plain conv/pool chain and {checkpoint.model.name} has residual blocks"
    return reason


def applicable_kinds(checkpoint: Checkpoint, model: nn.Module) -> list[str]:
    """Names of the registered graph kinds that apply to this model."""
    names = []
    for kind in kinds():
        try:
            if kind.why_not(checkpoint, model) is None:
                names.append(kind.name)
        except Exception:  # noqa: BLE001 - a kind's check failing on a partial checkpoint view means "not known"
            continue
    return names


def require_multilayer(checkpoint: Checkpoint, model: nn.Module) -> None:
    """Raise KindDoesNotApply (naming the kinds that do apply) unless multilayer fits the model."""
    reason = why_not_multilayer(checkpoint, model)
    if reason is not None:
        others = ", ".join(applicable_kinds(checkpoint, model)) or "none"
        raise KindDoesNotApply(
            f"The multilayer graph does not apply to {checkpoint.model.name}: {reason}.",
            f"Graph kinds that apply to this model: {others}. For multilayer, use a CNN "
            f"({', '.join(conv_stack_models())}).",
        )


def record_maps(model: nn.Module, data: LoadedDataset, params: MultilayerParams, full: bool) -> FeatureMaps:
    """Class-averaged maps of the checkpoint's model over params.split (full channel maps if `full`)."""
    batches = loader_batches(data, params.split, params.batch_size, params.device, params.limit)
    return record_class_maps(
        model,
        batches,
        data.info.num_classes,
        tuple(data.info.input_shape),
        activations=params.source == "activation",
        responses=params.source == "response",
        reduce_channels=not full,
    )


def check_multilayer(
    checkpoint: Checkpoint, model: nn.Module, data: LoadedDataset | None, params: MultilayerParams
) -> None:
    """Fail fast: the kind applies, the split exists, and the arcs fit the budget."""
    require_multilayer(checkpoint, model)
    if data is not None and params.split not in data.splits:
        raise GraphstoreError(f"The dataset has no {params.split!r} split.", f"Use one of: {', '.join(data.splits)}.")
    if params.arcs:
        layers = conv_geometry(model, tuple(checkpoint.data_info.input_shape))
        check_arc_budget(layers, checkpoint.data_info.num_classes, params.max_arcs)


def multilayer_of(
    model: nn.Module, data: LoadedDataset, params: MultilayerParams, full: bool = False
) -> tuple[Multilayer, FeatureMaps]:
    """Record the class-averaged maps of `model` on `data` and compute weights, degrees and delta."""
    params = replace(params, device=str(resolve_device(params.device)))
    model = model.to(params.device)
    maps = record_maps(model, data, params, full or params.weight == "median")
    return compute_multilayer(maps, params.weight, params.source), maps


def extract_multilayer(
    checkpoint: Checkpoint, data: LoadedDataset | None, params: MultilayerParams, graph_id: str
) -> Graph:
    """Per-class patch networks of a CNN (001) with the entropy of degree delta on every Patch node."""
    model = checkpoint.build_model(resolve_device(params.device))
    check_multilayer(checkpoint, model, data, params)
    if data is None:
        raise GraphstoreError("The multilayer graph needs the dataset the class maps are averaged over.")
    ml, maps = multilayer_of(model, data, params, full=params.arcs)
    arc_weights = None
    if params.arcs:
        arc_weights = {w: ml.weights if w == params.weight else node_weights(maps, w, params.source) for w in WEIGHTS}
    graph = multilayer_graph(graph_id, ml, params, tuple(data.info.class_names), arc_weights)
    graph.params["images_per_class"] = [int(c) for c in maps.counts.tolist()]
    empty = [h for h, c in enumerate(maps.counts.tolist()) if c == 0]
    if empty:
        warnings.warn(f"multilayer: classes {empty} have no images in {params.split!r}", stacklevel=2)
    return graph


KINDS.register(
    GraphKind(
        "multilayer",
        MultilayerParams,
        extract_multilayer,
        needs_data=True,
        applies=why_not_multilayer,
        check=check_multilayer,
        report="multilayer",
    )
)


__all__ = [
    "Multilayer",
    "MultilayerParams",
    "arc_index",
    "class_degrees",
    "compute_multilayer",
    "entropy_delta",
    "extract_multilayer",
    "multilayer_graph",
    "multilayer_of",
    "node_weights",
]
