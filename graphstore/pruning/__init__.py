"""Pruning methods (docs/METHODS.md B): imp and topology (T-IMP); shared run plumbing in graphstore.pruning.common.

The parameter dataclasses live here, torch-free, so the CLI can build its options without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LAYER_CHOICES = ("all", "conv", "linear")
CONV_NORMS = ("l1", "l2", "maxabs")
SCOPES = ("global", "layer")
REWINDS = ("init", "epoch", "none")


@dataclass(frozen=True)
class ImpParams:
    """Iterative magnitude pruning: rounds, rate per round, global or layer-wise, which layers, how to rewind."""

    rounds: int = field(default=5, metadata={"help": "Pruning rounds (each: prune, rewind, retrain)."})
    rate: float = field(default=0.2, metadata={"help": "Fraction of the remaining weights pruned per round, "
                                                       "in [0, 1)."})
    scope: str = field(default="global", metadata={"help": "One magnitude threshold over all chosen layers, or one "
                                                            "per layer.", "choices": SCOPES})
    layers: str = field(default="all", metadata={"help": "Layers to prune (biases and BN never are).",
                                                  "choices": LAYER_CHOICES})
    exclude_output: bool = field(default=False, metadata={"help": "Never prune the output layer."})
    rewind: str = field(default="init", metadata={"help": "Rewind survivors to theta_0 (init), to the weights at "
                                                          "--rewind-epoch (epoch), or keep the trained weights (none).",
                                                  "choices": REWINDS})
    rewind_epoch: int = field(default=1, metadata={"help": "Epoch of the dense training run to rewind to "
                                                           "(with --rewind epoch)."})
    track_topology: bool = field(default=True, metadata={"help": "Log each round's model NP, kappa* and MST "
                                                                   "overlap (one MST per layer per round)."})

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"rate (sparsity per round) must be in [0, 1), got {self.rate}")
        if self.rounds < 0 or self.rewind_epoch < 0:
            raise ValueError("rounds and rewind_epoch must be >= 0")



@dataclass(frozen=True)
class TopologyImpParams(ImpParams):
    """T-IMP: IMP whose every round first keeps each layer's maximum spanning forest (MST edges)."""

    conv_norm: str = field(default="l1", metadata={"help": "Norm of a conv kernel slice for the channel graph.",
                                                   "choices": CONV_NORMS})
