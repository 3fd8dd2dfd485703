"""Neo4j 5 over Bolt: bolt://, bolt+s://, bolt+ssc:// (one server) and neo4j://, neo4j+s://, neo4j+ssc:// (routing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphstore.config import STORE_BACKENDS, Settings, StoreBackend

if TYPE_CHECKING:
    from graphstore.store.base import GraphStore

SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def open_neo4j(settings: Settings) -> GraphStore:
    """A Neo4jStore with the settings' credentials, database, batch size and writer count."""
    from graphstore.store.neo4j_store import Neo4jStore  # deferred: the Neo4j driver loads only when used

    return Neo4jStore(
        settings.graph_store_uri,
        settings.neo4j_user,
        settings.neo4j_password,
        settings.neo4j_database,
        settings.batch_size,
        writers=settings.neo4j_writers,
    )


STORE_BACKENDS.register(
    StoreBackend("neo4j", SCHEMES, open_neo4j, "Neo4j 5 server (Graph Data Science where installed).", shared=True)
)
