"""TrainConfig: every training option as a typed, documented dataclass field (torch-free, so the CLI can
build its options without importing torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


def parse_epochs(text: str) -> tuple[int, ...] | None:
    """'all' -> None (every epoch), 'none' -> (), '1,5,10' -> (1, 5, 10)."""
    value = text.strip().lower()
    if value in ("", "all", "every"):
        return None
    if value in ("none", "last"):
        return ()
    return tuple(sorted({int(v) for v in value.replace(";", ",").split(",") if v.strip()}))


AUGMENTATIONS = ("flip", "rotate", "affine", "jitter")  # graphstore.nn.augment applies them (000 section 4.4.1)


def parse_augment(text: str) -> tuple[str, ...]:
    """'flip,rotate' -> ('flip', 'rotate'); 'paper' -> all four; '' or 'none' -> (); unknown names raise."""
    names = [n.strip().lower() for n in text.replace(";", ",").split(",") if n.strip()]
    if names in ([], ["none"]):
        return ()
    if "paper" in names:
        return AUGMENTATIONS
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}: use {', '.join(AUGMENTATIONS)}, paper or none")
    return tuple(n for n in AUGMENTATIONS if n in names)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, epochs, batches, early stopping, checkpoints, seed and device."""

    PANEL: ClassVar[str] = "Training"  # its options' panel in --help

    epochs: int = field(default=10, metadata={"help": "Number of training epochs."})
    batch_size: int = field(default=128, metadata={"help": "Samples per optimisation step."})
    optimizer: str = field(default="adam", metadata={"help": "Optimiser.", "choices": ("adam", "sgd")})
    lr: float = field(default=1e-3, metadata={"help": "Learning rate."})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum (ignored by Adam)."})
    weight_decay: float = field(default=0.0, metadata={"help": "L2 weight decay."})
    schedule: str = field(
        default="cosine",
        metadata={"help": "Learning-rate schedule over the epochs.", "choices": ("cosine", "step", "none")},
    )
    step_size: int = field(default=30, metadata={"help": "Epochs between decays (step schedule)."})
    gamma: float = field(default=0.1, metadata={"help": "Decay factor per step (step schedule)."})
    patience: int = field(
        default=0,
        metadata={"help": "Stop after this many epochs without a lower validation loss (0 = never stop early)."},
    )
    checkpoint_epochs: tuple[int, ...] | None = field(
        default=None,
        metadata={
            "help": "Epochs to checkpoint: 'all' (default), 'none', or a list like 0,1,5,10 (0 = before "
            "training); "
            "the final epoch is always saved.",
            "parse": parse_epochs,
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed for initialisation, shuffling, dropout and noise."})
    device: str = field(
        default="cpu",
        metadata={
            "help": "Device to train on ('auto' = cuda when available).",
            "choices": ("cpu", "cuda", "auto"),
        },
    )
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers for on-disk image folders."})
    input_noise: float = field(
        default=0.0,
        metadata={"help": "Std of Gaussian noise added to training inputs (0.1 for the Boolean tasks; 0 = none)."},
    )
    restore_best: bool = field(
        default=False, metadata={"help": "End with the weights of the epoch with the lowest validation loss."}
    )
    eval_batch_size: int = field(default=1024, metadata={"help": "Samples per batch when evaluating."})
    augment: str = field(
        default="",
        metadata={
            "help": "Training-time augmentation of image batches, comma-separated: flip (horizontal, p 0.5), "
            "rotate (+-15 deg), affine (translate +-10%, scale 0.9-1.1), jitter (brightness/contrast/saturation "
            "+-20%); paper = all four (000 section 4.4.1); default none.",
        },
    )

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch sizes >= 1")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        parse_augment(self.augment)

    def checkpoint_due(self, epoch: int, last: bool) -> bool:
        """Whether `epoch` is checkpointed (every epoch by default; the final one always)."""
        return last or self.checkpoint_epochs is None or epoch in self.checkpoint_epochs
