"""How a batch of rows becomes one Neo4j statement: through graphstore's write plugin (columns as bytes into the
kernel's Write API; endpoints by the kernel's numeric node ids) or through plain Cypher (`UNWIND ... CREATE`;
endpoints by elementId()). The store picks one writer when it opens (`SHOW PROCEDURES`) and never branches again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphstore.graph import EdgeTable, Graph, NodeTable

PROCEDURES = ("graphstore.create_nodes", "graphstore.create_relationships")  # services/plugin/*.java
CREATE_NODES = "CALL graphstore.create_nodes($labels, $count, $constants, $columns) YIELD count RETURN count"
CREATE_RELS = "CALL graphstore.create_relationships($type, $src, $dst, $columns) YIELD count RETURN count"


def column_list(values: np.ndarray) -> list:
    """A numpy column as a list of plain Python values for the driver."""
    return values.tolist()


BYTE_CODES = {"f": (b"d", "<f8"), "i": (b"l", "<i8"), "u": (b"l", "<i8"), "b": (b"b", "u1")}


def byte_column(values: np.ndarray) -> bytes | list:
    """A column for the write plugin: numbers and booleans as a type code plus little-endian bytes (float64,
    int64, one byte per bool: the types the Cypher path stores), anything else as a list."""
    values = np.asarray(values)
    code = BYTE_CODES.get(values.dtype.kind)
    if code is None:
        return values.tolist()
    return code[0] + np.ascontiguousarray(values, dtype=code[1]).tobytes()


class PluginWriter:
    """Batches through graphstore.create_nodes / create_relationships (services/plugin/GraphstoreWrite.java)."""

    name = "plugin"
    kernel_ids = True  # relationship endpoints are the kernel's numeric node ids: id(n)

    def nodes(self, graph: Graph, table: NodeTable) -> tuple[str, dict[str, Any]]:
        columns = {"uid": graph.uids(table.keys).tolist(), "key": byte_column(table.keys)}
        columns.update({name: byte_column(values) for name, values in table.props.items()})
        params = {
            "labels": ["GraphNode", table.label],
            "count": len(table.keys),
            "constants": {"graph_id": graph.graph_id},
            "columns": columns,
        }
        return CREATE_NODES, params

    def edges(self, table: EdgeTable, src: np.ndarray, dst: np.ndarray) -> tuple[str, dict[str, Any]]:
        params = {
            "type": table.type,
            "src": np.ascontiguousarray(src, dtype="<i8").tobytes(),
            "dst": np.ascontiguousarray(dst, dtype="<i8").tobytes(),
            "columns": {name: byte_column(values) for name, values in table.props.items()},
        }
        return CREATE_RELS, params


class CypherWriter:
    """Batches as columnar `UNWIND range(0, n - 1) AS i CREATE ...` statements (any Neo4j 5 server)."""

    name = "cypher"
    kernel_ids = False  # relationship endpoints are elementId() strings

    def nodes(self, graph: Graph, table: NodeTable) -> tuple[str, dict[str, Any]]:
        props = "".join(f", `{name}`: ${'p_' + name}[i]" for name in table.props)
        cypher = (
            f"UNWIND range(0, size($key) - 1) AS i CREATE (:GraphNode:{table.label} "
            f"{{uid: $uid[i], graph_id: $graph_id, key: $key[i]{props}}})"
        )
        params = {
            "uid": graph.uids(table.keys).tolist(),
            "key": table.keys.tolist(),
            "graph_id": graph.graph_id,
            **{"p_" + name: column_list(values) for name, values in table.props.items()},
        }
        return cypher, params

    def edges(self, table: EdgeTable, src: np.ndarray, dst: np.ndarray) -> tuple[str, dict[str, Any]]:
        props = ", ".join(f"`{name}`: ${'p_' + name}[i]" for name in table.props)
        cypher = (
            f"UNWIND range(0, size($src) - 1) AS i "
            f"MATCH (a) WHERE elementId(a) = $src[i] MATCH (b) WHERE elementId(b) = $dst[i] "
            f"CREATE (a)-[:{table.type}{f' {{{props}}}' if props else ''}]->(b)"
        )
        params = {
            "src": src.tolist(),
            "dst": dst.tolist(),
            **{"p_" + name: column_list(values) for name, values in table.props.items()},
        }
        return cypher, params


Writer = PluginWriter | CypherWriter
