"""The one progress protocol: library code reports `(step, done, total)`; a front end (CLI, job) renders it.

Torch-free and UI-free, so training, pruning, stores and jobs share it and never import rich:

    def train(..., progress: ProgressCallback | None = None) -> ...:
        report = progress or no_progress
        report("epoch 1/5", done_batches, total_batches)
"""

from __future__ import annotations

from typing import Protocol


class ProgressCallback(Protocol):
    """Told how far a long step is: a short text naming the step, units done so far, and units in all."""

    def __call__(self, step: str, done: int, total: int) -> None:
        """Report progress (total 0 = unknown)."""


def no_progress(step: str, done: int, total: int) -> None:
    """The default: report nothing."""


def progress_or_silent(progress: object) -> ProgressCallback:
    """`progress` if it is a callback, else the no-op (None or False mean no progress)."""
    return progress if callable(progress) else no_progress  # type: ignore[return-value]
