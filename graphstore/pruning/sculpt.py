"""`sculpt`: neural sculpting (METHODS E, 002): unit pruning by loss sensitivity, then edge pruning by |w|.

A masked MLP is trained on a Boolean task's full truth table. Unit phase: score every live hidden unit by
s_u = mean over the table of |a_u(x)| * |dL(x)/da_u(x)| (post-ReLU), rank globally over hidden layers, prune
the lowest up to the target (and any tied with the last), retrain from the current weights (fresh optimiser),
accept if accuracy >= threshold; on rejection roll back and halve the step (in units, down to one); stop when a
one-unit step fails. Edge phase (after one more retraining of the unit-pruned net, as the authors): the same
loop on |w| over all weight matrices (biases are not ranked), step in weights. Targets are cumulative: target =
pruned so far + step, where the first step is P percent of the dense count (so accepted targets follow P * i
percent until a rejection halves the step). A sweep over (P_u, P_e) keeps the sparsest accepted network. As in
the authors' code, the dense network need not meet the threshold: the first retrained pruning step must (when
none does, the run ends with a message and nothing pruned). Biases of units left without incoming weights are
masked, and the MLP starts from the authors' init (Kaiming normal, zero bias).

    result = sculpt(model, data, SculptConfig(task="input-separable"))
    run = run_sculpt(data_dir, tracking_url, SculptConfig(task="input-separable", widths=(24, 24)))
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from graphstore.nn.checkpoint import Tensors, checkpoint_path, cpu_state, make_checkpoint, save_checkpoint
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import DatasetSpec, load_dataset
from graphstore.nn.datasets.base import LoadedDataset
from graphstore.nn.models import make_model, spec_of
from graphstore.nn.models.base import prunable
from graphstore.nn.train import Callback, TrainState, evaluate, seed_everything, train
from graphstore.params import to_dict
from graphstore.pruning import units as U
from graphstore.pruning.common import PruningRun, Start, torch_threads
from graphstore.pruning.params import SWEEP_EDGES as SWEEP_EDGES
from graphstore.pruning.params import SWEEP_UNITS as SWEEP_UNITS
from graphstore.pruning.params import SculptConfig as SculptConfig

Metrics = dict[str, float]


@dataclass
class Step:
    """One pruning attempt: phase, sweep setting, target, outcome and the resulting density and accuracy."""

    index: int
    phase: str
    p: float
    size: int
    target: int
    accepted: bool
    acc: float
    density: float
    units_kept: int

    def metrics(self) -> Metrics:
        """The step as tracking metrics."""
        return {
            "phase_edge": float(self.phase == "edge"),
            "p": self.p,
            "step_size": float(self.size),
            "target": float(self.target),
            "accepted": float(self.accepted),
            "acc": self.acc,
            "density": self.density,
            "units_kept": float(self.units_kept),
        }


@dataclass
class State:
    """A network state: weights, masks, accuracy."""

    weights: Tensors
    masks: Tensors
    acc: float


@dataclass
class SculptResult:
    """The kept network (sparsest accepted, or the last good state), its shape, and every step taken."""

    state: State
    density: float
    arch: list[int]
    p_unit: float | None
    p_edge: float | None
    steps: list[Step]
    met: bool
    message: str
    seconds: float


def activations_and_grads(model: nn.Module, data: LoadedDataset) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(a(x), dL(x)/da(x)) of every hidden ReLU over the full table, with L(x) the per-row training loss."""
    device = next(model.parameters()).device
    x, y = data.tensors("train", device)
    model.eval()
    acts, h = [], x
    for name, module in model.named_children():
        h = module(h)
        if name.startswith("relu"):
            acts.append(h)
    loss = F.binary_cross_entropy_with_logits(h, y, reduction="sum") / y.shape[1]
    grads = torch.autograd.grad(loss, acts)
    model.train()
    return [(a.detach(), g.detach()) for a, g in zip(acts, grads, strict=True)]


def unit_scores(model: nn.Module, data: LoadedDataset) -> dict[str, torch.Tensor]:
    """s_u = mean over the table of |a_u| * |dL/da_u| per hidden layer (names as in unit_layers)."""
    layers = U.unit_layers(model)
    pairs = activations_and_grads(model, data)
    return {layer.name: (a.abs() * g.abs()).mean(0).cpu() for layer, (a, g) in zip(layers, pairs, strict=True)}


def dead_biases(model: nn.Module, masks: Tensors) -> Tensors:
    """Masks with the bias of every unit without a kept incoming weight masked too (the authors' get_bias_mask).

    Such a unit (hidden or output) is dead, not a trainable constant relu(b) that feeds later units through
    edges module detection cannot see (it drops units without incoming edges).
    """
    params, out = dict(model.named_parameters()), dict(masks)
    for n, _ in prunable(model).prunable_layers():
        if f"{n}.weight" in masks and f"{n}.bias" in params:
            out[f"{n}.bias"] = U.merge(masks.get(f"{n}.bias"), masks[f"{n}.weight"].flatten(1).any(1).cpu())
    return out


def prune_units(model: nn.Module, data: LoadedDataset, masks: Tensors, count: int) -> Tensors:
    """Masks with `count` more units removed: the lowest scores among live units, ranked over all layers.

    Live units tied with the last one removed go too (the authors prune every score <= the percentile, so
    units that are never active, score 0, all go at once).
    """
    scores, alive = unit_scores(model, data), U.kept_units(model, masks)
    names = list(scores)
    flat = torch.cat([scores[n].masked_fill(~alive[n], float("inf")) for n in names])
    keep_flat = torch.cat([alive[n] for n in names])
    order = torch.argsort(flat, stable=True)
    keep_flat[order[:count]] = False
    keep_flat[flat <= flat[order[count - 1]]] = False
    keep = dict(zip(names, torch.split(keep_flat, [len(scores[n]) for n in names]), strict=True))
    return dead_biases(model, U.combine(masks, U.unit_masks(model, keep)))


def prune_edges(model: nn.Module, masks: Tensors, count: int) -> Tensors:
    """Masks with the `count` smallest |w| among live weights removed (global over weight matrices)."""
    names = [f"{n}.weight" for n, _ in prunable(model).prunable_layers()]
    params = dict(model.named_parameters())
    current = {n: masks.get(n, torch.ones_like(params[n], dtype=torch.bool, device="cpu")) for n in names}
    flat = torch.cat([params[n].detach().abs().cpu().masked_fill(~current[n], float("inf")).flatten() for n in names])
    keep = torch.cat([current[n].flatten() for n in names])
    keep[torch.argsort(flat, stable=True)[:count]] = False
    sizes = [current[n].numel() for n in names]
    new = {n: k.view(current[n].shape) for n, k in zip(names, torch.split(keep, sizes), strict=True)}
    return dead_biases(model, {**masks, **new})


def pruned_units(model: nn.Module, masks: Tensors) -> int:
    """Hidden units removed so far."""
    return sum(n - k for k, n in U.unit_counts(model, masks).values())


def pruned_weights(model: nn.Module, masks: Tensors) -> int:
    """Weight entries removed so far."""
    return sum(
        int((~masks[f"{n}.weight"]).sum()) for n, _ in prunable(model).prunable_layers() if f"{n}.weight" in masks
    )


def total_weights(model: nn.Module) -> int:
    """Dense weight entries over all weight matrices."""
    return sum(m.weight.numel() for _, m in prunable(model).prunable_layers())


class AuthorsBest(Callback):
    """Keeps the epoch the authors' `train_network` keeps: the best validation accuracy, ties to the lower loss.

    (graphstore's restore_best watches the loss alone, which can keep an epoch with a wrong bit.)
    """

    def __init__(self) -> None:
        self.acc, self.loss, self.weights = -1.0, math.inf, cast("dict[str, torch.Tensor] | None", None)

    def on_epoch_end(self, state: TrainState, metrics: Metrics) -> None:
        """Remember this epoch's weights if they beat the kept ones."""
        acc, loss = metrics.get("val_acc", metrics["acc"]), metrics.get("val_loss", metrics["loss"])
        if acc > self.acc or (acc == self.acc and loss <= self.loss):
            self.acc, self.loss, self.weights = acc, loss, copy.deepcopy(state.model.state_dict())


def retrain(model: nn.Module, data: LoadedDataset, masks: Tensors, config: TrainConfig) -> float:
    """Retrain the masked model from its current weights (fresh optimiser); its table accuracy afterwards."""
    best = AuthorsBest()
    train(model, data, replace(config, restore_best=False), [best], masks=masks)
    if best.weights is not None:
        model.load_state_dict(best.weights)
    return evaluate(model, data, "test")["acc"]


def prune_loop(
    model: nn.Module,
    data: LoadedDataset,
    state: State,
    phase: str,
    p: float,
    method: SculptConfig,
    on_step: Callable[[Step], None],
) -> State:
    """Prune in steps while accuracy >= threshold; halve the step on rejection; stop at a failed one-step."""
    config = method.train_config(method.retrain_epochs)
    total = sum(layer.size for layer in U.unit_layers(model)) if phase == "unit" else total_weights(model)
    size = max(1, round(p / 100 * total))
    while True:
        done = pruned_units(model, state.masks) if phase == "unit" else pruned_weights(model, state.masks)
        size = min(size, total - 1 - done)
        if size < 1:
            return state
        masks = (
            prune_units(model, data, state.masks, size) if phase == "unit" else prune_edges(model, state.masks, size)
        )
        acc = retrain(model, data, masks, config)
        accepted = acc >= method.threshold
        on_step(
            Step(
                0,
                phase,
                p,
                size,
                done + size,
                accepted,
                acc,
                U.weight_density(model, masks),
                sum(k for k, _ in U.unit_counts(model, masks).values()),
            )
        )
        if accepted:
            state = State(copy.deepcopy(model.state_dict()), masks, acc)
            continue
        model.load_state_dict(state.weights)
        if size == 1:
            return state
        size //= 2


def pruned_arch(model: nn.Module, masks: Tensors) -> list[int]:
    """[inputs used, hidden units with both in- and out-edges per layer..., outputs] of the masked MLP."""
    layers = prunable(model).prunable_layers()
    m = [masks.get(f"{n}.weight", torch.ones_like(mod.weight, dtype=torch.bool)).cpu() for n, mod in layers]
    hidden = [int((m[i].any(1) & m[i + 1].any(0)).sum()) for i in range(len(m) - 1)]
    return [int(m[0].any(0).sum()), *hidden, int(m[-1].shape[0])]


def sculpt(
    model: nn.Module,
    data: LoadedDataset,
    method: SculptConfig,
    on_step: Callable[[Step], None] | None = None,
) -> SculptResult:
    """Train dense, then unit and edge pruning (one setting, or the sweep); keep the sparsest accepted net."""
    with torch_threads(1):  # tiny MLPs are many times faster single-threaded
        return _sculpt(model, data, method, on_step)


def _sculpt(
    model: nn.Module,
    data: LoadedDataset,
    method: SculptConfig,
    on_step: Callable[[Step], None] | None,
) -> SculptResult:
    """The body of `sculpt`."""
    tic = time.perf_counter()
    steps: list[Step] = []

    def record(step: Step) -> None:
        step.index = len(steps) + 1
        steps.append(step)
        if on_step is not None:
            on_step(step)

    acc = retrain(model, data, {}, method.train_config(method.epochs))
    dense = State(copy.deepcopy(model.state_dict()), {}, acc)
    record(Step(0, "dense", 0.0, 0, 0, acc >= method.threshold, acc, 1.0, prunable(model).hidden_neurons()))
    grid = [(pu, method.p_edges) for pu in method.p_units] if method.sweep else [(method.p_unit, (method.p_edge,))]
    best: tuple[State, float, float] | None = None
    for p_unit, p_edges in grid:
        model.load_state_dict(dense.weights)
        after_units = prune_loop(model, data, dense, "unit", p_unit, method, record)
        if after_units.acc < method.threshold:  # a dense net below the threshold and no step accepted
            continue
        after_units = retrained(model, data, after_units, method)
        for p_edge in p_edges:
            model.load_state_dict(after_units.weights)
            final = prune_loop(model, data, after_units, "edge", p_edge, method, record)
            if best is None or U.weight_density(model, final.masks) < U.weight_density(model, best[0].masks):
                best = (final, p_unit, p_edge)
    if best is None:
        return _result(model, dense, None, None, steps, False, _unmet(acc, method), tic)
    state, p_unit, p_edge = best
    return _result(model, state, p_unit, p_edge, steps, True, "", tic)


def retrained(model: nn.Module, data: LoadedDataset, state: State, method: SculptConfig) -> State:
    """The unit-pruned state retrained once more before edge pruning (the authors' run/prune.py edge branch),
    kept if it still meets the threshold."""
    model.load_state_dict(state.weights)
    acc = retrain(model, data, state.masks, method.train_config(method.retrain_epochs))
    return State(copy.deepcopy(model.state_dict()), state.masks, acc) if acc >= method.threshold else state


def _unmet(acc: float, method: SculptConfig) -> str:
    """Why nothing was kept: the dense net and every retrained unit-pruning step stayed below the threshold."""
    return (
        f"The dense network reached accuracy {acc:.4f} < threshold {method.threshold} after {method.epochs} "
        f"epochs and no unit-pruning step reached it after retraining; nothing was pruned (the dense state is "
        f"kept). Train longer (--epochs, --retrain-epochs), raise --lr or widths, or lower --threshold."
    )


def _result(
    model: nn.Module,
    state: State,
    p_unit: float | None,
    p_edge: float | None,
    steps: list[Step],
    met: bool,
    message: str,
    tic: float,
) -> SculptResult:
    """Load the kept state into the model and describe it."""
    model.load_state_dict(state.weights)
    U.apply_unit_masks(model, state.masks)
    density = U.weight_density(model, state.masks)
    return SculptResult(
        state, density, pruned_arch(model, state.masks), p_unit, p_edge, steps, met, message, time.perf_counter() - tic
    )


# ---- tracked runs -------------------------------------------------------------------------------------------


@dataclass
class SculptRun:
    """A finished tracked run: its id, the result and the final checkpoint."""

    run_id: int | str
    result: SculptResult
    checkpoint: Path


def build(method: SculptConfig, data_dir: str | Path | None = None) -> tuple[nn.Module, LoadedDataset]:
    """The task's truth table and a freshly initialised MLP of the given widths (seeded, authors' init)."""
    data = load_dataset(DatasetSpec("boolean-modular", {"task": method.task, "outputs": method.outputs}), data_dir)
    seed_everything(method.seed)
    model = make_model("mlp", data.info, {"hidden": tuple(method.widths)})
    authors_init(model)
    return model, data


def authors_init(model: nn.Module) -> None:
    """Kaiming-normal weights (std sqrt(2 / fan_in)) and zero biases, as the authors' `_initialize_weights`."""
    with torch.no_grad():
        for _, module in prunable(model).prunable_layers():
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def run_sculpt(
    data_dir: str | Path,
    tracking_url: str | None,
    method: SculptConfig,
    name: str | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> SculptRun:
    """`sculpt` as a tracked run: one metrics row per step, the kept network as a checkpoint with masks."""
    model, data = build(method, data_dir)
    start = Start(model, data, cpu_state(model))
    params = {
        "method": to_dict(method),
        "model": spec_of(model).to_dict(),
        "dataset": data.spec.to_dict(),
        "ground_truth": data.meta.get("ground_truth"),
    }
    default = f"sculpt-{method.task}-{'x'.join(map(str, method.widths))}"
    with PruningRun(
        data_dir, tracking_url, "prune-sculpt", name or default, params, start, method.seed, method.device
    ) as run:

        def step(s: Step) -> None:
            run.metrics(s.index, s.metrics())
            if on_step is not None:
                on_step(s)

        result = sculpt(model, data, method, step)
        met = {"p_unit": result.p_unit, "p_edge": result.p_edge} if result.met else {}
        summary = {
            "acc": result.state.acc,
            "density": result.density,
            "met": float(result.met),
            **cast("dict[str, float]", met),
        }  # both levels are set whenever the target was met
        extra = {
            "method": "sculpt",
            "sculpt": to_dict(method),
            "arch": result.arch,
            "message": result.message,
            "ground_truth": data.meta.get("ground_truth"),
            "splits": data.meta.get("splits", {}),
        }
        ckpt = make_checkpoint(
            model,
            data.spec,
            data.info,
            method.retrain_epochs,
            masks=result.state.masks,
            theta0=start.theta0,
            round=len(result.steps),
            metrics=summary,
            run_id=run.run_id,
            extra=extra,
        )
        path = save_checkpoint(ckpt, checkpoint_path(data_dir, run.run_id, method.retrain_epochs, len(result.steps)))
        run.log.checkpoint(ckpt)
    return SculptRun(run.run_id, result, path)
