"""One graph-store and one tracking connection for a unit of work (a job), opened on first use and closed once.

A job used to open the store for every graph it wrote (re-running the schema setup and the write-plugin check each
time); now its JobContext owns a Connections and everything below the job borrows from it. A job holds its
connections while it runs (`hold()`), so every borrow inside shares them and they close when the job ends, on
error and on Ctrl-C too; a borrow outside any hold opens and closes around its own block, as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from graphstore.config import Settings
from graphstore.store import open_store

if TYPE_CHECKING:
    from graphstore.store.base import GraphStore
    from graphstore.tracking.repo import Tracking


class Connections:
    """The configured graph store and tracking DB, each opened at most once until close()."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.opened: Counter[str] = Counter()  # connections opened so far, by "store" / "tracking"
        self._store: GraphStore | None = None
        self._tracking: Tracking | None = None
        self._holds = 0

    @contextmanager
    def hold(self) -> Iterator[Connections]:
        """Keep whatever gets opened inside open until the outermost hold ends, then close it (also on error)."""
        self._holds += 1
        try:
            yield self
        finally:
            self._holds -= 1
            if self._holds == 0:
                self.close()

    @property
    def store(self) -> GraphStore:
        """The graph store, opened on first use."""
        if self._store is None:
            self._store = open_store(self.settings)
            self.opened["store"] += 1
        return self._store

    @property
    def tracking(self) -> Tracking:
        """The tracking DB (migrated when it is SQLite), opened on first use."""
        if self._tracking is None:
            from graphstore.tracking import open_tracking  # deferred: SQLAlchemy loads only when a job needs it

            self._tracking = open_tracking(self.settings.tracking_url)
            self.opened["tracking"] += 1
        return self._tracking

    def close(self) -> None:
        """Close whatever is open (both, even when the first close fails); later use opens again."""
        store, tracking, self._store, self._tracking = self._store, self._tracking, None, None
        try:
            if store is not None:
                store.close()
        finally:
            if tracking is not None:
                tracking.close()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def borrowed_store(connections: Connections) -> Iterator[GraphStore]:
    """The shared store for a `with` block; closed after it only when no job or outer block holds it."""
    with connections.hold():
        yield connections.store


@contextmanager
def borrowed_tracking(connections: Connections) -> Iterator[Tracking]:
    """The shared tracking DB for a `with` block; closed after it only when no job or outer block holds it."""
    with connections.hold():
        yield connections.tracking
