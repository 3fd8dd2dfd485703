"""Class-averaged conv feature maps, recorded with forward hooks in batches without gradients.

The multilayer class networks (docs/METHODS.md C3) need, per target class, the average over that class's images of
every conv layer's post-ReLU output map (and, for the `response` weighting of 001 section 3.1.3, of the raw conv
output). Averages accumulate on the device with one `index_add_` per layer and batch; with
`reduce_channels=True` each map is first averaged over its channels (enough for the mean descriptor: the
channel mean commutes with the class mean), so memory is classes x positions instead of classes x C x H x W.

This module registers no graph kind; it is the recorder `multilayer` uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.nn.datasets.base import LoadedDataset
from graphstore.nn.models import conv_stack_models
from graphstore.nn.models.base import prunable


@dataclass(frozen=True)
class ConvGeometry:
    """One conv layer's output map and how it feeds the next conv (pool factor, the next filter's size)."""

    name: str
    channels: int
    height: int
    width: int
    stride: int = 1
    kernel: tuple[int, int] = (1, 1)

    @property
    def size(self) -> int:
        """Number of spatial positions (nodes of this layer)."""
        return self.height * self.width


@dataclass
class FeatureMaps:
    """Per conv layer, class-averaged maps (classes, C or 1, H, W); `counts` = images per class."""

    layers: list[ConvGeometry]
    activations: list[torch.Tensor] | None
    responses: list[torch.Tensor] | None
    counts: torch.Tensor
    channel_reduced: bool

    @property
    def num_classes(self) -> int:
        """Number of classes (rows of every map)."""
        return int(self.counts.numel())


def conv_modules(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """(name, Conv2d) in forward order (from prunable_layers() when the model has it)."""
    layers = prunable(model).prunable_layers() if hasattr(model, "prunable_layers") else model.named_modules()
    return [(n, m) for n, m in layers if isinstance(m, nn.Conv2d)]


def activation_module(model: nn.Module, conv_name: str) -> nn.Module | None:
    """The ReLU after `conv_name` in the flat naming of graphstore models (conv3 -> relu3), if any."""
    name = "relu" + conv_name[len("conv") :] if conv_name.startswith("conv") else None
    return dict(model.named_modules()).get(name) if name else None


def conv_geometry(model: nn.Module, input_shape: tuple[int, ...]) -> list[ConvGeometry]:
    """Output size of every conv, the pool factor to the next conv's input, and the next conv's kernel."""
    convs = conv_modules(model)
    if not convs:
        raise GraphstoreError("The model has no convolutional layers.", "Use a CNN (small-cnn, vgg16, ...).")
    shapes: dict[str, tuple[torch.Size, torch.Size]] = {}
    hooks = [m.register_forward_hook(_shape_hook(shapes, n)) for n, m in convs]
    param = next(model.parameters())
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return [_geometry(convs, shapes, k) for k in range(len(convs))]


def _shape_hook(shapes: dict, name: str):  # noqa: ANN202
    """A forward hook storing (input shape, output shape) under `name`."""

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        shapes[name] = (args[0].shape, out.shape)

    return hook


def _geometry(convs: list[tuple[str, nn.Conv2d]], shapes: dict, k: int) -> ConvGeometry:
    """ConvGeometry of conv k from the recorded shapes."""
    name, conv = convs[k]
    _, c, h, w = shapes[name][1]
    if k + 1 == len(convs):
        return ConvGeometry(name, int(c), int(h), int(w))
    nxt_name, nxt = convs[k + 1]
    nh, nw = shapes[nxt_name][0][2:]
    if nh > h or nw > w or h // nh != w // nw:
        raise GraphstoreError(
            f"{nxt_name} reads a {nh}x{nw} map after {name}'s {h}x{w} output; multilayer needs square pools.",
            f"Use a plain conv/pool chain ({', '.join(conv_stack_models())}).",
        )
    kernel = (int(nxt.kernel_size[0]), int(nxt.kernel_size[1]))
    return ConvGeometry(name, int(c), int(h), int(w), int(h // nh), kernel)


def record_class_maps(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    input_shape: tuple[int, ...],
    *,
    activations: bool = True,
    responses: bool = False,
    reduce_channels: bool = True,
) -> FeatureMaps:
    """Class-averaged post-ReLU maps (and/or raw conv outputs) of every conv over all batches, no grad."""
    layers = conv_geometry(model, input_shape)
    convs = conv_modules(model)
    device = next(model.parameters()).device
    acts = _accumulators(layers, num_classes, reduce_channels, device) if activations else None
    resp = _accumulators(layers, num_classes, reduce_channels, device) if responses else None
    labels: list[torch.Tensor] = []
    hooks = []
    for k, (name, conv) in enumerate(convs):
        if acts is not None:
            relu = activation_module(model, name)
            target, post = (relu, False) if relu is not None else (conv, True)
            hooks.append(target.register_forward_hook(_sum_hook(acts, k, labels, reduce_channels, post)))
        if resp is not None:
            hooks.append(conv.register_forward_hook(_sum_hook(resp, k, labels, reduce_channels, False)))
    counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for xb, yb in batches:
                labels[:] = [yb.to(device)]
                counts += torch.bincount(labels[0], minlength=num_classes)[:num_classes]
                model(xb.to(device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    scale = (1.0 / counts.clamp_min(1)).view(-1, 1, 1, 1).float()
    for maps in (acts or []) + (resp or []):
        maps.mul_(scale)
    return FeatureMaps(layers, acts, resp, counts.cpu(), reduce_channels)


def _accumulators(
    layers: list[ConvGeometry], num_classes: int, reduce_channels: bool, device: torch.device
) -> list[torch.Tensor]:
    """Zeroed per-class sums, one (classes, C or 1, H, W) tensor per conv."""
    return [
        torch.zeros(num_classes, 1 if reduce_channels else g.channels, g.height, g.width, device=device) for g in layers
    ]


def _sum_hook(acc: list[torch.Tensor], k: int, labels: list[torch.Tensor], reduce: bool, relu: bool):  # noqa: ANN202
    """A forward hook adding the batch's outputs (channel-averaged if `reduce`) into per-class sums."""

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        value = torch.relu(out) if relu else out
        value = value.mean(1, keepdim=True) if reduce else value
        acc[k].index_add_(0, labels[0], value.float())

    return hook


def loader_batches(
    data: LoadedDataset, split: str, batch_size: int, device: str, limit: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of a LoadedDataset split on `device`; with a `limit`, a seeded uniform sample of that many
    (a split stored class by class, as mnist-5k's, would otherwise give its first one or two classes only)."""
    if split not in data.splits:
        raise GraphstoreError(
            f"The dataset {data.info.name} has no {split!r} split.", f"Use one of: {', '.join(data.splits)}."
        )
    seen = 0
    for xb, yb in data.loader(split, batch_size=batch_size, device=device, shuffle=limit > 0, seed=0):
        if limit and seen + len(yb) > limit:
            xb, yb = xb[: limit - seen], yb[: limit - seen]
        if len(yb):
            yield xb, yb
        seen += len(yb)
        if limit and seen >= limit:
            return
