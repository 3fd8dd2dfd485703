"""Issue 19 probe, the Neo4j write plugin: its procedures, called directly as any user of the server could, refuse
relationships across graphs, writes into a graph that is not being written, negative or mismatched counts, unknown
type codes and names that are not identifiers - with a graphstore error and nothing written - while the store's
own write path still writes exactly the graph. Against the real Neo4j that `make test` starts (with the plugin
built from this source)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from graphstore.errors import InvalidGraph
from graphstore.graph import Graph
from graphstore.store.base import COMPLETE, graph_node_params
from graphstore.store.neo4j_store import Neo4jStore
from graphstore.store.neo4j_writer import CREATE_NODES, CREATE_RELS, byte_column
from tests.conftest import random_graph
from tests.servers import neo4j_params

pytestmark = pytest.mark.neo4j

TARGET, OTHER = "p2-plugin-target", "p2-plugin-other"  # being written / complete


def _ids(store: Neo4jStore, graph_id: str) -> list[int]:
    rows = store.execute(  # the plugin takes the kernel's numeric ids
        "MATCH (n:GraphNode {graph_id: $g}) RETURN id(n) ORDER BY n.key", {"g": graph_id}, kernel_ids=True
    ).rows
    return [int(r[0]) for r in rows]


def _counts(store: Neo4jStore) -> dict[str, tuple[int, int]]:
    """Nodes and relationships (either direction, so one across the graphs counts in both) of both graphs."""
    out = {}
    for g in (TARGET, OTHER):
        nodes = store.execute("MATCH (n:GraphNode {graph_id: $g}) RETURN count(n)", {"g": g}).rows[0][0]
        rels = store.execute("MATCH (:GraphNode {graph_id: $g})-[r]-() RETURN count(DISTINCT r)", {"g": g}).rows[0][0]
        out[g] = (int(nodes), int(rels))
    return out


@pytest.fixture(scope="module")
def store() -> Iterator[Neo4jStore]:
    """OTHER complete; TARGET's :Graph record being written (status 'writing') with 10 nodes from the plugin."""
    params = neo4j_params()
    with Neo4jStore(params.uri, params.user, params.password, batch_size=50, writers=1) as store:
        assert store.write_path == "plugin"
        for g in (TARGET, OTHER):
            if store.graph_info(g) is not None:
                store.drop_graph(g)
        store.write_graph(random_graph(OTHER, 10, 30, seed=1))
        target = Graph(TARGET, "weights")
        store._create_graph_node(target)
        store.execute(CREATE_NODES, _node_params(np.arange(10)))
        yield store
        for g in (TARGET, OTHER):
            store.drop_graph(g)


def _node_params(keys: np.ndarray, **change: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "labels": ["GraphNode", "Neuron"],
        "count": len(keys),
        "constants": {"graph_id": TARGET},
        "columns": {"uid": [f"{TARGET}:{k}" for k in keys], "key": byte_column(keys)},
    }
    params.update(change)
    return params


def _rel_params(src_ids: list[int], dst_ids: list[int], change: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "type": "PROBE",
        "src": np.asarray(src_ids, "<i8").tobytes(),
        "dst": np.asarray(dst_ids, "<i8").tobytes(),
        "columns": {"w": byte_column(np.ones(len(src_ids)))},
    }
    params.update(change or {})
    return params


def _graph_record_id(store: Neo4jStore, graph_id: str) -> int:
    return int(store.execute("MATCH (g:Graph {graph_id: $g}) RETURN id(g)", {"g": graph_id}).rows[0][0])


Case = Callable[[Neo4jStore], tuple[str, dict[str, Any]]]


def _cross(store: Neo4jStore) -> tuple[str, dict[str, Any]]:
    return CREATE_RELS, _rel_params([_ids(store, TARGET)[0]], [_ids(store, OTHER)[0]])


def _cross_reversed(store: Neo4jStore) -> tuple[str, dict[str, Any]]:
    t, o = _ids(store, TARGET), _ids(store, OTHER)
    return CREATE_RELS, _rel_params([t[1], o[2], t[3]], [t[2], t[4], t[5]])  # one bad row among good ones


def _into_complete(store: Neo4jStore) -> tuple[str, dict[str, Any]]:
    o = _ids(store, OTHER)
    return CREATE_RELS, _rel_params([o[0]], [o[1]])


def _to_record(store: Neo4jStore) -> tuple[str, dict[str, Any]]:
    return CREATE_RELS, _rel_params([_ids(store, TARGET)[0]], [_graph_record_id(store, TARGET)])


def _missing(store: Neo4jStore) -> tuple[str, dict[str, Any]]:
    return CREATE_RELS, _rel_params([_ids(store, TARGET)[0]], [2**62])


def _negative_id(store: Neo4jStore) -> tuple[str, dict[str, Any]]:
    return CREATE_RELS, _rel_params([-1], [_ids(store, TARGET)[0]])


def _rels(change: dict[str, Any], n: int = 2) -> Case:
    def case(store: Neo4jStore) -> tuple[str, dict[str, Any]]:
        t = _ids(store, TARGET)
        return CREATE_RELS, _rel_params(t[:n], t[1 : n + 1], change)

    return case


def _nodes(**change: Any) -> Case:
    return lambda store: (CREATE_NODES, _node_params(np.arange(100, 103), **change))


CASES: dict[str, tuple[Case, str]] = {
    "cross-graph relationship": (_cross, "joins nodes of one graph"),
    "cross-graph row among good rows": (_cross_reversed, "joins nodes of one graph"),
    "relationship inside a complete graph": (_into_complete, "is not being written (status complete)"),
    "endpoint is the :Graph record": (_to_record, "is not a :GraphNode node"),
    "endpoint does not exist": (_missing, "is not a :GraphNode node"),
    "negative endpoint id": (_negative_id, "is not a :GraphNode node"),
    "src and dst lengths differ": (_rels({"dst": b"\x00" * 8}), "same length"),
    "src not whole int64s": (_rels({"src": b"\x00" * 12, "dst": b"\x00" * 12}), "same length"),
    "byte column too long": (_rels({"columns": {"w": b"d" + b"\x00" * 17}}), "has 17 bytes of 8 for 2 rows"),
    "list column too short": (_rels({"columns": {"w": [1.0]}}), "has 1 values for 2 rows"),
    "unknown type code": (_rels({"columns": {"w": b"z" + b"\x00" * 16}}), "unknown type code 122"),
    "empty byte column": (_rels({"columns": {"w": b""}}), "list or a typed byte array"),
    "relationship type not an identifier": (_rels({"type": "X`]->() DETACH DELETE n //"}), "relationship type"),
    "relationship property graph_id": (_rels({"columns": {"graph_id": ["x", "y"]}}), "graph_id cannot be a column"),
    "relationship property not an identifier": (_rels({"columns": {"a b": [1, 2]}}), "property 'a b'"),
    "negative count": (_nodes(count=-5, constants={"graph_id": TARGET}, columns={}), "count must be between 0"),
    "count beyond int": (_nodes(count=2**40), "count must be between 0"),
    "count differs from columns": (_nodes(count=2), "has 3 values for 2 rows"),
    "node without :GraphNode": (_nodes(labels=["Neuron"]), "must carry the label GraphNode"),
    "node labelled :Graph": (_nodes(labels=["GraphNode", "Graph"]), "graphstore's own record label"),
    "node labelled :GraphLane": (_nodes(labels=["GraphNode", "GraphLane"]), "graphstore's own record label"),
    "label not an identifier": (_nodes(labels=["GraphNode", "Neuron:Graph"]), "label 'Neuron:Graph'"),
    "nodes into a complete graph": (
        lambda s: (
            CREATE_NODES,
            _node_params(
                np.arange(100, 102), constants={"graph_id": OTHER}, columns={"uid": [f"{OTHER}:100", f"{OTHER}:101"]}
            ),
        ),
        "is not being written (status complete)",
    ),
    "nodes into a graph with no record": (
        _nodes(constants={"graph_id": "p2-no-such"}, columns={"uid": ["p2-no-such:1"] * 3}),
        "no :Graph record",
    ),
    "no graph_id constant": (_nodes(constants={}), "graph_id (a string)"),
    "uid of another graph": (
        _nodes(columns={"uid": [f"{TARGET}:100", f"{OTHER}:101", f"{TARGET}:102"]}),
        "not a uid of graph",
    ),
    "no uid column": (_nodes(columns={"key": [1, 2, 3]}), "each node's uid"),
    "graph_id as a column": (
        _nodes(columns={"uid": [f"{TARGET}:{k}" for k in (100, 101, 102)], "graph_id": [OTHER] * 3}),
        "graph_id cannot be a column",
    ),
    "uid as a constant": (_nodes(constants={"graph_id": TARGET, "uid": "x"}), "must be a column"),
    "property not an identifier": (
        _nodes(columns={"uid": [f"{TARGET}:{k}" for k in (100, 101, 102)], "x` = 1 //": [1, 2, 3]}),
        "is not an identifier",
    ),
    "map property value": (
        _nodes(columns={"uid": [f"{TARGET}:{k}" for k in (100, 101, 102)], "m": [{"a": 1}, None, None]}),
        "Neo4j cannot store",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_procedures_refuse_and_write_nothing(store: Neo4jStore, name: str) -> None:
    case, message = CASES[name]
    before = _counts(store)
    cypher, params = case(store)
    with pytest.raises(InvalidGraph) as info:
        store.execute(cypher, params)
    assert message in info.value.message and "graphstore write plugin refused" in info.value.message
    assert "ingest" in info.value.hint
    assert _counts(store) == before
    assert store.execute("MATCH ()-[r:PROBE]->() RETURN count(r)").rows[0][0] == 0


def test_the_target_graph_takes_its_own_relationships(store: Neo4jStore) -> None:
    """The same calls with both endpoints in the graph being written do write (the checks refuse only abuse)."""
    t = _ids(store, TARGET)
    before = _counts(store)
    assert store.execute(CREATE_RELS, _rel_params(t[:3], t[1:4])).rows == [[3]]
    assert store.execute(CREATE_RELS, _rel_params([], [])).rows == [[0]]
    after = _counts(store)
    assert after[TARGET] == (before[TARGET][0], before[TARGET][1] + 3) and after[OTHER] == before[OTHER]
    store.execute("MATCH ()-[r:PROBE]->() DELETE r")


def test_the_store_still_writes_exactly_the_graph(store: Neo4jStore) -> None:
    graph = random_graph("p2-plugin-normal", 40, 300, seed=7)
    store.write_graph(graph, replace=True)
    try:
        info = store.graph_info(graph.graph_id)
        assert info is not None and info.status == COMPLETE and (info.node_count, info.edge_count) == (40, 300)
        back = store.read_graph(graph.graph_id)
        key = lambda g: sorted(zip(g.edges["WEIGHT"].src.tolist(), g.edges["WEIGHT"].dst.tolist(), strict=True))  # noqa: E731
        assert key(back) == key(graph) and back.nodes["Neuron"].keys.tolist() == list(range(40))
        assert _counts(store)[OTHER] == (10, 30)
    finally:
        store.drop_graph(graph.graph_id)


def test_a_write_into_a_graph_being_dropped_is_refused(store: Neo4jStore) -> None:
    """The store's own batch into a graph a drop has marked (status incomplete) fails as a graphstore error."""
    graph = random_graph("p2-plugin-dropping", 5, 10, seed=2)
    store._create_graph_node(graph)
    try:
        store._set_graph_fields(graph.graph_id, {"status": "incomplete"})
        with pytest.raises(InvalidGraph, match="not being written"):
            store.execute(
                CREATE_NODES,
                {
                    **_node_params(np.arange(5)),
                    "constants": {"graph_id": graph.graph_id},
                    "columns": {"uid": [f"{graph.graph_id}:{k}" for k in range(5)]},
                },
            )
        assert store.execute("MATCH (n:GraphNode {graph_id: $g}) RETURN count(n)", {"g": graph.graph_id}).rows == [[0]]
    finally:
        store.drop_graph(graph.graph_id)


def test_graph_node_params_start_as_writing() -> None:
    """The plugin writes only into graphs whose record says 'writing': the store creates them so."""
    assert graph_node_params(Graph("x", "weights"))["status"] == "writing"
