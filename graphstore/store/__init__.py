"""Graph stores: the GraphStore contract, an embedded Ladybug backend and a Neo4j backend.

Importing this package is cheap (no numpy, pyarrow or drivers) so that commands such as `graphstore query --list`
start fast: the contract's names load from graphstore.store.base on first access, a backend when it is opened.
Backends (graphstore/store/backends/, one module each) register by URI scheme in graphstore.config.STORE_BACKENDS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from graphstore.config import Settings

if TYPE_CHECKING:
    from graphstore.store.base import COMPLETE, INCOMPLETE, WRITING, GraphInfo, GraphStore, QueryResult, WriteReport

__all__ = ["COMPLETE", "INCOMPLETE", "WRITING", "GraphInfo", "GraphStore", "QueryResult", "WriteReport", "open_store"]
_FROM_BASE = frozenset(__all__) - {"open_store"}


def __getattr__(name: str) -> Any:
    """The contract's names, from graphstore.store.base on first use (PEP 562)."""
    if name in _FROM_BASE:
        return getattr(importlib.import_module("graphstore.store.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(settings: Settings) -> GraphStore:
    """The graph store the settings name: the backend registered for the URI's scheme (graphstore.config's
    STORE_BACKENDS: bolt://, neo4j:// ... Neo4j; a path or file: the embedded store); an unknown scheme lists the
    known ones."""
    from graphstore.store.base import GraphStore  # deferred: the contract (numpy) loads only when a store opens

    backend = settings.store_backend
    store = backend.open(settings)
    if not isinstance(store, GraphStore):
        raise TypeError(f"Graph store backend {backend.name!r} returned {type(store).__name__}, not a GraphStore.")
    return store
