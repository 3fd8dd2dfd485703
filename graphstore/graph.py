"""The in-memory Graph: columnar node tables per label and edge tables per relationship type, and its conversions.

It is the one currency between extraction, the stores and the analyses. Node keys are int64 and unique
across the whole graph, so `uid = f"{graph_id}:{key}"` identifies a node in any store. The data and its checks
live in graphstore.graph_data; the conversions in graphstore.convert, which Graph's to_*/from_* methods call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphstore import convert
from graphstore.graph_data import EdgeTable, GraphData, NodeTable
from graphstore.names import GRAPH_ID_PATTERN, IDENTIFIER, RESERVED_PROPS, check_graph_id, check_identifier

if TYPE_CHECKING:
    import igraph
    import networkx
    import pandas  # type: ignore[import-untyped]
    import pyarrow as pa

__all__ = [
    "GRAPH_ID_PATTERN",
    "IDENTIFIER",
    "RESERVED_PROPS",
    "EdgeTable",
    "Graph",
    "NodeTable",
    "check_graph_id",
    "check_identifier",
]


class Graph(GraphData):
    """A graph extracted from a network (graphstore.graph_data.GraphData: no fields of its own), convertible to and
    from networkx, igraph, pandas and Arrow."""

    def to_networkx(self, types: list[str] | None = None, directed: bool | None = None) -> networkx.Graph:
        """A networkx (Di)Graph keyed by node key: node attribute `:LABEL` and properties, edge attribute `:TYPE` and
        properties (parallel edges of one pair collapse, as networkx's simple graphs do)."""
        return convert.to_networkx(self, types, directed)

    def to_igraph(self, types: list[str] | None = None, weight: str | None = None) -> igraph.Graph:
        """An igraph.Graph in node_index() order with vertex attributes key and label (and edge `weight` if asked)."""
        return convert.to_igraph(self, types, weight)

    def to_pandas(self) -> tuple[pandas.DataFrame, pandas.DataFrame]:
        """(nodes, edges) DataFrames: `:ID`, `:LABEL` and properties; `:START_ID`, `:END_ID`, `:TYPE`, `:START_LABEL`,
        `:END_LABEL`, `:DIRECTED` and properties (graphstore.convert.to_pandas)."""
        return convert.to_pandas(self)

    def to_arrow(self) -> tuple[pa.Table, pa.Table]:
        """(nodes, edges) as Arrow tables with to_pandas' columns."""
        return convert.to_arrow(self)

    @classmethod
    def from_pandas(
        cls, nodes: pandas.DataFrame, edges: pandas.DataFrame | None = None, *, graph_id: str, kind: str = "custom"
    ) -> Graph:
        """A Graph from to_pandas' tables (one node table per `:LABEL`, one edge table per `:TYPE`)."""
        return convert.fill_from_pandas(cls(graph_id, kind), nodes, edges)

    @classmethod
    def from_arrow(
        cls, nodes: pa.Table, edges: pa.Table | None = None, *, graph_id: str, kind: str = "custom"
    ) -> Graph:
        """A Graph from to_arrow's tables."""
        return convert.fill_from_arrow(cls(graph_id, kind), nodes, edges)

    @classmethod
    def from_networkx(cls, g: networkx.Graph, *, graph_id: str, kind: str = "custom") -> Graph:
        """A Graph from a networkx graph with integer node ids (node attribute `:LABEL`, edge attribute `:TYPE`, the
        rest properties: to_networkx's layout)."""
        return convert.fill_from_networkx(cls(graph_id, kind), g)
