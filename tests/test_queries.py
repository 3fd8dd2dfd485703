"""Named-query parameters are checked before anything runs (types, bounds, graph ids, property names), on both
stores; GraphStore.stored_types reports the relationship types of one graph with the properties they carry."""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.errors import GraphNotFound, QueryError
from graphstore.graph import Graph
from graphstore.store.queries import PropertyNotWritable, QueryParam, UnknownQuery, check_write_property, get_query
from tests.conftest import small_graph


@pytest.mark.parametrize(
    ("limit", "match"),
    [
        ("-3", "limit=-3 is out of range"),
        ("0", "limit=0 is out of range"),
        ("99999999999999999999", "out of range"),
        (10**30, "out of range"),
        ("ten", "not a valid int"),
        ("2.5", "not a valid int"),
        (True, "not a valid int"),
    ],
)
def test_limit_must_be_a_positive_bounded_int(store, limit, match):
    """Finding: -p limit=-3 and -p limit=99999999999999999999 ended in driver tracebacks."""
    store.write_graph(small_graph())
    with pytest.raises(QueryError, match=match) as info:
        store.run_query("hubs", {"graph_id": "g1", "limit": limit})
    if "range" in match:
        assert "1..1000000" in info.value.hint


def test_bounded_and_int64_parameters(store):
    store.write_graph(small_graph())
    with pytest.raises(QueryError, match="out of range"):
        store.run_query("neighbourhood", {"graph_id": "g1", "key": str(2**63)})
    assert store.run_query("neighbourhood", {"graph_id": "g1", "key": "-1"}).rows == []
    with pytest.raises(QueryError, match="min_fraction=1.5 is out of range"):
        store.run_query("mixed_regions", {"graph_id": "g1", "min_fraction": "1.5"})
    with pytest.raises(QueryError, match="not a valid float"):
        store.run_query("mixed_regions", {"graph_id": "g1", "min_fraction": "nan"})
    assert len(store.run_query("hubs", {"graph_id": "g1", "limit": 1_000_000}).rows) == 9


def test_unknown_graph_id_is_an_error_with_close_matches(store):
    """Finding: a query on an unknown graph id printed an empty table with rc 0."""
    store.write_graph(small_graph("weights-a"))
    with pytest.raises(GraphNotFound, match="'weights-b' is not in the store") as info:
        store.run_query("hubs", {"graph_id": "weights-b"})
    assert "weights-a" in info.value.hint
    with pytest.raises(QueryError, match="not valid"):
        store.run_query("hubs", {"graph_id": "a b"})


def test_unknown_query_offers_close_matches():
    with pytest.raises(UnknownQuery, match="Did you mean hubs") as info:
        get_query("hubz")
    assert isinstance(info.value, QueryError) and "gds_pagerank" in info.value.hint


@pytest.mark.parametrize("name", ["uid", "graph_id", "key", "labels", "a`b", "1x", "", "x y"])
def test_structural_or_malformed_properties_are_not_writable(name):
    with pytest.raises(PropertyNotWritable):
        check_write_property(name)
    with pytest.raises(PropertyNotWritable):
        get_query("gds_louvain").bind({"graph_id": "g1", "write_property": name})
    assert check_write_property("louvain_2") == "louvain_2"


def test_header_declares_types_bounds_and_projection():
    hubs = {p.name: p for p in get_query("hubs").params}
    assert hubs["graph_id"].type == "graph" and (hubs["limit"].low, hubs["limit"].high) == (1, 1_000_000)
    assert get_query("gds_pagerank").projection == "graph_id" and get_query("hubs").projection is None
    assert "limit (int[1..1000000] = 10)" in get_query("hubs").signature()
    assert QueryParam("x", "float", None, "", 0, None).coerce("0.5") == 0.5


def test_stored_types_name_each_type_with_its_properties(store):
    store.write_graph(small_graph("g1"))
    other = Graph("g2", "weights")
    other.add_nodes("Neuron", np.arange(3))
    other.add_edges("WEIGHT", "Neuron", "Neuron", [0, 1], [1, 2], w=[1.0, 2.0], sign=[1, -1])
    store.write_graph(other)
    assert store.stored_types("g1") == {"REPRESENTS": [], "WEIGHT": ["abs_w", "w"]}
    assert store.stored_types("g2") == {"WEIGHT": ["sign", "w"]}  # another graph's columns do not leak
    assert store.stored_types("nope") == {}


def test_cli_refuses_unknown_graph_and_bad_limit(tmp_path):
    """Through the real command line: exit code 2 with the message, no empty table with exit code 0."""
    from tests.test_cli import run_cli

    result = run_cli(tmp_path, "query", "hubs", "-p", "graph_id=nope")
    assert result.returncode == 2 and "'nope' is not in the store" in result.stderr, result.stderr
    result = run_cli(tmp_path, "query", "hubs", "-p", "graph_id=nope", "-p", "limit=-3")
    assert result.returncode == 2 and "limit=-3 is out of range" in result.stderr, result.stderr
