"""Neo4j through a routing URI (neo4j://), as a cluster is reached: writes go to the leader, reads run in read
transactions that a cluster may answer from a follower, with the store's bookmarks so they see its own writes.

The test server is a single instance; the routing driver gets a routing table from it naming itself in every role,
so the same code paths run as against a cluster. Retried batches (a leader change mid-write) are covered by
tests/test_store_writes.py::test_replayed_batches_write_nothing_twice.
"""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.errors import QueryError
from graphstore.store.neo4j_store import Neo4jStore
from tests.conftest import random_graph
from tests.servers import neo4j_params

pytestmark = pytest.mark.neo4j


@pytest.fixture
def routed() -> Neo4jStore:
    params = neo4j_params()
    uri = params.uri.replace("bolt://", "neo4j://", 1)
    assert uri.startswith("neo4j://"), uri
    store = Neo4jStore(uri, params.user, params.password, batch_size=500)
    store.execute("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    yield store
    store.close()


def test_write_then_read_through_the_routing_driver(routed: Neo4jStore) -> None:
    graph = random_graph("routed", n=300, m=2_000, seed=3)
    routed.write_graph(graph)
    back = routed.read_graph("routed")
    assert back.node_count == graph.node_count and back.edge_count == graph.edge_count
    ours, theirs = graph.edges["WEIGHT"], back.edges["WEIGHT"]
    assert sorted(zip(ours.src.tolist(), ours.dst.tolist(), strict=True)) == sorted(
        zip(theirs.src.tolist(), theirs.dst.tolist(), strict=True)
    )
    assert np.allclose(np.sort(ours.props["w"]), np.sort(theirs.props["w"]))
    assert [g.graph_id for g in routed.list_graphs()] == ["routed"]


def test_reads_run_in_read_transactions(routed: Neo4jStore) -> None:
    """The server refuses a write inside the store's read path: reads really are read transactions."""
    with pytest.raises(QueryError) as refused:
        routed.read("CREATE (:Scratch) RETURN 1 AS one")
    assert "read" in str(refused.value).lower()
    assert routed.read("RETURN 1 AS one").rows == [[1]]
    assert routed.execute("MATCH (n:Scratch) RETURN count(n) AS c").rows == [[0]]
