"""Parameter dataclasses of every pruning method, torch-free, so the CLI builds its options without torch.

ImpParams / TopologyImpParams (imp, topology), StructuredConfig (structured), SculptConfig (sculpt) and
LayerPruneParams (layers); each field carries its help text and choices (graphstore.params).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from graphstore.errors import InvalidParams
from graphstore.nn.config import TrainConfig

LAYER_CHOICES = ("all", "conv", "linear")
CONV_NORMS = ("l1", "l2", "maxabs")
SCOPES = ("global", "layer")
# Each pruning round's retraining is logged per epoch: epoch e of round r at step r * EPOCH_STEP + e, under its
# split + EPOCH_SPLIT ("train-epoch/loss", "val-epoch/acc"; lr and seconds under "epoch"); docs/REPORTS.md.
EPOCH_STEP = 1000
EPOCH_SPLIT = "-epoch"
REWINDS = ("init", "epoch", "none")


@dataclass(frozen=True)
class ImpParams:
    """Iterative magnitude pruning: rounds, rate per round, global or layer-wise, which layers, how to rewind."""

    PANEL: ClassVar[str] = "Pruning (IMP)"  # its options' panel in --help

    rounds: int = field(default=5, metadata={"help": "Pruning rounds (each: prune, rewind, retrain)."})
    rate: float = field(
        default=0.2, metadata={"help": "Fraction of the remaining weights pruned per round, in [0, 1)."}
    )
    scope: str = field(
        default="global",
        metadata={"help": "One magnitude threshold over all chosen layers, or one per layer.", "choices": SCOPES},
    )
    layers: str = field(
        default="all", metadata={"help": "Layers to prune (biases and BN never are).", "choices": LAYER_CHOICES}
    )
    exclude_output: bool = field(default=False, metadata={"help": "Never prune the output layer."})
    rewind: str = field(
        default="init",
        metadata={
            "help": "Rewind survivors to theta_0 (init), to the weights at "
            "--rewind-epoch (epoch), or keep the trained weights (none).",
            "choices": REWINDS,
        },
    )
    rewind_epoch: int = field(
        default=1, metadata={"help": "Epoch of the dense training run to rewind to (with --rewind epoch)."}
    )
    track_topology: bool = field(
        default=True,
        metadata={"help": "Log each round's model NP, kappa* and MST overlap (one MST per layer per round)."},
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"rate (sparsity per round) must be in [0, 1), got {self.rate}")
        if self.rounds < 0 or self.rewind_epoch < 0:
            raise ValueError("rounds and rewind_epoch must be >= 0")


@dataclass(frozen=True)
class TopologyImpParams(ImpParams):
    """T-IMP: IMP whose every round first keeps each layer's maximum spanning forest (MST edges)."""

    PANEL: ClassVar[str] = "Pruning (T-IMP)"

    conv_norm: str = field(
        default="l1", metadata={"help": "Norm of a conv kernel slice for the channel graph.", "choices": CONV_NORMS}
    )


SPARSITIES_000 = (0.5, 0.675, 0.75, 0.825, 0.9)


@dataclass(frozen=True)
class StructuredConfig:
    """Structured magnitude pruning of hidden units, trained with the group Hoyer-square regulariser."""

    sparsity: float = field(
        default=0.5,
        metadata={
            "help": "Fraction p of each hidden layer's units to prune (ceil(p*n)); 000 uses "
            "0.5, 0.675, 0.75, 0.825, 0.9. Must be in [0, 1)."
        },
    )
    prune_epoch: int | None = field(
        default=None,
        metadata={
            "help": "Prune at the end of this epoch (0 = before training; default: 70% of the epochs, "
            "as 000 pruned at 70% of convergence)."
        },
    )
    lam: float = field(default=1e-4, metadata={"help": "Group-HS weight lambda before pruning (0 after)."})
    keep_bn: bool = field(
        default=False,
        metadata={
            "help": "Leave pruned channels' BN scale and shift unmasked (000's behaviour: a pruned channel "
            "then emits a constant)."
        },
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise InvalidParams(
                f"sparsity must be in [0, 1), got {self.sparsity}.",
                "Pass the fraction of hidden units to prune per layer, e.g. --sparsity 0.5 (1 would prune all).",
            )
        if self.lam < 0:
            raise InvalidParams(f"lam must be >= 0, got {self.lam}.", "Use e.g. --lam 1e-4, or 0 for none.")
        if self.prune_epoch is not None and self.prune_epoch < 0:
            raise InvalidParams(f"prune_epoch must be >= 0, got {self.prune_epoch}.", "Use e.g. --prune-epoch 7.")

    def prune_at(self, epochs: int) -> int:
        """The epoch after which to prune (checked against the number of epochs)."""
        epoch = round(0.7 * epochs) if self.prune_epoch is None else self.prune_epoch
        if epoch > epochs:
            raise InvalidParams(
                f"prune_epoch {epoch} is after the last epoch ({epochs}).",
                "Lower --prune-epoch or raise --epochs; fine-tuning needs epochs after pruning.",
            )
        return epoch


SWEEP_UNITS = tuple(float(p) for p in range(70, 0, -5))
SWEEP_EDGES = (2.5, 2.0, 1.5, 1.0, 0.5)


@dataclass(frozen=True)
class SculptConfig:
    """Neural sculpting of a masked MLP on a Boolean task: unit pruning, then edge pruning, under a threshold."""

    task: str = field(
        default="input-separable",
        metadata={"help": "Boolean task name or architecture (input-separable, reused, 4,1,2,8, ...)."},
    )
    outputs: int = field(default=0, metadata={"help": "Number of outputs k (0 = the task's default)."})
    widths: tuple[int, ...] = field(default=(24, 24), metadata={"help": "Hidden layer widths (default 24,24)."})
    p_unit: float = field(default=65.0, metadata={"help": "Unit-pruning step P_u, percent of hidden units."})
    p_edge: float = field(default=1.5, metadata={"help": "Edge-pruning step P_e, percent of dense weights."})
    threshold: float = field(
        default=1.0,
        metadata={
            "help": "Accept a step if accuracy (fraction of correct output bits) is at least this (1.0 for Boolean)."
        },
    )
    sweep: bool = field(default=False, metadata={"help": "Sweep --p-units x --p-edges; keep the sparsest."})
    p_units: tuple[float, ...] = field(
        default=SWEEP_UNITS, metadata={"help": "P_u values of the sweep (default 70,65,...,5)."}
    )
    p_edges: tuple[float, ...] = field(
        default=SWEEP_EDGES, metadata={"help": "P_e values of the sweep (default 2.5,2,1.5,1,0.5)."}
    )
    epochs: int = field(default=200, metadata={"help": "Epochs of the dense training."})
    retrain_epochs: int = field(default=100, metadata={"help": "Epochs of retraining after each pruning step."})
    lr: float = field(default=0.05, metadata={"help": "Adam learning rate."})
    batch_size: int = field(default=16, metadata={"help": "Rows per step (16 = a 4-input table in one batch)."})
    weight_decay: float = field(default=1e-4, metadata={"help": "Adam weight decay."})
    input_noise: float = field(default=0.1, metadata={"help": "Std of Gaussian input noise while training."})
    seed: int = field(default=0, metadata={"help": "Seed of initialisation, shuffling and noise."})
    device: str = field(default="cpu", metadata={"help": "Device.", "choices": ("cpu", "cuda", "auto")})

    def __post_init__(self) -> None:
        steps = (self.p_unit, self.p_edge, *self.p_units, *self.p_edges)
        if not all(0 < p < 100 for p in steps):
            raise InvalidParams(
                f"pruning steps must be percentages in (0, 100), got {steps}.", "Use e.g. --p-unit 65 --p-edge 1.5."
            )
        if not 0 < self.threshold <= 1:
            raise InvalidParams(
                f"threshold must be in (0, 1], got {self.threshold}.",
                "Accuracy is a fraction of correct output bits; 1.0 demands a perfect table.",
            )
        if not self.widths or min(self.widths) < 1:
            raise InvalidParams(f"widths must be positive, got {self.widths}.", "Use e.g. --widths 24,24.")

    def train_config(self, epochs: int) -> TrainConfig:
        """Full-table Adam training with input noise, constant lr, keeping the best epoch, no checkpoints."""
        return TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            optimizer="adam",
            lr=self.lr,
            weight_decay=self.weight_decay,
            schedule="none",
            checkpoint_epochs=(),
            seed=self.seed,
            device=self.device,
            input_noise=self.input_noise,
            restore_best=True,
        )


AGGREGATES = ("mean", "median")
MODES = ("multilayer", "single")
SOURCES = ("response", "activation")  # what 001's arc weights are read from (docs/METHODS.md B4)
INITS = ("scratch", "inherit")


def _gammas(text: str) -> tuple[float, ...]:
    """'0.25,0.5' -> (0.25, 0.5); '0.25:2:0.25' -> 0.25, 0.5, ..., 2.0 (inclusive range)."""
    if ":" in text:
        lo, hi, step = (float(v) for v in text.split(":"))
        return tuple(round(v, 10) for v in np.arange(lo, hi + step / 2, step))
    return tuple(float(v) for v in text.replace(";", ",").split(",") if v.strip())


@dataclass(frozen=True)
class LayerPruneParams:
    """Conv-layer pruning (001): threshold gamma x mean/median delta, arc weights, data, and retraining init."""

    gamma: float = field(
        default=1.0,
        metadata={
            "help": "Keep a conv layer if one of its nodes has delta > gamma x "
            "the aggregate delta (must be > 0; 001 uses 0.25-2)."
        },
    )
    aggregate: str = field(
        default="mean", metadata={"help": "Aggregate of delta over all nodes for the threshold.", "choices": AGGREGATES}
    )
    weight: str = field(
        default="mean",
        metadata={"help": "Arc weight: mean or median over window and channels.", "choices": ("mean", "median")},
    )
    source: str = field(
        default="response",
        metadata={
            "help": "response = raw output of layer k+1, 'the convolution result' (001 3.1.3); activation = "
            "post-ReLU map of layer k.",
            "choices": SOURCES,
        },
    )
    mode: str = field(
        default="multilayer",
        metadata={
            "help": "multilayer = delta across the class networks (001 sec. 4); single = 001's single-layer "
            "comparison (Table 1 's': per class network, degree > gamma x its mean; the intersection).",
            "choices": MODES,
        },
    )
    split: str = field(default="train", metadata={"help": "Split whose images are averaged per class."})
    limit: int = field(default=0, metadata={"help": "Average over at most this many images (0 = all)."})
    sweep: tuple[float, ...] = field(
        default=(),
        metadata={
            "help": "Gammas to sweep instead of --gamma, e.g. 0.25,0.5,1 or 0.25:2:0.25; each removal is retrained "
            "once.",
            "parse": _gammas,
        },
    )
    init: str = field(
        default="scratch",
        metadata={
            "help": "Retrain from a fresh init (001) or inherit the weights whose names and shapes still match.",
            "choices": INITS,
        },
    )

    def __post_init__(self) -> None:
        bad = [g for g in (self.gamma, *self.sweep) if not g > 0]
        if bad:
            raise ValueError(f"gamma must be > 0 (threshold = gamma x {self.aggregate} delta), got {bad[0]}")
        if self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")

    def gammas(self) -> tuple[float, ...]:
        """The sweep, or the single gamma."""
        return self.sweep or (self.gamma,)
