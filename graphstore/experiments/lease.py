"""One driver per experiment run: a lease in the tracking DB that the driver's heartbeat thread renews.

A driver holds its run for `STALE_BEATS` heartbeats after each renewal. A second `--resume` is refused while the
lease is live; a driver killed with SIGKILL renews nothing, so its lease runs out and the run can be resumed. A
driver whose lease was taken over (it missed its heartbeats, e.g. stopped) notices it and stops; cells it still
finishes are refused by the tracking DB (graphstore.tracking.repo.Tracking.complete_cell).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from types import TracebackType

from graphstore.errors import GraphstoreError
from graphstore.tracking import open_tracking
from graphstore.tracking.models import utcnow

DEFAULT_HEARTBEAT_S = 10.0
STALE_BEATS = 3
LEGACY_GRACE = timedelta(minutes=1)  # a run left running by a version without leases is free this long after start


class RunHeld(GraphstoreError):
    """The experiment run to resume is still held by a live driver."""


class DriverReplaced(GraphstoreError):
    """Another driver took over this driver's experiment run (this one missed its heartbeats)."""


def new_driver() -> str:
    """A token naming this driver in the tracking DB."""
    return uuid.uuid4().hex


def lease_end(heartbeat: float) -> datetime:
    """Until when a lease renewed now holds: STALE_BEATS heartbeats from now."""
    return utcnow() + timedelta(seconds=STALE_BEATS * heartbeat)


def held_error(run_id: int, until: datetime | None) -> RunHeld:
    """The refusal of a resume while run `run_id` is held (until `until`, if known)."""
    left = f", for another {max(0.0, (until - utcnow()).total_seconds()):.0f} s unless it renews it" if until else ""
    return RunHeld(
        f"Experiment run {run_id} is still running: its driver holds it{left}. A second driver would run the "
        "same cells again.",
        f"Wait for it (graphstore experiment show {run_id}), or run without --resume to start a new run. If its "
        f"driver was killed, --resume works once its lease runs out ({STALE_BEATS} missed heartbeats).",
    )


class DriverLease:
    """This driver's hold on run `run_id`, renewed every `heartbeat` seconds by a thread while the block runs."""

    def __init__(self, url: str, run_id: int, driver: str, heartbeat: float) -> None:
        self.url, self.run_id, self.driver, self.heartbeat = url, run_id, driver, heartbeat
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id}", daemon=True)

    def _beat(self) -> None:
        """Renew the lease until stopped; a renewal another driver refuses sets `lost` (a failed write retries)."""
        with open_tracking(self.url) as tracking:
            while not self._stop.wait(self.heartbeat):
                try:
                    if not tracking.renew_lease(self.run_id, self.driver, lease_end(self.heartbeat)):
                        self.lost.set()
                        return
                except GraphstoreError:
                    continue  # the DB is briefly unreachable: the next beat tries again, the lease may run out

    def check(self) -> None:
        """Raise DriverReplaced when another driver took the run over."""
        if self.lost.is_set():
            raise DriverReplaced(
                f"Another driver took over experiment run {self.run_id} after this one missed its heartbeats; "
                "this driver stops and leaves the run to it.",
                f"See graphstore experiment show {self.run_id}; keep the machine from stalling the driver for "
                f"{STALE_BEATS} heartbeats (--heartbeat sets their interval).",
            )

    def __enter__(self) -> DriverLease:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
