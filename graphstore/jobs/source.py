"""The one checkpoint source of every command: a checkpoint file, or `--run ID [--epoch K | --round R]`; and the
foreign-model source `--model MODULE:CALLABLE --weights FILE` of the commands that take any network."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from graphstore.errors import GraphstoreError
from graphstore.nn.checkpoint import find_checkpoint


class SourceError(GraphstoreError):
    """The checkpoint source is missing, ambiguous or names nothing."""


@dataclass(frozen=True)
class CheckpointSource:
    """Which checkpoint a job reads: a file, or a tracked run's checkpoint at an epoch and/or pruning round."""

    checkpoint: str | None = field(
        default=None, metadata={"help": "Checkpoint file (.pt); or use --run [--epoch | --round].", "argument": True}
    )
    run: int | None = field(default=None, metadata={"help": "Run id whose checkpoint to use (default: its last)."})
    epoch: int | None = field(default=None, metadata={"help": "Epoch of the run's checkpoint."})
    round: int | None = field(default=None, metadata={"help": "Pruning round of the run's checkpoint."})

    @property
    def given(self) -> bool:
        """Whether any checkpoint was named (a path or a run)."""
        return self.checkpoint is not None or self.run is not None

    def resolve(self, data_dir: str | Path) -> Path:
        """The checkpoint path; refuses both a path and a run, neither, or epoch/round without a run."""
        if self.checkpoint is not None and self.run is not None:
            raise SourceError("Give a checkpoint path or --run, not both.", "Drop one of them.")
        if self.checkpoint is not None:
            if self.epoch is not None or self.round is not None:
                raise SourceError(
                    "--epoch and --round select a checkpoint of --run, not of a file.",
                    "Drop --epoch/--round, or pass --run RUN_ID instead of the path.",
                )
            path = Path(self.checkpoint)
            if not path.is_file():
                raise SourceError(
                    f"Checkpoint file {path} does not exist.",
                    "Pass an existing .pt file, or --run RUN_ID [--epoch K | --round R].",
                )
            return path
        if self.run is None:
            raise SourceError(
                "No checkpoint given.", "Pass a checkpoint path, or --run RUN_ID [--epoch K | --round R]."
            )
        return find_checkpoint(data_dir, self.run, self.epoch, self.round)


@dataclass(frozen=True)
class ModelSource:
    """A network nobody here wrote, instead of a checkpoint: MODULE:CALLABLE with options, holding a file's weights
    (graphstore.nn.foreign loads it; any command taking a foreign model nests this)."""

    PANEL: ClassVar[str] = "Foreign model (instead of a checkpoint)"

    model: str | None = field(
        default=None,
        metadata={"help": "MODULE:CALLABLE building the network, e.g. torchvision.models:resnet18 (needs --weights)."},
    )
    model_opt: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "Argument KEY=VALUE of the --model callable, a Python literal where it parses (repeatable), "
            "e.g. num_classes=10.",
            "repeat": True,
        },
    )
    weights: str | None = field(
        default=None,
        metadata={
            "help": "Weights for --model: a state dict (torch.save(model.state_dict(), FILE)), a TorchScript "
            "archive or a torch.export .pt2 archive. A pickled module is refused."
        },
    )

    @property
    def given(self) -> bool:
        """Whether any of --model, --model-opt, --weights was passed."""
        return self.model is not None or self.weights is not None or bool(self.model_opt)

    def check(self, checkpoint: CheckpointSource) -> tuple[str, str]:
        """(model, weights) when both are given and no checkpoint is; otherwise SourceError naming the fix."""
        if checkpoint.given:
            raise SourceError("Give a checkpoint (path or --run) or --model/--weights, not both.", "Drop one of them.")
        if self.model is None or self.weights is None:
            missing = "--weights FILE" if self.model is not None else "--model MODULE:CALLABLE"
            raise SourceError(
                f"A foreign model needs both --model and --weights; {missing} is missing.",
                "Pass --model MODULE:CALLABLE (e.g. torchvision.models:resnet18) and --weights FILE (its state "
                "dict, TorchScript or .pt2 archive); graphstore never uses the random weights of a bare --model.",
            )
        return self.model, self.weights
