"""Running Graph Data Science algorithms on one stored graph: project -> CALL gds.<proc>.write -> drop.

The projection (graphstore.store.gds) holds the :GraphNode nodes of one graph_id with the same relationship types
and weight (and distance transform) as the client path, undirected; types and weight are checked against what
the graph has first, the write property is never structural, and the projection is dropped on success and on
failure alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphstore.analysis.base import AnalysisError, Projection
from graphstore.store import gds as store_gds
from graphstore.store.gds import INSTALL_HINT, GdsError, has_gds, require_gds
from graphstore.store.queries import check_write_property

__all__ = ["INSTALL_HINT", "GdsError", "has_gds", "projection", "require_gds", "weight_config", "write"]

PROCEDURE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")


def _weight_expression(params: Projection, mean: float) -> str:
    raw = f"coalesce(r.`{params.weight}`, 1.0)"
    if params.distance_to_similarity == "inverse":
        return f"1.0 / CASE WHEN {raw} < 1e-12 THEN 1e-12 ELSE {raw} END"
    if params.distance_to_similarity == "exp":
        return f"exp(-{raw} / {max(mean, 1e-12)!r})"
    return raw


@contextmanager
def projection(store: Any, graph_id: str, params: Projection | None = None) -> Iterator[str]:
    """The graph projected into the GDS catalog (types and weight checked first); dropped however the block ends."""
    params = params or Projection()
    require_gds(store)
    types = params.check(store.stored_types(graph_id), graph_id)
    weight = None
    if params.weight:
        mean = 1.0
        if params.distance_to_similarity == "exp":
            rows = store.execute(
                f"MATCH (:GraphNode {{graph_id: $g}})-[r]->() WHERE type(r) IN $types RETURN avg(r.`{params.weight}`)",
                {"g": graph_id, "types": types},
            ).rows
            mean = float(rows[0][0] or 1.0)
        weight = _weight_expression(params, mean)
    with store_gds.projected(store, graph_id, types, weight) as name:
        yield name


def write(store: Any, proc: str, graph_id: str, params: Projection | None = None, **config: Any) -> dict[str, Any]:
    """Project the graph, CALL gds.<proc>.write with `config` (writeProperty required), drop; the result row."""
    if not PROCEDURE.match(proc):
        raise AnalysisError(f"{proc!r} is not a GDS procedure name.", "Pass e.g. 'pageRank' or 'louvain'.")
    if "writeProperty" not in config:
        raise AnalysisError(f"gds.{proc}.write needs a writeProperty.", "Pass writeProperty=<node property>.")
    check_write_property(config["writeProperty"], "Write property")
    params = params or Projection()
    with projection(store, graph_id, params) as name:
        rows = store_gds.call(
            store,
            f"CALL gds.{proc}.write($name, $config)",
            {"name": name, "config": {**config, **weight_config(params)}},
        ).records()
    return rows[0] if rows else {}


def weight_config(params: Projection) -> dict[str, Any]:
    """The relationshipWeightProperty entry of a GDS algorithm config, when weighted."""
    return {"relationshipWeightProperty": "w"} if params.weight else {}
