"""The named queries that name a node's kind (graph_summary, hubs, neighbourhood) name its graphstore label, never
the colouring labels Neo4j Browser's stylesheet needs (`:Class3` on a sample of class 3, `:Layer2` on a neuron of
layer_index 1): on both stores the same kinds and counts come back."""

from __future__ import annotations

import uuid

import numpy as np

from graphstore.graph import Graph

KINDS = {"Neuron", "Sample"}


def coloured_graph(graph_id: str) -> Graph:
    """Six neurons over three layers and eight samples of four classes: both get colouring labels on Neo4j."""
    g = Graph(graph_id, "custom")
    g.add_nodes("Neuron", np.arange(6), layer_index=np.array([0, 0, 1, 1, 2, 2]))
    g.add_nodes("Sample", np.arange(10, 18), label=np.array([0, 1, 2, 3, 0, 1, 2, 3]), idx=np.arange(8))
    g.add_edges("WEIGHT", "Neuron", "Neuron", [0, 1, 0, 2, 3, 2, 3], [2, 2, 3, 4, 4, 5, 5], w=np.ones(7))
    g.add_edges("KNN", "Sample", "Sample", [10, 11, 12, 13, 14, 15, 16, 17], [11, 12, 13, 14, 15, 16, 17, 10])
    return g


def test_summary_hubs_and_neighbourhood_name_only_graph_kinds(store) -> None:
    graph_id = f"kinds-{uuid.uuid4().hex[:8]}"
    store.write_graph(coloured_graph(graph_id))
    try:
        if store.dialect == "neo4j":  # the colouring labels are there, so the queries below have something to skip
            stored = store.read(
                "MATCH (n:GraphNode {graph_id: $g}) UNWIND labels(n) AS l RETURN DISTINCT l", {"g": graph_id}
            )
            assert {"Class0", "Class3", "Layer1", "Layer3"} <= {row[0] for row in stored.rows}
        summary = store.run_query("graph_summary", {"graph_id": graph_id})
        nodes = {name: count for element, name, count in summary.rows if element == "node"}
        assert nodes == {"Neuron": 6, "Sample": 8}
        hubs = store.run_query("hubs", {"graph_id": graph_id, "limit": 100})
        label = hubs.columns.index("label")
        assert len(hubs.rows) == 14 and {row[label] for row in hubs.rows} == KINDS
        for key in (3, 12):
            near = store.run_query("neighbourhood", {"graph_id": graph_id, "key": key})
            assert near.rows and {row[near.columns.index("label")] for row in near.rows} <= KINDS
    finally:
        store.drop_graph(graph_id)
