"""One contract, two backends: every test here runs against the embedded store and a real Neo4j."""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.errors import GraphExists, GraphNotFound, QueryError
from graphstore.store.base import COMPLETE, INCOMPLETE
from tests.conftest import random_graph, small_graph


def _edge_set(table) -> set[tuple[int, int, float]]:
    rows = zip(table.src, table.dst, table.props["w"], strict=True)
    return {(int(s), int(t), round(float(w), 6)) for s, t, w in rows}


def test_write_and_read_back_whole(store):
    graph = small_graph()
    report = store.write_graph(graph)
    assert (report.nodes, report.edges) == (9, 10)
    back = store.read_graph("g1")
    assert back.kind == "weights" and back.params == {"source": "test", "k": 3}
    assert sorted(back.nodes) == ["Class", "Neuron"] and sorted(back.edges) == ["REPRESENTS", "WEIGHT"]
    neurons = back.nodes["Neuron"]
    assert neurons.keys.tolist() == list(range(7))
    assert neurons.props["layer"].tolist() == ["in"] * 3 + ["h"] * 2 + ["out"] * 2
    np.testing.assert_allclose(neurons.props["bias"].astype(float), np.linspace(0, 0.6, 7))
    assert _edge_set(back.edges["WEIGHT"]) == _edge_set(graph.edges["WEIGHT"])
    assert back.nodes["Class"].props["name"].tolist() == ["cat", "dog"]


def test_read_filtered(store):
    store.write_graph(small_graph())
    back = store.read_graph("g1", labels=["Neuron"], rel_types=["WEIGHT"])
    assert list(back.nodes) == ["Neuron"] and list(back.edges) == ["WEIGHT"]
    assert len(back.edges["WEIGHT"]) == 8


def test_list_and_drop(store):
    store.write_graph(small_graph("a"))
    store.write_graph(small_graph("b"))
    infos = {i.graph_id: i for i in store.list_graphs()}
    assert set(infos) == {"a", "b"}
    assert infos["a"].status == COMPLETE and (infos["a"].node_count, infos["a"].edge_count) == (9, 10)
    store.drop_graph("a")
    assert [i.graph_id for i in store.list_graphs()] == ["b"]
    assert len(store.read_graph("b").edges["WEIGHT"]) == 8


def test_existing_graph_id_refused_unless_replace(store):
    store.write_graph(small_graph())
    with pytest.raises(GraphExists, match="already exists") as info:
        store.write_graph(small_graph())
    assert "--replace" in info.value.hint
    replacement = random_graph("g1", 20, 50)
    store.write_graph(replacement, replace=True)
    back = store.read_graph("g1")
    assert len(back.nodes["Neuron"]) == 20 and "Class" not in back.nodes


def test_unknown_graph_lists_close_ones(store):
    store.write_graph(small_graph("mnist-weights"))
    with pytest.raises(GraphNotFound) as info:
        store.read_graph("mnist-weight")
    assert "mnist-weights" in info.value.hint
    with pytest.raises(GraphNotFound):
        store.drop_graph("nope")


class Interrupt(KeyboardInterrupt):
    pass


def _interrupt_after(first_step: str):
    def callback(step: str, done: int, total: int) -> None:
        if step.startswith(first_step):
            raise Interrupt()

    return callback


def test_interrupted_write_is_incomplete_then_resumed(store):
    graph = small_graph()
    with pytest.raises(Interrupt):
        store.write_graph(graph, on_progress=_interrupt_after("nodes Neuron"))
    info = store.graph_info("g1")
    assert info.status == INCOMPLETE and "Interrupt" in info.error
    assert "Class" in info.progress["nodes"] and "WEIGHT" not in info.progress.get("edges", {})
    with pytest.raises(GraphNotFound, match="incomplete"):
        store.read_graph("g1")
    with pytest.raises(GraphExists, match="incomplete") as exists:
        store.write_graph(graph)
    assert "--resume" in exists.value.hint
    report = store.write_graph(graph, resume=True)
    assert report.resumed
    back = store.read_graph("g1")
    assert len(back.nodes["Neuron"]) == 7 and len(back.edges["WEIGHT"]) == 8  # no duplicates from the resume


def test_incomplete_graph_can_be_dropped(store):
    with pytest.raises(Interrupt):
        store.write_graph(small_graph(), on_progress=_interrupt_after("nodes"))
    store.drop_graph("g1")
    assert store.graph_info("g1") is None
    store.write_graph(small_graph())
    assert store.graph_info("g1").status == COMPLETE


def test_write_node_properties(store):
    store.write_graph(small_graph())
    store.write_node_properties(
        "g1", "Neuron", np.array([3, 4]), {"pagerank": np.array([0.25, 0.75]), "louvain": np.array([1, 2])}
    )
    neurons = store.read_graph("g1").nodes["Neuron"]
    assert neurons.props["pagerank"].tolist() == [None, None, None, 0.25, 0.75, None, None]
    assert neurons.props["louvain"].tolist()[3:5] == [1, 2]


def test_named_queries(store):
    store.write_graph(small_graph())
    hubs = store.run_query("hubs", {"graph_id": "g1", "limit": "3"}).records()
    assert [(h["key"], h["degree"]) for h in hubs] == [(3, 5), (4, 3), (5, 3)]
    rows = store.run_query("graph_summary", {"graph_id": "g1"}).records()
    summary = {(r["element"], r["name"]): r["count"] for r in rows}
    assert summary == {
        ("node", "Neuron"): 7,
        ("node", "Class"): 2,
        ("relationship", "WEIGHT"): 8,
        ("relationship", "REPRESENTS"): 2,
    }
    near = store.run_query("neighbourhood", {"graph_id": "g1", "key": "5"}).records()
    assert [(r["neighbour"], r["direction"]) for r in near] == [("g1:7", "out"), ("g1:3", "in"), ("g1:4", "in")]


def test_queries_scoped_by_graph_id(store):
    store.write_graph(small_graph("a"))
    store.write_graph(random_graph("b", 30, 200))
    hubs = store.run_query("hubs", {"graph_id": "a", "limit": 100}).records()
    assert {h["uid"].split(":")[0] for h in hubs} == {"a"} and len(hubs) == 9


def test_query_errors(store):
    with pytest.raises(QueryError, match="Unknown query") as info:
        store.run_query("hubz", {"graph_id": "x"})
    assert "hubs" in info.value.hint
    with pytest.raises(QueryError, match="needs parameter graph_id"):
        store.run_query("hubs", {})
    with pytest.raises(QueryError, match="not a valid int"):
        store.run_query("hubs", {"graph_id": "g1", "limit": "ten"})


def test_values_are_parameters_never_query_text(store):
    graph = small_graph()
    hostile = "x'}) DETACH DELETE n //"
    graph.nodes["Class"].props["name"] = np.array([hostile, 'dog"; MATCH (n) DETACH DELETE n'], dtype=object)
    store.write_graph(graph)
    assert store.read_graph("g1").nodes["Class"].props["name"][0] == hostile
    with pytest.raises(QueryError, match="not valid"):
        store.run_query("hubs", {"graph_id": "g1' OR 1=1 //"})
    assert store.graph_info("g1").node_count == 9


def test_batched_writes_resume_exactly(store):
    """Small batches: an interrupt after the first edge batch resumes from the recorded progress, no duplicates."""
    store.batch_size = 7
    if store.dialect == "ladybug":
        store.copy_rows = 7  # pieces of the COPY source file
    graph = random_graph("big", 50, 300, seed=3)
    with pytest.raises(Interrupt):
        store.write_graph(graph, on_progress=_interrupt_after("edges"))
    written = store.graph_info("big").progress["edges"]["WEIGHT"]
    assert written == (300 if store.dialect == "ladybug" else 7)  # embedded: one COPY per table
    store.write_graph(graph, resume=True)
    back = store.read_graph("big")
    assert len(back.edges["WEIGHT"]) == 300

    def pairs(table):
        return sorted(zip(table.src.tolist(), table.dst.tolist(), strict=True))

    assert pairs(back.edges["WEIGHT"]) == pairs(graph.edges["WEIGHT"])


def test_boolean_properties_round_trip_twice(store):
    for graph_id in ("b1", "b2"):
        graph = small_graph(graph_id)
        graph.nodes["Neuron"].props["alive"] = np.array([True, False, True, True, False, True, True])
        store.write_graph(graph)
    assert store.read_graph("b2").nodes["Neuron"].props["alive"].tolist()[:2] == [True, False]
