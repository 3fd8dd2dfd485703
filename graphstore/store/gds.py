"""Graph Data Science catalog handling for stored graphs: is GDS there, project one graph_id, always drop it.

A projection holds the :GraphNode nodes of one graph_id and its relationships of the chosen types, undirected,
optionally with one relationship property `w` computed by a Cypher expression over `r`. `projected` is a context
manager that drops the projection when its block ends, on success and on failure alike, so graphstore never
leaves projections in the catalog. The analyses (graphstore.analysis.gds) and the named GDS queries
(cypher/queries/gds_*) both project through here; procedure failures become GdsError with Neo4j's message.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from graphstore.errors import GraphstoreError

if TYPE_CHECKING:
    from graphstore.store.base import GraphStore, QueryResult

PREFIX = "gs-"
INSTALL_HINT = (
    "Install the Graph Data Science plugin in Neo4j: `graphstore services start` ships it; with Docker "
    "set NEO4J_PLUGINS='[\"graph-data-science\"]' (docker/compose.yaml does). Or pass --engine client."
)


class GdsError(GraphstoreError):
    """Graph Data Science is not available, or a GDS procedure failed."""


def has_gds(store: GraphStore) -> bool:
    """Whether the store is Neo4j with the GDS procedures installed."""
    if getattr(store, "dialect", "") != "neo4j":
        return False
    rows = store.execute("SHOW FUNCTIONS YIELD name WHERE name = 'gds.version' RETURN count(*) AS n").rows
    return bool(rows and rows[0][0])


def require_gds(store: GraphStore) -> None:
    """Raise GdsError naming the fix when the store is not Neo4j or has no GDS."""
    if getattr(store, "dialect", "") != "neo4j":
        raise GdsError(
            f"The GDS engine needs a Neo4j store; {store.uri} is the embedded store.",
            "Use --engine client, or set GRAPHSTORE_GRAPH_STORE to a Neo4j server.",
        )
    if not has_gds(store):
        raise GdsError(f"Graph Data Science is not installed in Neo4j at {store.uri}.", INSTALL_HINT)


def call(store: GraphStore, cypher: str, params: dict[str, Any]) -> QueryResult:
    """Run a statement that calls GDS; Neo4j's refusal becomes a GdsError carrying its message."""
    from neo4j.exceptions import Neo4jError  # deferred: keeps the Neo4j driver off `graphstore query --list`

    try:
        return store.execute(cypher, params)
    except Neo4jError as exc:
        raise GdsError(
            f"Graph Data Science failed: {exc.message or exc}",
            "Check the parameters against the GDS documentation of the procedure.",
        ) from exc


def catalog(store: GraphStore, prefix: str = PREFIX) -> list[str]:
    """Names of the projections in the GDS catalog that start with `prefix`."""
    rows = store.execute(
        "CALL gds.graph.list() YIELD graphName WHERE graphName STARTS WITH $p RETURN graphName", {"p": prefix}
    ).rows
    return sorted(r[0] for r in rows)


def drop(store: GraphStore, name: str) -> None:
    """Drop a projection if it exists."""
    store.execute("CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName", {"name": name})


@contextmanager
def projected(store: GraphStore, graph_id: str, types: Sequence[str], weight: str | None = None) -> Iterator[str]:
    """Project a stored graph (relationship `types`, weight expression over `r` as `w`); drop it on exit."""
    require_gds(store)
    name = f"{PREFIX}{graph_id}-{uuid.uuid4().hex[:12]}"
    props = f"{{relationshipProperties: r {{w: {weight}}}}}" if weight else "{}"
    cypher = (
        "MATCH (a:GraphNode {graph_id: $g}) "
        "OPTIONAL MATCH (a)-[r]->(b:GraphNode {graph_id: $g}) WHERE type(r) IN $types "
        f"WITH gds.graph.project($name, a, b, {props}, {{undirectedRelationshipTypes: ['*']}}) AS g "
        "RETURN g.nodeCount AS nodes, g.relationshipCount AS relationships"
    )
    try:
        call(store, cypher, {"g": graph_id, "types": list(types), "name": name})
        yield name
    except BaseException:
        with contextlib.suppress(Exception):  # the original error is what the user needs to see
            drop(store, name)
        raise
    drop(store, name)
