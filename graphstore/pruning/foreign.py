"""Pruning any torch.nn.Module (docs/METHODS.md B1, "Any model"): magnitude masks, IMP and T-IMP on its Linear and
Conv layers, with the user's own `train_fn(model) -> metrics` as the retraining step.

What is pruned: the `weight` of every chosen nn.Linear / nn.Conv1d / nn.Conv2d / nn.Conv3d (all of them, or those
`layers=` names or glob patterns choose); never biases, batch-norm or other parameters. A round drops
round(rate x survivors) of the chosen weights by |w|, over all chosen layers at once (scope "global") or per layer
("layer"), with graphstore.pruning.imp's kernel (magnitude_prune), then rewinds the survivors to theta_0 (or keeps
the trained weights with rewind="none") and calls train_fn with the masks held: every forward sees masked weights,
masked gradients are zero, and the masks are applied again when train_fn returns. T-IMP forces each layer's
maximum spanning forest to stay first (graphstore.pruning.msf), as graphstore.pruning.topology does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from graphstore.extract.dataflow_trace import UNIT_MODULES, choose_layers
from graphstore.nn.checkpoint import Tensors, apply_masks, cpu_state
from graphstore.nn.train import masked_gradients
from graphstore.pruning import CONV_NORMS, SCOPES
from graphstore.pruning.common import Masks, PruningError, sparsity_of, weight_masks, weights_of
from graphstore.pruning.imp import expected_sparsity, magnitude_prune
from graphstore.pruning.mask_files import check_masks
from graphstore.pruning.msf import mst_keep_masks

REWINDS = ("init", "none")  # a user's train_fn has no epochs to rewind to
TrainFn = Callable[[nn.Module], Mapping[str, Any] | None]
Layers = list[tuple[str, nn.Module]]
KeepFn = Callable[[Layers, Masks], tuple[Masks, dict[str, float]]]

__all__ = ["PruneResult", "PruneRound", "expected_sparsity", "imp", "magnitude_masks", "masks_held", "prunable_layers"]


@dataclass
class PruneRound:
    """One round: its number (0 = before pruning), the sparsity of the chosen weights and train_fn's metrics."""

    round: int
    sparsity: float
    metrics: dict[str, float]


@dataclass
class PruneResult:
    """The rounds, the masks in force at the end, theta_0 (what the survivors were rewound to) and the layers."""

    rounds: list[PruneRound]
    masks: Masks
    theta0: Tensors
    layers: list[str] = field(default_factory=list)


def prunable_layers(model: nn.Module, layers: str | Sequence[str] | None = None) -> Layers:
    """(name, module) of the Linear and Conv layers in `model`, all or those `layers` names or globs choose."""
    found = {n: m for n, m in model.named_modules() if isinstance(m, UNIT_MODULES)}
    if not found:
        raise PruningError(
            f"{type(model).__name__} has no Linear or Conv layer to prune.",
            "gs.prune prunes the weights of nn.Linear and nn.Conv1d/2d/3d modules.",
        )
    patterns = [p.strip() for p in layers.split(",") if p.strip()] if isinstance(layers, str) else layers
    return [(n, found[n]) for n in choose_layers(list(found), list(patterns) if patterns else None)]


def magnitude_masks(
    model: nn.Module,
    rate: float,
    layers: str | Sequence[str] | None = None,
    scope: str = "global",
    masks: Mapping[str, torch.Tensor] | None = None,
) -> Masks:
    """Masks dropping round(rate x survivors) more of the chosen layers' weights by |w| (True = keep); pure."""
    chosen = prunable_layers(model, layers)
    return _step(model, chosen, _start_masks(model, chosen, masks), check_rate(rate), scope, None)


def _start_masks(model: nn.Module, chosen: Layers, masks: Mapping[str, torch.Tensor] | None) -> Masks:
    """The given masks (checked against the model) with an all-True mask for each chosen layer that has none."""
    check_masks(model, masks or {})
    return weight_masks(model, cast(Any, chosen), {k: v.bool() for k, v in (masks or {}).items()})


def _step(model: nn.Module, chosen: Layers, masks: Masks, rate: float, scope: str, forced: Masks | None) -> Masks:
    """One magnitude step over the chosen layers' weights (other masks unchanged)."""
    if scope not in SCOPES:
        raise PruningError(f"Unknown scope {scope!r}.", f"Choose one of: {', '.join(SCOPES)}.")
    keys = {f"{name}.weight" for name, _ in chosen}
    sub = {k: v for k, v in masks.items() if k in keys}
    return {**masks, **magnitude_prune(weights_of(model, sub), sub, rate, scope, forced)}


def check_rate(rate: float) -> float:
    """The pruning rate, refused outside [0, 1)."""
    if not 0.0 <= float(rate) < 1.0:
        raise PruningError(f"rate={rate!r} is not in [0, 1).", "Pass the fraction of survivors to drop per round.")
    return float(rate)


@contextmanager
def masks_held(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """Inside the block every forward of `model` sees the masked weights (a pre-hook on the model itself, so also
    weights a parent module reads directly, like nn.MultiheadAttention's out_proj) and masked gradients are zero;
    on leaving, the masks are applied again, whatever the caller's optimiser did (momentum, weight decay)."""
    params = dict(model.named_parameters())
    handle = model.register_forward_pre_hook(_zeroer([(params[name], mask) for name, mask in masks.items()]))
    apply_masks(model, dict(masks))
    try:
        with masked_gradients(model, masks):
            yield
    finally:
        handle.remove()
        apply_masks(model, dict(masks))


def _zeroer(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> Callable[..., None]:
    """A forward pre-hook zeroing the masked entries of each parameter (a mask follows its parameter's device)."""
    cache: dict[int, torch.Tensor] = {}

    def hook(*_: Any) -> None:
        with torch.no_grad():
            for i, (param, mask) in enumerate(pairs):
                if i not in cache or cache[i].device != param.device or cache[i].dtype != param.dtype:
                    cache[i] = mask.to(param.device, param.dtype)
                param.mul_(cache[i])

    return hook


def metrics_of(value: Mapping[str, Any] | None) -> dict[str, float]:
    """train_fn's return value as metrics: a mapping of names to numbers, or None."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PruningError(
            f"train_fn returned a {type(value).__name__}, not a dict of metrics.",
            "Return a dict such as {'test_acc': 0.93} (or None).",
        )
    try:
        return {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        bad = next(k for k, v in value.items() if not _number(v))
        raise PruningError(
            f"train_fn's metric {bad!r} is {value[bad]!r}, not a number.", "Return numbers (or 0-d tensors)."
        ) from None


def _number(value: Any) -> bool:
    """Whether float(value) works."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def imp(
    model: nn.Module,
    train_fn: TrainFn,
    rounds: int = 3,
    rate: float = 0.2,
    *,
    layers: str | Sequence[str] | None = None,
    scope: str = "global",
    rewind: str = "init",
    theta0: Mapping[str, torch.Tensor] | None = None,
    masks: Mapping[str, torch.Tensor] | None = None,
    on_round: Callable[[PruneRound, nn.Module, Masks], None] | None = None,
    keep_fn: KeepFn | None = None,
) -> PruneResult:
    """IMP on any model: train (round 0), then per round prune `rate` of the survivors by |w|, rewind to theta_0
    and retrain with the masks held. Without `theta0` the model's weights now are theta_0 and round 0 trains
    them; with `theta0` the model is taken as trained and round 0 only records it."""
    if rewind not in REWINDS:
        raise PruningError(f"Unknown rewind {rewind!r}.", f"Choose one of: {', '.join(REWINDS)}.")
    rate, chosen = check_rate(rate), prunable_layers(model, layers)
    state = {k: v.detach().to("cpu", copy=True) for k, v in theta0.items()} if theta0 else cpu_state(model)
    current = _start_masks(model, chosen, masks)
    record = Rounds(model, train_fn, on_round, chosen, keep_fn)
    record.run(0, current, train=theta0 is None)
    for r in range(1, rounds + 1):
        current = _step(model, chosen, current, rate, scope, record.forced)
        if rewind == "init":
            model.load_state_dict(state, strict=True)
        record.run(r, current, train=True)
    return PruneResult(record.rounds, current, state, [name for name, _ in chosen])


@dataclass
class Rounds:
    """Runs and records the rounds: train_fn under the masks, the sparsity of the chosen weights, T-IMP's forced
    masks and topology metrics of the trained weights (for the next step), the callback."""

    model: nn.Module
    train_fn: TrainFn
    on_round: Callable[[PruneRound, nn.Module, Masks], None] | None
    chosen: Layers
    keep_fn: KeepFn | None
    rounds: list[PruneRound] = field(default_factory=list)
    forced: Masks | None = None

    def run(self, r: int, masks: Masks, train: bool) -> None:
        """Round r: train (masks held) when asked, measure the topology (T-IMP), record it, tell the callback."""
        with masks_held(self.model, masks):
            metrics = metrics_of(self.train_fn(self.model)) if train else {}
        extra: dict[str, float] = {}
        if self.keep_fn is not None:
            self.forced, extra = self.keep_fn(self.chosen, masks)
        keys = {f"{name}.weight" for name, _ in self.chosen}
        chosen = {k: v for k, v in masks.items() if k in keys}
        self.rounds.append(PruneRound(r, sparsity_of(chosen), {**metrics, **extra}))
        if self.on_round is not None:
            self.on_round(self.rounds[-1], self.model, masks)


def topology_imp(
    model: nn.Module, train_fn: TrainFn, rounds: int = 3, rate: float = 0.2, *, conv_norm: str = "l1", **options: Any
) -> PruneResult:
    """T-IMP (docs/METHODS.md F) on any model: IMP that first keeps each chosen layer's maximum spanning forest
    (a conv layer's channel graph by `conv_norm` of its kernel slices); rounds record NP, kappa* and overlap."""
    if conv_norm not in CONV_NORMS:
        raise PruningError(f"Unknown conv_norm {conv_norm!r}.", f"Choose one of: {', '.join(CONV_NORMS)}.")

    def keep(chosen: Layers, masks: Masks) -> tuple[Masks, dict[str, float]]:
        return mst_keep_masks(cast(Any, chosen), masks, conv_norm)

    return imp(model, train_fn, rounds, rate, keep_fn=keep, **options)
