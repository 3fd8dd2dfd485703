"""Graph Data Science in Neo4j: project one stored graph (by graph_id) into the GDS catalog, run, drop.

The projection uses Cypher aggregation (`gds.graph.project`) over :GraphNode nodes of one graph_id, with the
same relationship types and weight (and distance transform) as the client path, undirected.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphstore.analysis.base import AnalysisError, Projection
from graphstore.graph import check_identifier

INSTALL_HINT = ("Install the Graph Data Science plugin in Neo4j: `graphstore services start` ships it; with Docker "
                "set NEO4J_PLUGINS='[\"graph-data-science\"]' (docker/compose.yaml does). Or pass --engine client.")


def has_gds(store: Any) -> bool:
    """Whether the store is Neo4j with the GDS procedures installed."""
    if getattr(store, "dialect", "") != "neo4j":
        return False
    rows = store.execute("SHOW FUNCTIONS YIELD name WHERE name = 'gds.version' RETURN count(*) AS n").rows
    return bool(rows and rows[0][0])


def require_gds(store: Any) -> None:
    """Raise an error naming how to install GDS when it is missing."""
    if getattr(store, "dialect", "") != "neo4j":
        raise AnalysisError(f"The GDS engine needs a Neo4j store; {store.uri} is the embedded store.",
                            "Use --engine client, or set GRAPHSTORE_GRAPH_STORE to a Neo4j server.")
    if not has_gds(store):
        raise AnalysisError(f"Graph Data Science is not installed in Neo4j at {store.uri}.", INSTALL_HINT)


def _weight_expression(projection: Projection, mean: float) -> str:
    name = check_identifier(projection.weight, "Weight property")
    raw = f"coalesce(r.`{name}`, 1.0)"
    if projection.distance_to_similarity == "inverse":
        return f"1.0 / CASE WHEN {raw} < 1e-12 THEN 1e-12 ELSE {raw} END"
    if projection.distance_to_similarity == "exp":
        return f"exp(-{raw} / {max(mean, 1e-12)!r})"
    return raw


@contextmanager
def projected(store: Any, graph_id: str, projection: Projection, types: list[str]) -> Iterator[str]:
    """Project the graph into the GDS catalog under a fresh name; always drop it afterwards."""
    require_gds(store)
    name = f"gs-{graph_id}-{uuid.uuid4().hex[:8]}"
    params: dict[str, Any] = {"g": graph_id, "types": types, "name": name}
    props = ""
    if projection.weight:
        mean = 1.0
        if projection.distance_to_similarity == "exp":
            rows = store.execute(f"MATCH (:GraphNode {{graph_id: $g}})-[r]->() WHERE type(r) IN $types "
                                 f"RETURN avg(r.`{check_identifier(projection.weight, 'Weight property')}`)",
                                 params).rows
            mean = float(rows[0][0] or 1.0)
        props = f"{{relationshipProperties: r {{w: {_weight_expression(projection, mean)}}}}}"
    cypher = ("MATCH (a:GraphNode {graph_id: $g}) "
              "OPTIONAL MATCH (a)-[r]->(b:GraphNode {graph_id: $g}) WHERE type(r) IN $types "
              f"WITH gds.graph.project($name, a, b, {props or '{}'}, {{undirectedRelationshipTypes: ['*']}}) AS g "
              "RETURN g.nodeCount AS nodes, g.relationshipCount AS relationships")
    store.execute(cypher, params)
    try:
        yield name
    finally:
        store.execute("CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName", {"name": name})


def weight_config(projection: Projection) -> dict[str, Any]:
    """The relationshipWeightProperty entry of a GDS algorithm config, when weighted."""
    return {"relationshipWeightProperty": "w"} if projection.weight else {}
