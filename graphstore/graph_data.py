"""A graph's data: columnar node tables per label and edge tables per relationship type, keys, uids, validation.

graphstore.graph.Graph is this plus its conversions (to/from networkx, igraph, pandas, Arrow); graphstore.convert
works on this class, so the conversions and the Graph that offers them import one way only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphstore.names import RESERVED_PROPS, check_graph_id, check_identifier


def _column(values: Any, n: int, name: str) -> np.ndarray:
    """A property column as a 1-D numpy array of length n (strings become object arrays)."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = np.full(n, arr.item(), dtype=object if arr.dtype.kind in "US" else arr.dtype)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    if arr.shape != (n,):
        raise ValueError(f"Property {name!r} has shape {arr.shape}, expected ({n},).")
    return arr


@dataclass
class NodeTable:
    """Nodes of one label: int64 keys and one array per property."""

    label: str
    keys: np.ndarray
    props: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_identifier(self.label, "Label")
        self.keys = np.asarray(self.keys, dtype=np.int64)
        n = len(self.keys)
        for name in list(self.props):
            check_identifier(name, "Property")
            if name in RESERVED_PROPS:
                raise ValueError(f"Property name {name!r} is reserved.")
            self.props[name] = _column(self.props[name], n, name)

    def __len__(self) -> int:
        return len(self.keys)

    def slice(self, start: int, stop: int) -> NodeTable:
        """Rows [start, stop) as a view."""
        return NodeTable(self.label, self.keys[start:stop], {k: v[start:stop] for k, v in self.props.items()})


@dataclass
class EdgeTable:
    """Relationships of one type between two labels: source and target keys and one array per property."""

    type: str
    src_label: str
    dst_label: str
    src: np.ndarray
    dst: np.ndarray
    props: dict[str, np.ndarray] = field(default_factory=dict)
    directed: bool = True

    def __post_init__(self) -> None:
        check_identifier(self.type, "Relationship type")
        self.src = np.asarray(self.src, dtype=np.int64)
        self.dst = np.asarray(self.dst, dtype=np.int64)
        if self.src.shape != self.dst.shape or self.src.ndim != 1:
            raise ValueError("Edge src and dst must be 1-D arrays of the same length.")
        for name in list(self.props):
            check_identifier(name, "Property")
            if name in RESERVED_PROPS:
                raise ValueError(f"Property name {name!r} is reserved.")
            self.props[name] = _column(self.props[name], len(self.src), name)

    def __len__(self) -> int:
        return len(self.src)

    def slice(self, start: int, stop: int) -> EdgeTable:
        """Rows [start, stop) as a view."""
        return EdgeTable(
            self.type,
            self.src_label,
            self.dst_label,
            self.src[start:stop],
            self.dst[start:stop],
            {k: v[start:stop] for k, v in self.props.items()},
            self.directed,
        )

    def take(self, rows: np.ndarray) -> EdgeTable:
        """The given rows, in the given order (a copy)."""
        return EdgeTable(
            self.type,
            self.src_label,
            self.dst_label,
            self.src[rows],
            self.dst[rows],
            {k: v[rows] for k, v in self.props.items()},
            self.directed,
        )


@dataclass
class GraphData:
    """A graph extracted from a network: id, kind, the parameters that made it, node and edge tables."""

    graph_id: str
    kind: str
    nodes: dict[str, NodeTable] = field(default_factory=dict)
    edges: dict[str, EdgeTable] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        check_graph_id(self.graph_id)

    def add_nodes(self, label: str, keys: Any, /, **props: Any) -> NodeTable:
        """Add (or replace) the node table of one label."""
        table = NodeTable(label, np.asarray(keys), dict(props))
        self.nodes[label] = table
        return table

    def add_edges(
        self, type: str, src_label: str, dst_label: str, src: Any, dst: Any, /, directed: bool = True, **props: Any
    ) -> EdgeTable:
        """Add (or replace) the edge table of one relationship type."""
        table = EdgeTable(type, src_label, dst_label, np.asarray(src), np.asarray(dst), dict(props), directed)
        self.edges[type] = table
        return table

    @property
    def node_count(self) -> int:
        return sum(len(t) for t in self.nodes.values())

    @property
    def edge_count(self) -> int:
        return sum(len(t) for t in self.edges.values())

    def uid(self, key: int) -> str:
        """The store-wide identifier of a node."""
        return f"{self.graph_id}:{int(key)}"

    def uid_array(self, keys: np.ndarray) -> pa.Array:
        """uids for an array of keys as an Arrow string array (vectorised in Arrow, no Python strings)."""
        digits = pc.cast(pa.array(np.asarray(keys, dtype=np.int64)), pa.string())
        return pc.binary_join_element_wise(pa.scalar(self.graph_id + ":"), digits, pa.scalar(""))

    def uids(self, keys: np.ndarray) -> np.ndarray:
        """Vector of uids for an array of keys (object dtype)."""
        return self.uid_array(keys).to_numpy(zero_copy_only=False).astype(object)

    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True, default=str)

    def validate(self) -> None:
        """Keys unique across labels; every edge endpoint is a node of the declared label."""
        all_keys = np.concatenate([t.keys for t in self.nodes.values()]) if self.nodes else np.empty(0, np.int64)
        if len(np.unique(all_keys)) != len(all_keys):
            raise ValueError(f"Graph {self.graph_id}: node keys are not unique across labels.")
        for edges in self.edges.values():
            for side, label, keys in (("source", edges.src_label, edges.src), ("target", edges.dst_label, edges.dst)):
                if label not in self.nodes:
                    raise ValueError(f"Edges {edges.type}: {side} label {label} has no node table.")
                missing = ~np.isin(keys, self.nodes[label].keys)
                if missing.any():
                    raise ValueError(
                        f"Edges {edges.type}: {int(missing.sum())} {side} keys are not {label} nodes "
                        f"(first: {int(keys[missing][0])})."
                    )

    def node_index(self) -> tuple[np.ndarray, np.ndarray]:
        """All node keys in a fixed order (labels sorted) and their labels: the row order of every conversion."""
        labels = sorted(self.nodes)
        keys = [self.nodes[lb].keys for lb in labels]
        names = [np.full(len(self.nodes[lb]), lb, dtype=object) for lb in labels]
        if not keys:
            return np.empty(0, np.int64), np.empty(0, object)
        return np.concatenate(keys), np.concatenate(names)

    def summary(self) -> dict[str, Any]:
        """Counts by label and type, for printing and the tracking DB."""
        return {
            "graph_id": self.graph_id,
            "kind": self.kind,
            "nodes": {lb: len(t) for lb, t in self.nodes.items()},
            "edges": {ty: len(t) for ty, t in self.edges.items()},
        }
