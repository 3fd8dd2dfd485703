"""The one adapter between training and the tracking DB (graphstore.tracking): runs, metrics, checkpoints.

Training code talks to `RunLog` and `tracked_run` only, so a change in the tracking API touches this file alone.
Without a tracking URL, `RunLog(None)` hands out local run ids ("local-<timestamp>") and records nothing.
Epoch metrics are stored with their split: loss/acc under "train", val_* under "val", test_* under "test",
lr and seconds without a split.

    with tracked_run(tracking_url, "train", "mlp-digits", params, seed=0, device="cpu") as run:
        train(model, data, config, [CheckpointSaver(data_dir, run.run_id, data, on_saved=run.checkpoint),
                                    run.callback()])

The run's status follows graphstore.tracking.lifecycle: completed, failed ("ExcType: message") or
interrupted (Ctrl-C, re-raised), whatever the point where the block stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphstore.nn.checkpoint import Checkpoint
from graphstore.nn.train import Callback, Metrics, TrainResult, TrainState
from graphstore.tracking import Tracking, open_tracking
from graphstore.tracking.lifecycle import INTERRUPTED, RunHandle, error_text, run_lifecycle

RunId = int | str
SPLIT_PREFIXES = (("val_", "val"), ("test_", "test"))
TRAIN_METRICS = ("loss", "acc")


def split_metrics(metrics: Metrics) -> dict[str | None, dict[str, float]]:
    """{'train': {'loss':..}, 'val': {...}, 'test': {...}, None: {'lr':.., 'seconds':..}}."""
    out: dict[str | None, dict[str, float]] = {}
    for key, value in metrics.items():
        split, name = None, key
        for prefix, label in SPLIT_PREFIXES:
            if key.startswith(prefix):
                split, name = label, key[len(prefix) :]
        if split is None and key in TRAIN_METRICS:
            split = "train"
        out.setdefault(split, {})[name] = float(value)
    return out


class RunLog:
    """Runs, metrics and checkpoints in a tracking DB (a URL it opens, or an open Tracking); nowhere if None."""

    def __init__(self, tracking: str | Tracking | None) -> None:
        self._owned = isinstance(tracking, str) and bool(tracking)
        self.tracking: Tracking | None = (
            open_tracking(tracking) if isinstance(tracking, str) and tracking else tracking or None  # type: ignore[assignment]
        )
        self.finished: dict[RunId, str] = {}

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the DB connection (only one this log opened itself)."""
        if self._owned and self.tracking is not None:
            self.tracking.close()

    def start(
        self,
        kind: str,
        name: str,
        params: dict[str, Any],
        seed: int | None = None,
        device: str | None = None,
        parent_run_id: int | None = None,
    ) -> RunId:
        """Record a running run and return its id."""
        if self.tracking is None:
            return "local-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        return int(self.tracking.start_run(kind, name, params, parent_run_id=parent_run_id, seed=seed, device=device))

    def finish(self, run_id: RunId, status: str, error: str | None = None) -> None:
        """Mark the run completed, failed or interrupted, once: the first (most specific) record stays."""
        if run_id in self.finished:
            return
        if self.tracking is not None:
            self.tracking.finish_run(int(run_id), status, error)
        self.finished[run_id] = status

    def metrics(self, run_id: RunId, step: int, metrics: Metrics) -> None:
        """Record one epoch's (or round's) metrics, each under its split."""
        if self.tracking is None:
            return
        rows = [
            (step, name, value, split)
            for split, values in split_metrics(metrics).items()
            for name, value in values.items()
        ]
        self.tracking.log_metric_rows(int(run_id), rows)

    def checkpoint(self, ckpt: Checkpoint) -> None:
        """Record a saved checkpoint (path, epoch, round, sparsity, metrics)."""
        if self.tracking is None or ckpt.run_id is None or ckpt.path is None or ckpt.extra.get("interrupted"):
            return  # interrupted.pt is named in the run's error text instead (its epoch would clash)
        path = str(Path(ckpt.path).resolve())
        self.tracking.add_checkpoint(
            int(ckpt.run_id),
            ckpt.epoch,
            path,
            round=ckpt.round,
            sparsity=ckpt.sparsity(),
            metrics=ckpt.metrics,
        )


@dataclass
class TrackedRun:
    """A tracked run in progress: its log and id; `note` is added to the error text if it stops early."""

    log: RunLog
    handle: RunHandle[RunId]

    @property
    def run_id(self) -> RunId:
        """The run's id (an int in a tracking DB, "local-..." without one)."""
        return self.handle.run_id

    @property
    def note(self) -> str | None:
        """Where the run was, for the error text (e.g. "after round 3")."""
        return self.handle.note

    @note.setter
    def note(self, text: str | None) -> None:
        self.handle.note = text

    def metrics(self, step: int, metrics: Metrics) -> None:
        """Record metrics at a step (epoch or round)."""
        self.log.metrics(self.run_id, step, metrics)

    def checkpoint(self, ckpt: Checkpoint) -> None:
        """Record a saved checkpoint (use as CheckpointSaver's on_saved)."""
        self.log.checkpoint(ckpt)

    def callback(self, step_offset: int = 0) -> TrackingCallback:
        """A training callback logging each epoch's metrics to this run."""
        return TrackingCallback(self.log, self.run_id, step_offset)


@contextmanager
def tracked_run(
    tracking: str | Tracking | RunLog | None,
    kind: str,
    name: str,
    params: dict[str, Any],
    seed: int | None = None,
    device: str | None = None,
    parent_run_id: int | None = None,
) -> Iterator[TrackedRun]:
    """Start a run, yield it, finish it by the one policy: completed | failed | interrupted (Ctrl-C re-raised)."""
    log = tracking if isinstance(tracking, RunLog) else RunLog(tracking)
    try:
        start = lambda: log.start(kind, name, params, seed, device, parent_run_id)  # noqa: E731
        with run_lifecycle(start, log.finish) as handle:
            yield TrackedRun(log, handle)
    finally:
        if log is not tracking:
            log.close()


class TrackingCallback(Callback):
    """Logs each epoch's metrics to the run; on Ctrl-C marks the run interrupted, naming the epoch and last state."""

    def __init__(self, log: RunLog, run_id: RunId, step_offset: int = 0) -> None:
        self.log, self.run_id, self.step_offset = log, run_id, step_offset

    def on_epoch_end(self, state: TrainState, metrics: Metrics) -> None:
        self.log.metrics(self.run_id, self.step_offset + state.epoch, metrics)

    def on_train_end(self, state: TrainState, result: TrainResult) -> None:
        if state.config.restore_best:
            self.log.metrics(
                self.run_id,
                self.step_offset + result.best_epoch,
                {k: v for k, v in result.final.items() if k.startswith("test_")},
            )

    def on_interrupt(self, state: TrainState) -> None:
        saved = f"; last state saved to {state.last_checkpoint}" if state.last_checkpoint else ""
        text = error_text(KeyboardInterrupt(f"during epoch {state.epoch + 1}{saved}"))
        self.log.finish(self.run_id, INTERRUPTED, text)
