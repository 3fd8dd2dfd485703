"""Graph stores: the GraphStore contract, an embedded Ladybug backend and a Neo4j backend.

Importing this package is cheap (no numpy, pyarrow or drivers) so that commands such as `graphstore query --list`
start fast: the contract's names load from graphstore.store.base on first access, a backend when it is opened.
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
    """The graph store the settings name: Neo4j for bolt:// / neo4j:// URIs, the embedded store otherwise."""
    if settings.is_neo4j:
        from graphstore.store.neo4j_store import Neo4jStore  # deferred: the Neo4j driver loads only when used

        return Neo4jStore(
            settings.graph_store_uri,
            settings.neo4j_user,
            settings.neo4j_password,
            settings.neo4j_database,
            settings.batch_size,
            writers=settings.neo4j_writers,
        )
    from graphstore.store.embedded import EmbeddedStore  # deferred: Ladybug loads only when used

    return EmbeddedStore(settings.graph_store_uri, settings.batch_size)
