"""GDS inside a real Neo4j and the client engines agree on the same stored graphs."""

from __future__ import annotations

import numpy as np
import pytest

from graphstore.analysis import gds
from graphstore.analysis.base import AnalysisError
from graphstore.analysis.run import get_analysis, run_analysis
from graphstore.config import Settings
from graphstore.errors import GraphNotFound
from graphstore.persist import save_graph
from graphstore.store import open_store
from graphstore.store.gds import catalog
from graphstore.store.queries import PropertyNotWritable
from graphstore.tracking import open_tracking
from tests.test_analysis import random_graph, two_cliques

pytestmark = pytest.mark.neo4j


@pytest.fixture()
def neo4j_settings(tmp_path) -> Settings:
    from tests.conftest import make_neo4j
    from tests.servers import neo4j_params

    with make_neo4j() as store:  # empty database, empty GDS catalog
        for name in catalog(store, ""):
            gds.store_gds.drop(store, name)
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
        gds, client, _, _ = _both(
            neo4j_settings, "louvain", graph.graph_id, next(iter(graph.nodes)), "louvain", weight=weight
        )
        assert abs(gds.summary["modularity"] - client.summary["modularity"]) < 0.02


def test_kcore_and_betweenness_agree(neo4j_settings):
    save_graph(neo4j_settings, random_graph(5))
    _, _, gds, client = _both(neo4j_settings, "kcore", "rnd5", "Sample", "kcore")
    assert np.array_equal(gds, client)
    _, _, gds, client = _both(neo4j_settings, "betweenness", "rnd5", "Sample", "betweenness")
    np.testing.assert_allclose(gds, client, rtol=1e-6, atol=1e-6)


def test_gds_refuses_unknown_relationship_types_and_weights(neo4j_settings):
    """Finding: --rel-types NOPE wrote degree 0 everywhere, --weight nosuchprop ran unweighted; both recorded."""
    save_graph(neo4j_settings, two_cliques())
    with pytest.raises(AnalysisError, match="no NOPE relationships") as info:
        run_analysis(neo4j_settings, "degree", "cliques", get_analysis("degree").params(rel_types="NOPE"), engine="gds")
    assert "COACTIVATES" in info.value.hint
    with pytest.raises(AnalysisError, match="no weight 'nosuchprop'") as info:
        run_analysis(
            neo4j_settings, "pagerank", "cliques", get_analysis("pagerank").params(weight="nosuchprop"), engine="gds"
        )
    assert "They carry: w." in info.value.hint
    with open_store(neo4j_settings) as store:
        props = store.read_graph("cliques").nodes["Neuron"].props
        assert "degree" not in props and "pagerank" not in props and catalog(store) == []
    with open_tracking(neo4j_settings.tracking_url) as tracking:
        assert tracking.list_analyses(graph_id="cliques") == []


def test_gds_louvain_resolution(neo4j_settings):
    save_graph(neo4j_settings, two_cliques())
    with pytest.raises(AnalysisError, match="--resolution -1 is invalid"):
        run_analysis(neo4j_settings, "louvain", "cliques", get_analysis("louvain").params(resolution=-1), engine="gds")
    with pytest.raises(AnalysisError, match="GDS Louvain has no resolution") as info:
        run_analysis(neo4j_settings, "louvain", "cliques", get_analysis("louvain").params(resolution=2.0), engine="gds")
    assert "--engine client" in info.value.hint


def test_failed_gds_calls_leave_no_projection(neo4j_settings):
    save_graph(neo4j_settings, two_cliques())
    with open_store(neo4j_settings) as store:
        with pytest.raises(gds.GdsError, match="dampingFactor"):
            gds.write(store, "pageRank", "cliques", writeProperty="pr", dampingFactor=5.0)
        assert catalog(store, "gs-cliques") == []
        with pytest.raises(RuntimeError, match="inside the block"), gds.projection(store, "cliques") as name:
            assert catalog(store, "gs-cliques") == [name]
            raise RuntimeError("inside the block")
        assert catalog(store, "gs-cliques") == []
        with pytest.raises(PropertyNotWritable, match="'graph_id' is structural"):
            gds.write(store, "pageRank", "cliques", writeProperty="graph_id")
        row = gds.write(store, "pageRank", "cliques", writeProperty="pr", dampingFactor=0.85)
        assert row["nodePropertiesWritten"] == 12 and catalog(store, "gs-cliques") == []


def test_named_gds_queries_never_write_structural_properties(neo4j_settings):
    """Finding: write_property=graph_id replaced every graph_id, backticks wrote a property that broke reads,
    write_property=uid failed and left its projection in the catalog."""
    save_graph(neo4j_settings, two_cliques())
    with open_store(neo4j_settings) as store:
        for bad in ("graph_id", "uid", "key", "a`b", "x` = 1 SET n.graph_id = 'y"):
            with pytest.raises(PropertyNotWritable):
                store.run_query("gds_pagerank", {"graph_id": "cliques", "write_property": bad})
        assert store.execute("MATCH (n:GraphNode) RETURN DISTINCT n.graph_id").rows == [["cliques"]]
        assert catalog(store) == []
        graph = store.read_graph("cliques")
        assert graph.node_count == 12 and graph.edge_count == 31
        with pytest.raises(GraphNotFound) as info:
            store.run_query("gds_pagerank", {"graph_id": "clique"})
        assert "cliques" in info.value.hint


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
