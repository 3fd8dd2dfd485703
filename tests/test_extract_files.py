"""Graphs written to Parquet (directory, zip), GraphML and GEXF read back with their properties."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from graphstore.errors import GraphstoreError
from graphstore.extract.files import read_parquet, write_graph_file
from tests.conftest import small_graph


def with_nulls():
    g = small_graph()
    g.nodes["Neuron"].props["class_name"] = np.array([None] * 5 + ["cat & <dog>", "dog"], dtype=object)
    return g


@pytest.mark.parametrize("suffix", [".parquet", ".zip"])
def test_parquet_round_trip(tmp_path, suffix):
    g = with_nulls()
    back = read_parquet(write_graph_file(g, tmp_path / f"g{suffix}"))
    assert back.summary() == g.summary() and back.params == g.params
    assert np.array_equal(back.edges["WEIGHT"].props["w"], g.edges["WEIGHT"].props["w"])
    assert list(back.nodes["Neuron"].props["class_name"]) == list(g.nodes["Neuron"].props["class_name"])


@pytest.mark.parametrize(("suffix", "reader"), [(".graphml", nx.read_graphml), (".gexf", nx.read_gexf)])
def test_xml_formats_read_by_networkx(tmp_path, suffix, reader):
    g = with_nulls()
    nxg = reader(write_graph_file(g, tmp_path / f"g{suffix}"))
    assert nxg.number_of_nodes() == 9 and nxg.number_of_edges() == 10
    assert nxg.nodes["n5"]["class_name"] == "cat & <dog>" and "class_name" not in nxg.nodes["n0"]
    assert nxg.nodes["n6"]["index"] == 1 and nxg.nodes["n1"]["layer"] == "in"
    assert nxg.edges["n0", "n3"]["w"] == 0.5 and nxg.edges["n0", "n3"]["type"] == "WEIGHT"


def test_unknown_format_names_the_choices(tmp_path):
    with pytest.raises(GraphstoreError, match="unknown format") as info:
        write_graph_file(small_graph(), tmp_path / "g.csv")
    assert ".graphml" in info.value.hint
