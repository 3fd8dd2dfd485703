"""The one tracked-run lifecycle: running -> completed | failed | interrupted, with the error text recorded.

Every tracked run (training, pruning, analyses) goes through `run_lifecycle`, so they share one policy:
the run is finished exactly once; success is "completed"; Ctrl-C (KeyboardInterrupt) is "interrupted" and
re-raised; any other exception is "failed" and re-raised; the error text is "ExcType: message" (plus the
handle's note, e.g. "after round 3"). A Ctrl-C that arrives while the run row is being written or finished is
held until the write is done (then raised), so no run is left "running" by an early or late Ctrl-C.
Torch-free and DB-free: `start` and `finish` are the caller's (Tracking.start_run / finish_run, RunLog).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"
R = TypeVar("R")


@dataclass
class RunHandle(Generic[R]):
    """A run in progress: its id, a note appended to the error text if it fails or is interrupted, and how it ends
    when its block returns, if not "completed" (an experiment whose cells failed ends "failed" naming them)."""

    run_id: R
    note: str | None = None
    ending: tuple[str, str | None] | None = None


def error_text(exc: BaseException, note: str | None = None) -> str:
    """'ExcType: message' ('ExcType' alone when the message is empty), then '; <note>' if any."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{text}; {note}" if note else text


def outcome(exc: BaseException | None, note: str | None = None) -> tuple[str, str | None]:
    """(status, error text) for a run that ended with `exc` (None = success)."""
    if exc is None:
        return COMPLETED, None
    return (INTERRUPTED if isinstance(exc, KeyboardInterrupt) else FAILED), error_text(exc, note)


@contextmanager
def sigint_held() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block and raise it as KeyboardInterrupt right after (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(signal.SIGINT)):
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@contextmanager
def run_lifecycle(start: Callable[[], R], finish: Callable[[R, str, str | None], object]) -> Iterator[RunHandle[R]]:
    """Start a run, yield its handle, finish it once: completed, interrupted (Ctrl-C, re-raised) or failed."""
    handle: RunHandle[R] | None = None
    try:
        with sigint_held():
            handle = RunHandle(start())
        yield handle
    except BaseException as exc:
        if handle is not None:
            with sigint_held():
                finish(handle.run_id, *outcome(exc, handle.note))
        raise
    with sigint_held():
        finish(handle.run_id, *(handle.ending or (COMPLETED, None)))
