"""GDS inside a real Neo4j and the client engines agree on the same stored graphs."""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.analysis.run import get_analysis, run_analysis
from graphstore.config import Settings
from graphstore.persist import save_graph
from graphstore.store import open_store
from tests.test_analysis import random_graph, two_cliques

pytestmark = pytest.mark.neo4j


@pytest.fixture()
def neo4j_settings(tmp_path) -> Settings:
    from tests.conftest import make_neo4j
    from tests.servers import neo4j_params

    make_neo4j().close()  # empty database
    p = neo4j_params()
    return Settings(data_dir=tmp_path, graph_store=p.uri, neo4j_user=p.user, neo4j_password=p.password)


def _values(settings: Settings, graph_id: str, label: str, prop: str) -> np.ndarray:
    with open_store(settings) as store:
        table = store.read_graph(graph_id).nodes[label]
    return np.asarray(table.props[prop], dtype=float)


def _both(settings: Settings, name: str, graph_id: str, label: str, prop: str, **values) -> tuple:
    spec = get_analysis(name)
    gds = run_analysis(settings, name, graph_id, spec.params(**values), engine="gds")
    from_gds = _values(settings, graph_id, label, prop)
    client = run_analysis(settings, name, graph_id, spec.params(**values), engine="client")
    return gds, client, from_gds, _values(settings, graph_id, label, prop)


def test_auto_engine_uses_gds(neo4j_settings):
    save_graph(neo4j_settings, two_cliques())
    done = run_analysis(neo4j_settings, "degree", "cliques", get_analysis("degree").params())
    assert done.engine == "gds"


def test_degree_exact(neo4j_settings):
    save_graph(neo4j_settings, random_graph(3))
    _, _, gds, client = _both(neo4j_settings, "degree", "rnd3", "Sample", "degree")
    assert np.array_equal(gds, client)


def test_pagerank_within_1e3_after_normalisation(neo4j_settings):
    for seed in (1, 2):
        save_graph(neo4j_settings, random_graph(seed, n=60, p=0.12))
        _, _, gds, client = _both(neo4j_settings, "pagerank", f"rnd{seed}", "Sample", "pagerank")
        assert np.abs(gds / gds.sum() - client / client.sum()).max() < 1e-3


def test_weighted_pagerank_agrees(neo4j_settings):
    save_graph(neo4j_settings, two_cliques())
    _, _, gds, client = _both(neo4j_settings, "pagerank", "cliques", "Neuron", "pagerank", weight="w")
    assert np.abs(gds / gds.sum() - client / client.sum()).max() < 1e-3


def test_louvain_modularity_within_002(neo4j_settings):
    for graph in (two_cliques(), random_graph(4, n=80, p=0.08)):
        save_graph(neo4j_settings, graph)
        weight = "w" if graph.kind == "coactivation" else ""
        gds, client, _, _ = _both(neo4j_settings, "louvain", graph.graph_id, next(iter(graph.nodes)), "louvain",
                                  weight=weight)
        assert abs(gds.summary["modularity"] - client.summary["modularity"]) < 0.02


def test_kcore_and_betweenness_agree(neo4j_settings):
    save_graph(neo4j_settings, random_graph(5))
    _, _, gds, client = _both(neo4j_settings, "kcore", "rnd5", "Sample", "kcore")
    assert np.array_equal(gds, client)
    _, _, gds, client = _both(neo4j_settings, "betweenness", "rnd5", "Sample", "betweenness")
    np.testing.assert_allclose(gds, client, rtol=1e-6, atol=1e-6)


def test_named_gds_queries_write_back(neo4j_settings):
    save_graph(neo4j_settings, two_cliques())
    with open_store(neo4j_settings) as store:
        louvain = store.run_query("gds_louvain", {"graph_id": "cliques"}).records()[0]
        assert louvain["communities"] == 2 and louvain["modularity"] > 0.4
        assert store.run_query("gds_pagerank", {"graph_id": "cliques"}).records()[0]["converged"]
        store.run_query("gds_betweenness", {"graph_id": "cliques"})
        store.run_query("gds_leiden", {"graph_id": "cliques", "write_property": "leiden_q"})
        neurons = store.read_graph("cliques").nodes["Neuron"].props
        catalog = store.execute("CALL gds.graph.list() YIELD graphName RETURN count(*) AS n").rows[0][0]
    assert len(set(neurons["louvain"][:6].tolist())) == 1 and neurons["louvain"][0] != neurons["louvain"][-1]
    assert np.argmax(neurons["betweenness"].astype(float)) in (5, 6)  # the bridge ends
    assert len(set(neurons["leiden_q"].tolist())) == 2 and catalog == 0  # projections dropped


def test_gds_queries_say_which_store_they_need(tmp_path):
    from graphstore.errors import QueryError

    settings = Settings(data_dir=tmp_path)
    save_graph(settings, two_cliques())
    with open_store(settings) as store, pytest.raises(QueryError, match="no version for the ladybug store"):
        store.run_query("gds_louvain", {"graph_id": "cliques"})
