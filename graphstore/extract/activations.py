"""Forward hooks that record chosen modules' outputs (or the output layer's input) over a split.

A conv channel is reduced to the spatial mean of its feature map, so every unit gives one number per sample.
"post" (the co-activation default, 000's activation values) records the output of the ReLU that follows the
layer in the model's module order (after BN where the model has it; the output layer keeps its logits); "pre"
records the layer's own output, before BN and ReLU. Batched, under inference mode, written into
one preallocated float32 matrix (samples x units), so memory is the matrix and one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.nn.datasets.base import LoadedDataset
from graphstore.nn.models.base import PrunableLayer, prunable

WHERE = ("pre", "post")


class LayerNotFound(GraphstoreError):
    """A layer name given by the user is not a prunable layer of the model."""


@dataclass
class Recorded:
    """Activations of a split: one column per unit, with the sample order of the split."""

    values: np.ndarray  # (N, units) float32
    labels: np.ndarray  # (N,) int64 targets
    predictions: np.ndarray  # (N,) int64 argmax of the output
    indices: np.ndarray  # (N,) original sample indices of the split


def select_layers(model: nn.Module, names: Sequence[str] | None) -> list[tuple[str, PrunableLayer]]:
    """The prunable layers named (all, in forward order, when names is empty); unknown names raise."""
    layers = prunable(model).prunable_layers()
    if not names:
        return layers
    known = dict(layers)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise LayerNotFound(
            f"No layer named {', '.join(unknown)} in this model.", f"Layers with units: {', '.join(known)}."
        )
    wanted = set(names)
    return [(n, m) for n, m in layers if n in wanted]


def post_modules(model: nn.Module, layers: Sequence[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """For each layer, the first ReLU after it in module order (the output layer keeps its logits)."""
    order = [(n, m) for n, m in model.named_modules() if n]
    position = {n: i for i, (n, _) in enumerate(order)}
    output = prunable(model).prunable_layers()[-1][0]
    out = []
    for name, module in layers:
        relu = next((pair for pair in order[position[name] + 1 :] if isinstance(pair[1], nn.ReLU)), None)
        if name == output:
            out.append((name, module))
        elif relu is None:
            raise LayerNotFound(
                f"No ReLU follows layer {name}; cannot record post-activation values.",
                "Record pre-activation values instead (--opt where=pre).",
            )
        else:
            out.append((name, relu[1]))
    return out


def _reduce(out: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C) by spatial mean over the flattened positions (the same values as mean(dim=(2, 3)),
    which was slower at 1 x 1 maps in some runs); (B, F) unchanged."""
    return out.float().flatten(2).mean(-1) if out.ndim == 4 else out.float().reshape(len(out), -1)


def record(
    model: nn.Module,
    data: LoadedDataset,
    split: str,
    layers: Sequence[tuple[str, nn.Module]],
    where: str = "post",
    batch_size: int = 512,
    device: str = "cpu",
    limit: int = 0,
    progress=None,
) -> Recorded:
    """Record the units of `layers` for every sample of a split (or `limit` of them) in one matrix."""
    hooked = post_modules(model, layers) if where == "post" else list(layers)
    widths = [unit_count(m) for _, m in layers]
    starts = np.concatenate([[0], np.cumsum(widths)])
    return _run(
        model,
        data,
        split,
        batch_size,
        device,
        limit,
        progress,
        int(starts[-1]),
        lambda buf, rows: [
            (m, _writer(buf, rows, int(a), int(b)))
            for (_, m), a, b in zip(hooked, starts[:-1], starts[1:], strict=True)
        ],
    )


def latents(
    model: nn.Module,
    data: LoadedDataset,
    split: str,
    batch_size: int = 512,
    device: str = "cpu",
    limit: int = 0,
    progress=None,
) -> Recorded:
    """The input of the output layer (the classifier's latent vector) for every sample of a split."""
    _, out_layer = prunable(model).prunable_layers()[-1]
    width = int(cast(torch.Tensor, out_layer.weight).shape[1])

    def hooks(buf: np.ndarray, rows: list[int]) -> list:
        def pre(module: nn.Module, inputs: tuple) -> None:
            x = inputs[0].detach().float().reshape(len(inputs[0]), -1)
            buf[rows[0] : rows[0] + len(x)] = x.cpu().numpy()

        return [(out_layer, pre, True)]

    return _run(model, data, split, batch_size, device, limit, progress, width, hooks)


def unit_count(module: nn.Module) -> int:
    """Units of a Conv2d/Linear (a ReLU stands for its layer and is not asked)."""
    return int(cast(torch.Tensor, module.weight).shape[0])


def _writer(buf: np.ndarray, rows: list[int], start: int, stop: int):
    """A forward hook copying the reduced output into columns [start, stop) at the current batch rows."""

    def hook(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        values = _reduce(out.detach())
        buf[rows[0] : rows[0] + len(values), start:stop] = values.cpu().numpy()

    return hook


def _run(
    model: nn.Module,
    data: LoadedDataset,
    split: str,
    batch_size: int,
    device: str,
    limit: int,
    progress,
    width: int,
    make_hooks,
) -> Recorded:
    """Forward the split once with hooks writing into a preallocated (N, width) matrix."""
    if split not in data.splits:
        raise GraphstoreError(
            f"Dataset {data.info.name} has no {split!r} split.", f"Choose one of: {', '.join(data.splits)} (--split)."
        )
    n = data.size(split) if limit <= 0 else min(limit, data.size(split))
    buf = np.empty((n, width), dtype=np.float32)
    labels, preds = np.empty(n, np.int64), np.empty(n, np.int64)
    rows = [0]
    handles = []
    for spec in make_hooks(buf, rows):
        module, fn = spec[0], spec[1]
        pre = len(spec) > 2 and spec[2]
        handles.append(module.register_forward_pre_hook(fn) if pre else module.register_forward_hook(fn))
    model = model.to(device).eval()
    try:
        with torch.inference_mode():
            for xb, yb in data.loader(split, batch_size=batch_size, device=device):
                take = min(len(xb), n - rows[0])
                if take <= 0:
                    break
                out = model(xb[:take])
                labels[rows[0] : rows[0] + take] = yb[:take].cpu().numpy().reshape(take, -1)[:, 0]
                preds[rows[0] : rows[0] + take] = out.argmax(dim=1).cpu().numpy()
                rows[0] += take
                if progress is not None:
                    progress(rows[0], n)
    finally:
        for h in handles:
            h.remove()
    return Recorded(buf, labels, preds, np.asarray(data.splits[split].indices)[:n])
