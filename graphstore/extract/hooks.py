"""Unit activations of any PyTorch model through forward hooks (docs/METHODS.md C1b), for co-activation and kNN.

Layers are chosen as for the data-flow weight graph (names or globs, dataflow's matcher and errors) and their units
keyed by the same layout, so a neuron has one key in the weight and the co-activation graph. Per sample, a Linear
unit is its output feature averaged over every dimension between batch and features (tokens), a conv unit is its
output channel averaged over positions (000's convention). "pre" reads the module's output, "post" the activation
directly after it (graphstore.extract.hooks_taps says which, per layer, in `recorded_at`). Batches run under
inference_mode and eval mode, written into arrays allocated once (the units' widths are known from the modules, the
latent's from the first batch); a hook's work is one reduction and one copy per tap (measured against a plain
forward by bench/foreign_models.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from graphstore.extract.activations import Recorded
from graphstore.extract.coactivation import CoactivationParams, correlation_graph
from graphstore.extract.dataflow import chosen_units, layout_of
from graphstore.extract.dataflow_trace import reference_attention, traced
from graphstore.extract.hooks_data import (
    batches_of,
    first_batch,
    run_checked,
)
from graphstore.extract.hooks_taps import (
    WHERE,
    HookError,
    Tap,
    calls_per_forward,
    hookable,
    latent_tap,
    unit_tap,
    unit_values,
)
from graphstore.extract.knn import KnnParams, knn_graphs
from graphstore.extract.weights import NeuronLayout
from graphstore.graph import Graph


@dataclass
class UnitRecording:
    """Unit activations (samples x units, float32, chosen layers side by side in forward order) and per sample its
    label, the model's prediction (argmax of a 2-D output, else -1) and the latent embedding."""

    values: np.ndarray
    layers: list[str]
    columns: dict[str, slice]
    layout: NeuronLayout  # keys of inputs then of `layers`' units: dataflow_weight_graph's for the same layers
    labels: np.ndarray
    predictions: np.ndarray
    latent: np.ndarray | None
    latent_source: str | None
    where: str
    recorded_at: dict[str, str]
    skipped: list[str]

    def of(self, layer: str) -> np.ndarray:
        """One layer's units (a view, samples x units)."""
        return self.values[:, self.columns[layer]]

    @property
    def unit_keys(self) -> np.ndarray:
        """Node keys of the recorded units, in column order."""
        return self.layout.keys[self.layout.layer_type != "input"]


class Recorder:
    """Forward hooks writing each tap's values at the current batch's rows: unit taps into their columns of one
    matrix allocated up front, the latent into an array allocated when the first batch gives its width."""

    def __init__(self, model: nn.Module, taps: list[Tap], latent: Tap | None, n: int, calls: dict[str, int]) -> None:
        self.model, self.taps, self.latent_tap, self.n, self.expected = model, taps, latent, n, calls
        self.starts = np.concatenate([[0], np.cumsum([t.units for t in taps])]).astype(int)
        self.values = np.empty((n, int(self.starts[-1])), np.float32)
        self.at: dict[tuple[str, int], list[tuple[Tap, slice]]] = {}  # (module, call) -> its taps and columns
        for i, tap in enumerate(taps):
            columns = slice(int(self.starts[i]), int(self.starts[i + 1]))
            self.at.setdefault((tap.module, tap.call), []).append((tap, columns))
        self.latent: np.ndarray | None = None
        self.calls: dict[str, int] = {}
        self.row, self.take = 0, 0

    def attach(self) -> list[Any]:
        """One pre- and one forward hook per tapped module, dispatching on its call number within the forward."""
        handles = []
        for name in self.expected:
            module = self.model.get_submodule(name)
            handles.append(module.register_forward_pre_hook(self.hook(name, True)))
            handles.append(module.register_forward_hook(self.hook(name, False)))
        return handles

    def hook(self, name: str, pre: bool) -> Callable[..., None]:
        """The hook of module `name` (its input when `pre`, else its output)."""

        def fire(module: nn.Module, inputs: tuple[Any, ...], out: Any = None) -> None:
            call = self.calls.get(name, 0)
            for tap, columns in () if pre else self.at.get((name, call), ()):
                self.values[self.row : self.row + self.take, columns] = unit_values(tap, out, self.take).cpu().numpy()
            lt = self.latent_tap
            if lt is not None and (lt.module, lt.call, lt.pre) == (name, call, pre):
                self.write_latent(inputs[0] if pre else out)
            if not pre:
                self.calls[name] = call + 1

        return fire

    def write_latent(self, value: Any) -> None:
        """The latent, flattened per sample (the array is allocated at the first batch)."""
        if not isinstance(value, torch.Tensor) or len(value) != self.take:
            raise HookError(f"The latent is {type(value).__name__}, not a batch-first tensor.", "Choose latent=.")
        x = value.detach().float().reshape(self.take, -1).cpu().numpy()
        if self.latent is None:
            self.latent = np.empty((self.n, x.shape[1]), np.float32)
        self.latent[self.row : self.row + self.take] = x

    def start(self, row: int, take: int) -> None:
        """Before a forward: where its rows go."""
        self.row, self.take, self.calls = row, take, {}

    def check_calls(self) -> None:
        """After a forward: every tapped module ran as often as the trace says (else a call number is ambiguous)."""
        for name, expected in self.expected.items():
            if self.calls.get(name, 0) != expected:
                raise HookError(
                    f"Module {name} ran {self.calls.get(name, 0)} times in a forward; the fx trace shows {expected}.",
                    "Its calls cannot be told apart: choose layers= or latent= outside it, or use where='pre'.",
                )


def run_recorder(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    recorder: Recorder,
    device: str,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Forward the batches in eval mode under inference_mode with the hooks on; (labels, predictions, samples)."""
    n = recorder.n
    labels, predictions = np.empty(n, np.int64), np.full(n, -1, np.int64)
    handles = recorder.attach()
    was_training, row = model.training, 0
    model.eval()
    try:
        with torch.inference_mode(), reference_attention():
            for x, y in batches:
                take = min(len(x), n - row)
                if take <= 0:
                    break
                recorder.start(row, take)
                out = run_checked(model, x[:take].to(device))
                recorder.check_calls()
                labels[row : row + take] = y[:take].cpu().numpy()
                if isinstance(out, torch.Tensor) and out.ndim == 2 and len(out) == take:
                    predictions[row : row + take] = out.argmax(dim=1).cpu().numpy()
                row += take
                if progress is not None:
                    progress(row, n)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return labels[:row], predictions[:row], row


def first_of(model: nn.Module, data: Any, batch_size: int, limit: int | None, device: str) -> tuple[Any, int, Any]:
    """(batches, samples, first inputs on device): the model moved to device and checked on one sample."""
    loader, n = batches_of(data, batch_size, limit)
    batches = first_batch(loader)
    x0, y0 = next(batches)
    model.to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), reference_attention():
            run_checked(model, x0[:1].to(device))
    finally:
        model.train(was_training)
    return itertools.chain([(x0, y0)], batches), n, x0[:1].to(device)


def record_units(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None = None,
    *,
    where: str = "post",
    latent: str | None = None,
    class_names: Sequence[str] | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> UnitRecording:
    """Record the units of `layers` (names or globs; default every unit layer a hook can read) and the latent over
    `data` ((input, label) pairs: a Dataset or DataLoader), in the weight graph's key layout. Moves the model to
    `device`."""
    if where not in WHERE:
        raise HookError(f"Unknown where={where!r}.", f"Choose one of {', '.join(WHERE)}.")
    batches, n, example = first_of(model, data, batch_size, limit, device)
    chosen, flow = chosen_units(model, example, layers)
    gm = cast(fx.GraphModule, flow.module)
    keep, skipped = hookable(gm, chosen, bool(layers))
    if not keep:
        raise HookError(
            "The model has no Linear or Conv module a hook can read.", "Record a model with Linear/Conv layers."
        )
    taps, recorded_at = [], {}
    for layer in keep:
        tap, words = unit_tap(gm, layer.name, layer.kind, layer.units, where)
        taps.append(tap)
        recorded_at[layer.name] = words
    lt, source = latent_tap(model, gm, latent)
    modules = [t.module for t in taps] + ([lt.module] if lt else [])
    recorder = Recorder(model, taps, lt, n, calls_per_forward(gm, modules))
    labels, predictions, rows = run_recorder(model, batches, recorder, device, progress)
    names = [layer.name for layer in keep]
    starts = recorder.starts
    return UnitRecording(
        recorder.values[:rows],
        names,
        {name: slice(int(a), int(b)) for name, a, b in zip(names, starts[:-1], starts[1:], strict=True)},
        layout_of(keep, flow.sets, class_names),
        labels,
        predictions,
        None if recorder.latent is None else recorder.latent[:rows],
        source,
        where,
        recorded_at,
        skipped,
    )


def record_latent(
    model: nn.Module,
    data: Any,
    latent: str | None = None,
    *,
    batch_size: int = 256,
    device: str = "cpu",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Recorded, str]:
    """Only the latent embedding (default: the last Linear's input), labels and predictions; and where it was read."""
    batches, n, _ = first_of(model, data, batch_size, limit, device)
    gm = traced(model, None)[0] if latent is None else None
    lt, source = latent_tap(model, gm, latent)
    if lt is None or source is None:
        raise HookError("The model has no Linear layer whose input would be the latent.", "Pass latent='MODULE'.")
    recorder = Recorder(model, [], lt, n, calls_per_forward(gm, [lt.module]))
    labels, predictions, rows = run_recorder(model, batches, recorder, device, progress)
    values = cast(np.ndarray, recorder.latent)[:rows]
    return Recorded(values, labels, predictions, np.arange(rows, dtype=np.int64)), source


def coactivation_graph_of(
    model: nn.Module,
    data: Any,
    layers: Sequence[str] | None = None,
    *,
    where: str = "post",
    threshold: float = 0.5,
    rescale: str = "linear",
    class_names: Sequence[str] | None = None,
    graph_id: str = "coactivation",
    batch_size: int = 256,
    device: str = "cpu",
    limit: int | None = None,
    chunk: int = 256,
    sample_chunk: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Graph:
    """The co-activation graph (C2) of any model's units, keyed as its data-flow weight graph."""
    if not -1.0 <= threshold <= 1.0:
        raise HookError(f"threshold={threshold} is not a correlation.", "Use a value in [-1, 1].")
    rec = record_units(
        model, data, layers, where=where, class_names=class_names, batch_size=batch_size, device=device,
        limit=limit, progress=progress,
    )  # fmt: skip
    params = CoactivationParams("", limit or 0, tuple(rec.layers), where, threshold, rescale, batch_size, device, chunk)
    params.sample_chunk = sample_chunk
    graph = correlation_graph(graph_id, rec.values, rec.layout, rec.layout.layer_type != "input", params, class_names)
    graph.params.update(method="hooks", split=None, recorded_at=rec.recorded_at, skipped=rec.skipped)
    return graph


def knn_graph_of(
    model: nn.Module,
    data: Any,
    k: int | Sequence[int] = (4, 8, 16),
    *,
    metric: str = "l1",
    latent: str | None = None,
    graph_id: str = "knn",
    batch_size: int = 256,
    device: str = "cpu",
    limit: int | None = None,
    approximate: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Graph]:
    """The latent kNN sample graphs (C4), one per k (`<graph_id>-k<k>`), of any model; Sample nodes in data order."""
    ks = (k,) if isinstance(k, int) else tuple(k)
    rec, source = record_latent(model, data, latent, batch_size=batch_size, device=device, limit=limit)
    params = KnnParams(ks, metric, "", limit or 0, approximate, batch_size=batch_size, device=device)
    graphs = knn_graphs(graph_id, rec, params, "data", progress)
    for graph in graphs:
        graph.params.update(method="hooks", split=None, latent=source)
    return graphs
