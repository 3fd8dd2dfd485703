"""Graph stores: the GraphStore contract, an embedded Ladybug backend and a Neo4j backend."""

from __future__ import annotations

from graphstore.config import Settings
from graphstore.store.base import COMPLETE, INCOMPLETE, WRITING, GraphInfo, GraphStore, QueryResult, WriteReport

__all__ = ["COMPLETE", "INCOMPLETE", "WRITING", "GraphInfo", "GraphStore", "QueryResult", "WriteReport",
           "open_store"]


def open_store(settings: Settings) -> GraphStore:
    """The graph store the settings name: Neo4j for bolt:// / neo4j:// URIs, the embedded store otherwise."""
    if settings.is_neo4j:
        from graphstore.store.neo4j_store import Neo4jStore

        return Neo4jStore(settings.graph_store_uri, settings.neo4j_user, settings.neo4j_password,
                          settings.neo4j_database, settings.batch_size)
    from graphstore.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.graph_store_uri, settings.batch_size)
