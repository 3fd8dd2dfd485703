"""The data and extraction options every requested graph kind shares (--dataset, --split, --limit, --k, ...): one
parameter dataclass for the ingest and extract jobs (graphstore.jobs.ingest) and for a foreign model's ingest
(graphstore.jobs.ingest_foreign), which import it one way each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class ExtractOptions:
    """Data and extraction options shared by every requested graph kind."""

    PANEL: ClassVar[str] = "Extraction"  # its options' panel in --help

    dataset: str | None = field(
        default=None,
        metadata={
            "help": "Dataset to forward (default: the checkpoint's). With --model also a torchvision class by name "
            "(MNIST, CIFAR10, ... with --data-opt root=DIR) or MODULE:CALLABLE returning a Dataset.",
            "flags": ("--dataset", "-d"),
        },
    )
    data_opt: tuple[str, ...] = field(
        default=(), metadata={"help": "Dataset parameter KEY=VALUE (repeatable).", "repeat": True}
    )
    split: str | None = field(
        default=None,
        metadata={
            "help": "Split for data-driven kinds (default per kind: coactivation train, knn and class-graph test)."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "At most this many samples of the split (0 = all)."})
    k: str | None = field(
        default=None,
        metadata={"help": "kNN neighbours, e.g. 4,8,16 (knn: one graph per k; class-graph: the smallest)."},
    )
    layers: str | None = field(
        default=None,
        metadata={
            "help": "Layers for coactivation, e.g. conv1,fc1,out (default all); with --model names or globs "
            "(layer1.*) for weights and coactivation."
        },
    )
    device: str | None = field(default=None, metadata={"help": "Device for forward passes (cpu, cuda)."})
    batch_size: int | None = field(default=None, metadata={"help": "Samples per forward batch."})
    opt: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "Kind parameter KEY=VALUE or KIND.KEY=VALUE (repeatable), e.g. coactivation.threshold=0.6 "
            "(see --list).",
            "repeat": True,
        },
    )

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0 (0 = all samples), got {self.limit}")
        if self.batch_size is not None and self.batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {self.batch_size}")

    def common(self) -> dict[str, Any]:
        """The options that set the field of the same name in every kind that has it."""
        return {
            "split": self.split,
            "limit": self.limit,
            "k": self.k,
            "layers": self.layers,
            "device": self.device,
            "batch_size": self.batch_size,
        }
