"""The Python API (`import graphstore as gs`, docs/API.md) on models nobody here wrote: torchvision's resnet18 (random
weights), a plain nn.Sequential on scikit-learn's digits, a tiny TransformerEncoderLayer model; both stores."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import graphstore as gs
from graphstore.api.ingestion import state_dict_sha256
from graphstore.convert import TableError
from graphstore.errors import GraphExists, InvalidParams
from graphstore.graph import Graph
from tests.servers import neo4j_params, postgres_url

# ---- models and data ----------------------------------------------------------------------------------------------


def digits(n: int = 240) -> TensorDataset:
    """The first n of scikit-learn's digits as (64 features, label) pairs in [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return TensorDataset(torch.tensor(bunch.data[:n], dtype=torch.float32) / 16, torch.tensor(bunch.target[:n]))


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 12), nn.ReLU(), nn.Linear(12, 10))


class TinyTransformer(nn.Module):
    """Tokens from 64 features (8 tokens of 8), one encoder layer, mean over tokens, a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x.reshape(-1, 8, 8))).mean(1))


def resnet18() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=4)


def images(n: int = 12) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 3, 32, 32, generator=generator), torch.arange(n) % 4)


def units(model: nn.Module, names: list[str]) -> int:
    """Output units (channels or features) of the named modules."""
    return sum(int(model.get_submodule(n).weight.shape[0]) for n in names)


# ---- comparison ---------------------------------------------------------------------------------------------------


def same_column(a: np.ndarray, b: np.ndarray) -> bool:
    if np.asarray(a).dtype.kind in "fiub" and np.asarray(b).dtype.kind in "fiub":
        return np.allclose(np.asarray(a, float), np.asarray(b, float), equal_nan=True)
    return list(a) == list(b)


def valued(props: dict[str, np.ndarray]) -> list[str]:
    """Property names with a value somewhere (a column null on every row is not stored)."""
    return sorted(name for name, column in props.items() if any(v is not None for v in column))


def assert_same_graph(a: Graph, b: Graph, undirected: bool = False, stored: bool = False) -> None:
    """Equal node tables (by key) and edge tables (by endpoints; either order when undirected), properties too; a
    graph read from a store (`stored`) is not asked for its edges' direction, which the stores do not keep."""
    assert sorted(a.nodes) == sorted(b.nodes) and sorted(a.edges) == sorted(b.edges)
    for label, ta in a.nodes.items():
        tb = b.nodes[label]
        oa, ob = np.argsort(ta.keys), np.argsort(tb.keys)
        assert ta.keys[oa].tolist() == tb.keys[ob].tolist() and valued(ta.props) == valued(tb.props), label
        for name in valued(ta.props):
            assert same_column(ta.props[name][oa], tb.props[name][ob]), (label, name)
    for rel, ea in a.edges.items():
        eb = b.edges[rel]
        assert (ea.src_label, ea.dst_label, sorted(ea.props)) == (eb.src_label, eb.dst_label, sorted(eb.props))
        assert stored or ea.directed == eb.directed

        def order(e):
            s, d = (np.minimum(e.src, e.dst), np.maximum(e.src, e.dst)) if undirected else (e.src, e.dst)
            return s, d, np.lexsort((d, s))

        sa, da, oa = order(ea)
        sb, db, ob = order(eb)
        assert sa[oa].tolist() == sb[ob].tolist() and da[oa].tolist() == db[ob].tolist(), rel
        for name in ea.props:
            assert same_column(ea.props[name][oa], eb.props[name][ob]), (rel, name)


# ---- extract ------------------------------------------------------------------------------------------------------


def test_resnet18_weights_and_coactivation_cover_the_chosen_layers():
    """Random-weight resnet18: the weight graph has a node per input channel and per unit of every Conv/Linear; the
    co-activation graph of layer1's convs has a node per live channel of them, keyed as the weight graph of the same
    layers."""
    model, data = resnet18(), images()
    weights = gs.extract(model, data, "weights")
    chosen = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert weights.node_count == 3 + units(model, chosen)
    assert weights.params["unit_layers"] == chosen
    co = gs.extract(model, data, "coactivation", layers=["layer1.*.conv*"], threshold=0.0)
    layer1 = [n for n in chosen if n.startswith("layer1.") and ".conv" in n]
    assert 0 < co.node_count <= units(model, layer1)
    same = gs.extract(model, data, "weights", layers=["layer1.*.conv*"]).nodes["Neuron"]
    weight_keys = dict(zip(same.keys, same.props["layer"], strict=True))
    assert {weight_keys[k] for k in co.nodes["Neuron"].keys} <= set(layer1)


def test_sequential_on_digits_every_kind():
    """A plain nn.Sequential on digits: node counts of weights, coactivation, knn and class-graph."""
    model, data = mlp(), digits()
    weights = gs.extract(model, data, "weights")
    assert weights.node_count == 64 + 24 + 12 + 10
    assert weights.edge_count == 64 * 24 + 24 * 12 + 12 * 10  # dense: one edge per (nonzero) weight
    co = gs.extract(model, data, "coactivation", threshold=0.0)
    assert 0 < co.node_count <= 24 + 12 + 10
    knn = gs.extract(model, data, "knn", k=5)
    assert knn.graph_id == "knn-k5" and knn.node_count == len(data)
    classes = gs.extract(model, data, "class-graph", k=5, class_k=3)
    assert classes.node_count == 10 and classes.params["latent"]


def test_transformer_encoder_layer():
    """A tiny transformer: the weight graph has the embedding, attention and MLP units; hooks record them."""
    model, data = TinyTransformer().eval(), digits(64)
    weights = gs.extract(model, data, "weights", layers=["embed", "encoder.linear*", "head"])
    assert weights.node_count == 64 + 16 + 32 + 16 + 10  # inputs: the 64 features
    co = gs.extract(model, data, "coactivation", layers=["encoder.linear1"], threshold=0.0)
    assert 0 < co.node_count <= 32
    knn = gs.extract(model, data, "knn", k=4)  # latent: the head's input, one vector of 16 per sample
    assert knn.node_count == 64 and knn.params["latent"]


def test_multilayer_on_a_plain_conv_chain_and_refused_elsewhere():
    """multilayer runs on an nn.Sequential conv chain and is refused, with the kinds that apply, on resnet18."""
    torch.manual_seed(0)
    chain = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 16 * 16, 4),
    )  # fmt: skip
    graph = gs.extract(chain, images(), "multilayer")
    assert graph.nodes["Patch"].keys.size == 32 * 32 + 16 * 16
    with pytest.raises(gs.KindDoesNotApply) as info:
        gs.extract(resnet18(), images(), "multilayer")
    assert "ResNet is not a torch.nn.Sequential" in info.value.message and "coactivation" in info.value.hint


# ---- errors -------------------------------------------------------------------------------------------------------


def test_clear_errors():
    """Bad kind, bad layers pattern, data without labels, unknown parameter, several k, not a module."""
    model, data = mlp(), digits(32)
    with pytest.raises(gs.UnknownKind) as kind:
        gs.extract(model, data, "wieghts")
    assert "weights" in kind.value.hint
    with pytest.raises(gs.LayerPatternError) as pattern:
        gs.extract(model, data, "weights", layers=["fc*"])
    assert pattern.value.hint
    unlabelled = TensorDataset(torch.rand(8, 64))
    with pytest.raises(gs.DataError, match="no labels") as labels:
        gs.extract(model, unlabelled, "coactivation")
    assert "TensorDataset" in labels.value.hint
    with pytest.raises(InvalidParams, match="no parameter latent"):
        gs.extract(model, data, "weights", latent="0")
    with pytest.raises(InvalidParams, match="several"):
        gs.extract(model, data, "knn", k=(4, 8))
    with pytest.raises(gs.GraphstoreError, match="not a torch.nn.Module"):
        gs.extract(model.state_dict(), data, "weights")
    with pytest.raises(gs.DataError, match="cannot run on inputs"):
        gs.extract(model, TensorDataset(torch.rand(4, 50), torch.zeros(4, dtype=torch.long)), "weights")
    for error in (kind, pattern, labels):
        assert isinstance(error.value, gs.GraphstoreError)


# ---- conversions --------------------------------------------------------------------------------------------------


def test_networkx_pandas_arrow_round_trips():
    """A weight graph with Class nodes and an undirected class graph survive networkx, pandas and Arrow."""
    model, data = mlp(), digits(120)
    names = [str(i) for i in range(10)]
    weights = gs.extract(model, data, "weights", class_names=names)
    classes = gs.extract(model, data, "class-graph", k=4)
    for graph, undirected in ((weights, False), (classes, True)):
        nodes, edges = graph.to_pandas()
        assert len(nodes) == graph.node_count and len(edges) == graph.edge_count
        assert_same_graph(graph, gs.Graph.from_pandas(nodes, edges, graph_id="back", kind=graph.kind))
        assert_same_graph(graph, gs.Graph.from_arrow(*graph.to_arrow(), graph_id="back"))
        assert_same_graph(graph, gs.Graph.from_networkx(graph.to_networkx(), graph_id="back"), undirected)
        assert graph.to_igraph().vcount() == graph.node_count


def test_tables_that_the_store_would_not_accept_are_refused():
    """An edge to no node, a missing column, non-integer networkx ids: TableError with a hint."""
    import networkx as nx
    import pandas as pd

    nodes = pd.DataFrame({":ID": [0, 1], ":LABEL": ["N", "N"]})
    with pytest.raises(TableError, match="not N nodes"):
        gs.Graph.from_pandas(nodes, pd.DataFrame({":START_ID": [0], ":END_ID": [7], ":TYPE": ["E"]}), graph_id="x")
    with pytest.raises(TableError, match="no column :LABEL") as missing:
        gs.Graph.from_pandas(pd.DataFrame({":ID": [0]}), graph_id="x")
    assert ":ID, :LABEL" in missing.value.hint
    with pytest.raises(TableError, match="integers"):
        gs.Graph.from_networkx(nx.path_graph(["a", "b"]), graph_id="x")


# ---- stores: ingest, connect --------------------------------------------------------------------------------------


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=[pytest.mark.neo4j, pytest.mark.postgres])])
def session(request, tmp_path) -> Iterator[gs.Session]:
    """A Session on the embedded store + SQLite in tmp_path, or on the shared Neo4j + PostgreSQL."""
    if request.param == "embedded":
        db = gs.connect(data_dir=tmp_path)
    else:
        from graphstore.tracking.db import upgrade

        p = neo4j_params()
        upgrade(postgres_url())  # a fresh server's database starts empty; PostgreSQL never migrates itself
        db = gs.connect(
            p.uri, postgres_url(), data_dir=tmp_path, neo4j_user=p.user, neo4j_password=p.password
        )  # fmt: skip
    with db:
        yield db


def test_ingest_records_the_model_and_reads_back_what_it_wrote(session):
    """gs.ingest on a digits MLP: the run records class, source, parameter count and state-dict digest; every
    stored graph reads back equal to a fresh extraction; a second ingest is refused without replace."""
    model, data = mlp(), digits(160)
    prefix = f"api-{uuid.uuid4().hex[:8]}"
    infos = gs.ingest(model, data, kinds="weights,coactivation,knn", prefix=prefix, k=(4, 8), session=session)
    try:
        ids = [i.graph_id for i in infos]
        assert ids == [f"{prefix}-weights", f"{prefix}-coactivation", f"{prefix}-knn-k4", f"{prefix}-knn-k8"]
        run = next(r for r in session.runs(kind="ingest") if r.id == infos[0].run_id)
        assert run.status == "completed" and {i.run_id for i in infos} == {run.id}
        recorded = run.params["model"]
        assert recorded["class"] == "Sequential" and recorded["source"] == "torch.nn.modules.container:Sequential"
        assert recorded["parameters"] == sum(p.numel() for p in model.parameters())
        assert recorded["sha256"] == state_dict_sha256(model) == infos[0].params["model_sha256"]
        assert run.params["dataset"] == {"class": "torch.utils.data.dataset:TensorDataset", "len": 160}
        assert_same_graph(gs.extract(model, data, "weights"), session.read(f"{prefix}-weights"), stored=True)
        assert_same_graph(gs.extract(model, data, "knn", k=8), session.read(f"{prefix}-knn-k8"), True, True)
        with pytest.raises(GraphExists, match=f"{prefix}-weights"):
            gs.ingest(model, data, kinds=["weights"], prefix=prefix, session=session)
        hubs = session.query("hubs", graph_id=f"{prefix}-knn-k8", limit=3)
        assert len(hubs) == 3
        assert session.analyze("louvain", f"{prefix}-coactivation", engine="client").summary["communities"] >= 1
    finally:
        for graph_id in [i.graph_id for i in infos]:
            session.drop(graph_id)
    assert not {i.graph_id for i in infos} & {g.graph_id for g in session.graphs()}


def test_state_dict_digest_follows_the_weights_only():
    """The digest is the same for the same weights in another dict order and changes with one weight."""
    model = mlp()
    state = model.state_dict()
    assert state_dict_sha256(dict(reversed(list(state.items())))) == state_dict_sha256(model)
    with torch.no_grad():
        model[0].weight[0, 0] += 1e-3
    assert state_dict_sha256(model) != state_dict_sha256(state | {"0.weight": state["0.weight"] * 0 + 1})


def test_import_graphstore_loads_no_heavy_library():
    """`import graphstore` loads neither torch nor numpy nor pandas, and gs.extract stays the subpackage too."""
    code = (
        "import sys, graphstore as gs\n"
        "assert not {'torch', 'numpy', 'pandas', 'sqlalchemy'} & set(sys.modules), sorted(sys.modules)\n"
        "import graphstore.extract.hooks\n"
        "assert callable(gs.extract) and gs.extract.hooks.record_units and gs.connect\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_registry_dataset_name_and_a_dataloader(tmp_path):
    """data= a registry name (its split, its class names) or a DataLoader gives the same kinds."""
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)
    )
    classes = gs.extract(cnn, "digits", "class-graph", k=4, limit=200, data_dir=tmp_path)
    assert classes.node_count == 10 and classes.nodes["Class"].props["name"].tolist() == [str(i) for i in range(10)]
    loader = torch.utils.data.DataLoader(digits(50), batch_size=16)
    assert gs.extract(mlp(), loader, "knn", k=3).node_count == 50
    with pytest.raises(gs.DataError, match="no 'nope' split"):
        gs.extract(cnn, "digits", "knn", split="nope", data_dir=tmp_path)


def test_ingest_checks_everything_before_extracting(tmp_path):
    """Unknown options, stray per-kind parameters and no kinds are refused before a forward pass or a write;
    tracking=False stores the graphs without a run."""
    db = gs.connect(data_dir=tmp_path)
    for bad in ({"kinds": "weights", "latent": "0"}, {"kinds": "weights", "params": {"knn": {"k": 3}}}, {"kinds": ""}):
        with pytest.raises(InvalidParams):
            gs.ingest(mlp(), digits(20), session=db, **bad)
    assert not (tmp_path / "graphs.lbdb").exists()
    infos = gs.ingest(mlp(), digits(20), kinds=["weights"], prefix="plain", tracking=False, session=db)
    assert [(i.graph_id, i.run_id) for i in infos] == [("plain-weights", None)] and db.runs() == []
