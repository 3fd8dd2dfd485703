"""Conversions of the in-memory Graph to and from igraph, networkx, scipy.sparse, pandas and Arrow: the only place
they live (Graph's to_*/from_* methods delegate here). They take graphstore.graph_data.GraphData, the data to
which graphstore.graph.Graph adds those methods, so this module never imports graphstore.graph.

Every conversion uses the row order of `Graph.node_index()`, so results map back to node keys by position.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphstore.errors import GraphstoreError
from graphstore.graph_data import GraphData

if TYPE_CHECKING:
    import igraph
    import networkx
    import pandas  # type: ignore[import-untyped]
    import scipy.sparse as sp

G = TypeVar("G", bound=GraphData)

# Structural columns use neo4j-admin's header names: none is an identifier, so no property can collide with them.
NODE_ID, NODE_LABEL = ":ID", ":LABEL"
EDGE_START, EDGE_END, EDGE_TYPE = ":START_ID", ":END_ID", ":TYPE"
EDGE_START_LABEL, EDGE_END_LABEL, EDGE_DIRECTED = ":START_LABEL", ":END_LABEL", ":DIRECTED"
NODE_COLUMNS = (NODE_ID, NODE_LABEL)
EDGE_COLUMNS = (EDGE_START, EDGE_END, EDGE_TYPE, EDGE_START_LABEL, EDGE_END_LABEL, EDGE_DIRECTED)


def _selected_edges(graph: GraphData, types: Iterable[str] | None) -> list:
    chosen = list(graph.edges) if types is None else list(types)
    unknown = [t for t in chosen if t not in graph.edges]
    if unknown:
        raise KeyError(f"Graph {graph.graph_id} has no edges of type {unknown}; it has {sorted(graph.edges)}.")
    return [graph.edges[t] for t in chosen]


def positions(graph: GraphData, keys: np.ndarray) -> np.ndarray:
    """Row positions (in node_index order) of the given node keys, vectorised."""
    order_keys, _ = graph.node_index()
    sorter = np.argsort(order_keys, kind="stable")
    pos = np.searchsorted(order_keys, keys, sorter=sorter)
    pos = np.clip(pos, 0, max(len(order_keys) - 1, 0))
    found = sorter[pos] if len(order_keys) else pos
    if len(keys) and not np.array_equal(order_keys[found], keys):
        raise KeyError("Some edge endpoints are not nodes of the graph.")
    return found


def edge_arrays(
    graph: GraphData, types: Iterable[str] | None = None, weight: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Concatenated (source position, target position, weight) over the chosen edge types (weight 1 where absent)."""
    tables = _selected_edges(graph, types)
    if not tables:
        return np.empty(0, np.int64), np.empty(0, np.int64), None
    src = positions(graph, np.concatenate([t.src for t in tables]))
    dst = positions(graph, np.concatenate([t.dst for t in tables]))
    w = None
    if weight is not None:
        w = np.concatenate(
            [np.asarray(t.props[weight], dtype=np.float64) if weight in t.props else np.ones(len(t)) for t in tables]
        )
    return src, dst, w


def to_scipy(
    graph: GraphData, types: Iterable[str] | None = None, weight: str | None = None, symmetric: bool = False
) -> sp.csr_matrix:
    """Adjacency matrix (n x n, CSR); duplicate edges are summed; symmetric=True adds the transpose."""
    import scipy.sparse as sp  # deferred: scipy loads only for a sparse conversion

    n = graph.node_count
    src, dst, w = edge_arrays(graph, types, weight)
    data = np.ones(len(src)) if w is None else w
    mat = sp.coo_matrix((data, (src, dst)), shape=(n, n)).tocsr()
    if symmetric:
        mat = (mat + mat.T).tocsr()
    return mat


def to_igraph(
    graph: GraphData, types: Iterable[str] | None = None, weight: str | None = None, directed: bool | None = None
) -> igraph.Graph:
    """igraph.Graph with vertex attributes key/label and an edge attribute 'weight' when asked."""
    import igraph as ig  # deferred: igraph (over 1 s) loads only for an igraph conversion

    tables = _selected_edges(graph, types)
    if directed is None:
        directed = all(t.directed for t in tables) if tables else False
    src, dst, w = edge_arrays(graph, types, weight)
    g = ig.Graph(n=graph.node_count, edges=np.column_stack([src, dst]) if len(src) else [], directed=directed)
    keys, labels = graph.node_index()
    g.vs["key"] = keys.tolist()
    g.vs["label"] = labels.tolist()
    if w is not None:
        g.es["weight"] = w.tolist()
    return g


def to_networkx(
    graph: GraphData, types: Iterable[str] | None = None, directed: bool | None = None, with_props: bool = True
) -> networkx.Graph:
    """networkx (Di)Graph keyed by node key: node attribute `:LABEL` and the properties, edge attribute `:TYPE` and
    the properties (names that are no identifier, so no property collides with them)."""
    import networkx as nx  # deferred: networkx loads only for a networkx conversion

    tables = _selected_edges(graph, types)
    if directed is None:
        directed = all(t.directed for t in tables) if tables else False
    g: Any = nx.DiGraph() if directed else nx.Graph()
    for table in graph.nodes.values():
        attrs = {k: v.tolist() for k, v in table.props.items()} if with_props else {}
        for i, key in enumerate(table.keys.tolist()):
            g.add_node(key, **{NODE_LABEL: table.label}, **{k: col[i] for k, col in attrs.items()})
    for table in tables:
        props = {k: v.tolist() for k, v in table.props.items()} if with_props else {}
        rows = zip(table.src.tolist(), table.dst.tolist(), strict=True)
        g.add_edges_from(
            (s, t, {EDGE_TYPE: table.type, **{k: c[i] for k, c in props.items()}}) for i, (s, t) in enumerate(rows)
        )
    return g


# ---- tables: pandas / Arrow, and back ------------------------------------------------------------------------------


class TableError(GraphstoreError):
    """Node or edge tables (pandas, Arrow, networkx) cannot become a Graph the store accepts."""


def _concat(tables: list[pa.Table], columns: tuple[str, ...]) -> pa.Table:
    """One table from per-label/type tables; a property absent from a label is null there."""
    if not tables:
        return pa.table({name: pa.array([], pa.int64() if name.endswith("_ID") else pa.string()) for name in columns})
    return pa.concat_tables(tables, promote_options="default")


def to_arrow(graph: GraphData) -> tuple[pa.Table, pa.Table]:
    """(nodes, edges) as Arrow tables: one row per node (`:ID`, `:LABEL`, properties) and per relationship
    (`:START_ID`, `:END_ID`, `:TYPE`, `:START_LABEL`, `:END_LABEL`, `:DIRECTED`, properties)."""
    nodes = [
        pa.table({NODE_ID: t.keys, NODE_LABEL: pa.array([t.label] * len(t), pa.string()), **_arrow_props(t.props)})
        for t in graph.nodes.values()
    ]
    edges = [
        pa.table(
            {
                EDGE_START: t.src,
                EDGE_END: t.dst,
                EDGE_TYPE: pa.array([t.type] * len(t), pa.string()),
                EDGE_START_LABEL: pa.array([t.src_label] * len(t), pa.string()),
                EDGE_END_LABEL: pa.array([t.dst_label] * len(t), pa.string()),
                EDGE_DIRECTED: pa.array([t.directed] * len(t), pa.bool_()),
                **_arrow_props(t.props),
            }
        )
        for t in graph.edges.values()
    ]
    return _concat(nodes, NODE_COLUMNS), _concat(edges, EDGE_COLUMNS)


def _arrow_props(props: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    """Property columns as Arrow arrays (object columns of text become strings)."""
    return {name: pa.array(values) for name, values in props.items()}


def to_pandas(graph: GraphData) -> tuple[pandas.DataFrame, pandas.DataFrame]:
    """(nodes, edges) DataFrames with to_arrow's columns; integer and boolean properties that a label lacks are
    pandas' nullable Int64 / boolean, so no integer column turns into floats."""
    import pandas as pd  # type: ignore[import-untyped]  # deferred: pandas loads only for a table conversion

    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    nodes, edges = to_arrow(graph)
    return nodes.to_pandas(types_mapper=mapping.get), edges.to_pandas(types_mapper=mapping.get)


def fill_from_arrow(graph: G, nodes: pa.Table, edges: pa.Table | None = None) -> G:
    """Add the node and edge tables of to_arrow's layout to `graph`: one node table per `:LABEL`, one edge table per
    `:TYPE`; a property null on every row of a label or type is left out (it belongs to another one)."""
    _require(nodes, NODE_COLUMNS, "nodes")
    for label in _distinct(nodes, NODE_LABEL):
        part = nodes.filter(pc.equal(nodes[NODE_LABEL], label))
        graph.add_nodes(label, _numpy(part, NODE_ID, "nodes"), **_props(part, NODE_COLUMNS, f"nodes of {label}"))
    if edges is not None and edges.num_rows:
        edges = _with_edge_defaults(graph, edges)
        for rel in _distinct(edges, EDGE_TYPE):
            part = edges.filter(pc.equal(edges[EDGE_TYPE], rel))
            ends = [_single(part, name, rel) for name in (EDGE_START_LABEL, EDGE_END_LABEL)]
            directed = bool(_single(part, EDGE_DIRECTED, rel))
            src, dst = _numpy(part, EDGE_START, "edges"), _numpy(part, EDGE_END, "edges")
            props = _props(part, EDGE_COLUMNS, f"{rel} edges")
            graph.add_edges(rel, ends[0], ends[1], src, dst, directed=directed, **props)
    try:
        graph.validate()
    except ValueError as exc:
        raise TableError(str(exc), "Every edge's :START_ID and :END_ID must be an :ID of its end labels.") from exc
    return graph


def fill_from_pandas(graph: G, nodes: pandas.DataFrame, edges: pandas.DataFrame | None = None) -> G:
    """fill_from_arrow for DataFrames (to_pandas' layout)."""
    return fill_from_arrow(
        graph,
        pa.Table.from_pandas(nodes, preserve_index=False),
        None if edges is None else pa.Table.from_pandas(edges, preserve_index=False),
    )


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise TableError(
            f"The {what} table has no column {', '.join(missing)}.",
            f"Give the columns {', '.join(columns)} (the layout Graph.to_pandas() writes) plus properties.",
        )


def _distinct(table: pa.Table, column: str) -> list[str]:
    """The distinct values of a text column in first-seen order; a null is refused."""
    if table[column].null_count:
        raise TableError(f"Column {column} has empty (null) values.", f"Give every row its {column}.")
    return list(dict.fromkeys(table[column].to_pylist()))


def _single(table: pa.Table, column: str, rel: str) -> Any:
    """The one value a column takes within an edge type."""
    values = set(table[column].to_pylist())
    if len(values) != 1:
        raise TableError(
            f"Edges of type {rel} have {len(values)} values of {column}: {sorted(map(str, values))[:4]}.",
            "Give each relationship type one start label, one end label and one direction.",
        )
    return values.pop()


def _with_edge_defaults(graph: GraphData, edges: pa.Table) -> pa.Table:
    """:START_LABEL / :END_LABEL default to the only node label, :DIRECTED to true."""
    _require(edges, (EDGE_START, EDGE_END, EDGE_TYPE), "edges")
    n = edges.num_rows
    for column in (EDGE_START_LABEL, EDGE_END_LABEL):
        if column not in edges.column_names:
            if len(graph.nodes) != 1:
                raise TableError(f"The edges table has no {column} and the nodes have several labels.", "Add it.")
            edges = edges.append_column(column, pa.array([next(iter(graph.nodes))] * n, pa.string()))
    if EDGE_DIRECTED not in edges.column_names:
        edges = edges.append_column(EDGE_DIRECTED, pa.array([True] * n, pa.bool_()))
    return edges


def _numpy(table: pa.Table, column: str, what: str) -> np.ndarray:
    """A key column as int64; nulls or non-integers are refused."""
    col = table[column]
    if col.null_count or not pa.types.is_integer(col.type):
        raise TableError(f"Column {column} of the {what} table must be integers without nulls.", "Use int64 keys.")
    return np.asarray(col.to_numpy(), dtype=np.int64)


def _props(table: pa.Table, structural: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    """The property columns present on some row, as numpy (text as object, None where null); an integer or boolean
    column with some nulls is refused (the stores have no null in such a column)."""
    out = {}
    for name in table.column_names:
        col = table[name]
        if name in structural or col.null_count == len(col):
            continue
        if col.null_count and (pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)):
            raise TableError(
                f"Property {name} of the {what} has {col.null_count} empty values in an integer or boolean column.",
                "Fill them, or use a float column (NaN) or a text column (None) for values that may be missing.",
            )
        values = col.to_numpy()
        out[name] = values.astype(object) if values.dtype.kind in "OUS" else values
    return out


def fill_from_networkx(graph: G, g: networkx.Graph) -> G:
    """Add a networkx graph's nodes and edges to `graph`: integer node ids become keys, the node attribute `:LABEL`
    the label (default Node), the edge attribute `:TYPE` the relationship type (default EDGE); other attributes are
    properties (to_networkx's layout)."""
    rows = list(g.nodes(data=True))
    if any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) for n, _ in rows):
        raise TableError(
            "networkx node ids must be integers (they become the node keys).",
            "Relabel first: networkx.convert_node_labels_to_integers(g, label_attribute='name').",
        )
    label_of = {int(n): str(a.get(NODE_LABEL, "Node")) for n, a in rows}
    node_table = _records([{NODE_ID: int(n), NODE_LABEL: label_of[int(n)], **_attrs(a, NODE_LABEL)} for n, a in rows])
    directed = g.is_directed()
    ends: dict[str, tuple[str, str]] = {}
    edge_rows: list[dict[str, Any]] = []
    for s, t, a in g.edges(data=True):
        rel, (s, t) = str(a.get(EDGE_TYPE, "EDGE")), (int(s), int(t))
        first = ends.setdefault(rel, (label_of[s], label_of[t]))
        if not directed and (label_of[t], label_of[s]) == first != (label_of[s], label_of[t]):
            s, t = t, s  # networkx reports an undirected edge in either order: keep the type's orientation
        row = {EDGE_START: s, EDGE_END: t, EDGE_TYPE: rel, EDGE_START_LABEL: label_of[s], EDGE_END_LABEL: label_of[t]}
        edge_rows.append({**row, EDGE_DIRECTED: directed, **_attrs(a, EDGE_TYPE)})
    return fill_from_arrow(graph, node_table, _records(edge_rows) if edge_rows else None)


def _attrs(attrs: dict[str, Any], structural: str) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k != structural}


def _records(rows: list[dict[str, Any]]) -> pa.Table:
    """An Arrow table of dict rows (a key missing from a row is null there)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    try:
        return pa.table({name: pa.array([row.get(name) for row in rows]) for name in names})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TableError(f"The attributes do not form typed columns: {exc}", "Give each attribute one type.") from exc
