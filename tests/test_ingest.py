"""`graphstore ingest` / `extract` end to end: a small-cnn trained on digits, its graphs in both stores, the named
queries answering on both; every bad input refused with a hint before any extraction."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from graphstore.config import Settings
from graphstore.errors import GraphstoreError
from graphstore.extract import registry
from graphstore.extract.activations import LayerNotFound
from graphstore.extract.knn import KTooLarge
from graphstore.extract.registry import KindDoesNotApply, UnknownGraphKind
from graphstore.graph import Graph
from graphstore.jobs.base import JobContext
from graphstore.jobs.ingest import IngestError, load_inputs, parse_kinds, plan, store_planned
from graphstore.nn.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import load_dataset
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import make_model
from graphstore.nn.train import CheckpointSaver, train
from graphstore.store import open_store

KINDS = "weights,coactivation,knn,class-graph,multilayer"
COMMON = {"k": "4,8", "limit": 200}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small-cnn trained for one epoch on 16x16 digits (a 400-sample training subset)."""
    root = tmp_path_factory.mktemp("ingest")
    data = load_dataset("digits", root, limit=400)
    torch.manual_seed(0)
    model = make_model("small-cnn", data.info)
    saver = CheckpointSaver(root, 7, data)
    train(model, data, TrainConfig(epochs=1, batch_size=64), [saver])
    return root, saver.saved[-1]


def settings_for(backend: str, root) -> Settings:
    if backend == "embedded":
        return Settings(data_dir=root, graph_store=str(root / f"graphs-{np.random.randint(1 << 30)}.lbdb"))
    from tests.servers import neo4j_params

    p = neo4j_params()
    return Settings(data_dir=root, graph_store=p.uri, neo4j_user=p.user, neo4j_password=p.password)


@pytest.mark.parametrize("backend", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_ingest_writes_all_kinds_and_queries_answer(trained, backend):
    root, path = trained
    settings = settings_for(backend, root)
    inputs = load_inputs(path, root, True)
    jobs = plan(parse_kinds(KINDS), inputs, COMMON, {"coactivation.split": "test"}, f"it-{backend}")
    outcomes = store_planned(JobContext(settings), inputs, jobs, replace=True)
    ids = [o.graph_id for o in outcomes]
    base = f"it-{backend}"
    assert ids == [
        f"{base}-weights",
        f"{base}-coactivation",
        f"{base}-knn-k4",
        f"{base}-knn-k8",
        f"{base}-class-graph",
        f"{base}-multilayer",
    ]
    assert all(o.status == "complete" and o.nodes > 0 and o.edges > 0 for o in outcomes)
    with open_store(settings) as store:
        info = store.graph_info(f"{base}-coactivation")
        assert info.params["split"] == "test" and info.params["dead_units"] >= 0 and info.params["epoch"] == 1
        weights = store.read_graph(f"{base}-weights")
        assert len(weights.edges["REPRESENTS"]) == 10
        hubs = store.run_query("hubs_knn", {"graph_id": f"{base}-knn-k4", "limit": 3}).records()
        assert len(hubs) == 3 and hubs[0]["k_occurrence"] >= hubs[-1]["k_occurrence"] > 0
        shared = store.run_query("shared_neurons", {"graph_id": f"{base}-coactivation", "min_classes": 2}).records()
        assert all(r["classes"] >= 2 and len(r["class_names"]) == r["classes"] for r in shared)
        near = store.run_query("nearest_classes", {"graph_id": f"{base}-class-graph", "name": "3"}).records()
        assert near and near == sorted(near, key=lambda r: (r["distance"], r["label"]))
        mixed = store.run_query("mixed_regions", {"graph_id": f"{base}-knn-k8", "min_fraction": 0.0}).records()
        assert mixed and all(0 < r["fraction"] <= 1 for r in mixed)
        assert all(r["other_label_neighbours"] <= r["degree"] for r in mixed)
        top = store.run_query("high_delta", {"graph_id": f"{base}-multilayer", "limit": 5}).records()
        assert len(top) == 5 and top[0]["delta"] >= top[-1]["delta"] >= 0
    from graphstore.tracking import open_tracking

    with open_tracking(settings.tracking_url) as tracking:
        record = tracking.get_graph(f"{base}-knn-k8")
        assert record.status == "complete" and record.params["k"] == 8 and "extract_seconds" in record.params


def test_existing_graphs_refused_then_resume_skips_complete(trained):
    root, path = trained
    settings = settings_for("embedded", root)
    inputs = load_inputs(path, root, False)
    jobs = plan(parse_kinds("weights"), inputs, {}, {}, "again")
    store_planned(JobContext(settings), inputs, jobs)
    with pytest.raises(GraphstoreError, match="already in the store") as info:
        store_planned(JobContext(settings), inputs, jobs)
    assert "--replace" in info.value.hint
    assert store_planned(JobContext(settings), inputs, jobs, resume=True)[0].status == "skipped (complete)"


def test_bad_inputs_are_refused_with_hints(trained, tmp_path):
    root, path = trained
    inputs = load_inputs(path, root, True)
    with pytest.raises(KTooLarge) as info:
        plan(parse_kinds("knn"), inputs, {"k": "500", "limit": 100}, {}, None)
    assert "--k 99" in info.value.hint
    with pytest.raises(LayerNotFound, match="conv9") as info:
        plan(parse_kinds("coactivation"), inputs, {"layers": "conv1,conv9"}, {}, None)
    assert "conv2" in info.value.hint
    with pytest.raises(UnknownGraphKind) as info:
        parse_kinds("weights,nope")
    assert "class-graph" in info.value.hint
    with pytest.raises(IngestError, match="no requested graph kind"):
        plan(parse_kinds("knn"), inputs, {}, {"threshold": "0.3"}, None)
    ckpt = load_checkpoint(path)
    ckpt.state_dict["fc1.weight"] = ckpt.state_dict["fc1.weight"][:, :3]
    save_checkpoint(ckpt, tmp_path / "bad.pt")
    with pytest.raises(GraphstoreError, match="does not match model small-cnn"):
        load_inputs(tmp_path / "bad.pt", root, False)


def test_dataset_with_other_class_count_is_refused(trained, tmp_path):
    root, _ = trained
    info = DataInfo("five", (1, 16, 16), tuple("abcde"))
    five = make_checkpoint(make_model("small-cnn", info), load_dataset("digits", root).spec, info, 1)
    save_checkpoint(five, tmp_path / "five.pt")
    with pytest.raises(IngestError, match="10 classes; the model has 5 outputs") as err:
        load_inputs(tmp_path / "five.pt", root, True)
    assert "--dataset" in err.value.hint


@dataclass
class ConvOnly:
    """Test kind needing conv layers."""

    split: str = field(default="test", metadata={"help": "split"})


def test_kind_that_does_not_apply_to_an_mlp(trained, tmp_path):
    root, _ = trained
    if "multilayer" not in registry.KINDS:
        registry.KINDS.register(
            registry.GraphKind(
                "conv-only-test",
                ConvOnly,
                lambda c, d, p, g: Graph(g, "conv-only-test"),
                applies=registry.requires_conv,
            )
        )
    name = "multilayer" if "multilayer" in registry.KINDS else "conv-only-test"
    data = load_dataset("digits", root)
    mlp = make_checkpoint(make_model("mlp", data.info, {"hidden": (8,)}), data.spec, data.info, 1)
    save_checkpoint(mlp, tmp_path / "mlp.pt")
    inputs = load_inputs(tmp_path / "mlp.pt", root, True)
    with pytest.raises(KindDoesNotApply, match="needs convolutional layers") as err:
        plan(parse_kinds(f"weights,{name}"), inputs, {}, {}, None)
    assert "weights" in err.value.hint and name not in err.value.hint


def test_cli_ingest_and_extract(trained, tmp_path, monkeypatch):
    from graphstore.cli import ingest_cmd

    root, path = trained
    monkeypatch.setenv("GRAPHSTORE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GRAPHSTORE_GRAPH_STORE", raising=False)
    monkeypatch.delenv("GRAPHSTORE_DATABASE_URL", raising=False)
    app = typer.Typer()
    ingest_cmd.register(app)
    runner = CliRunner()
    result = runner.invoke(
        app, ["ingest", str(path), "--graphs", "weights,knn", "--k", "3", "--limit", "60", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "7-1-weights" in result.output and "7-1-knn-k3" in result.output
    out = tmp_path / "knn.graphml"
    result = runner.invoke(
        app, ["extract", str(path), "--graph", "knn", "--k", "3", "--limit", "60", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.exists() and "<graphml" in out.read_text()[:200]
    result = runner.invoke(app, ["ingest", "--list"])
    assert result.exit_code == 0 and "class-graph" in result.output


class _StopAfterFirstBatch:
    """A progress callback that interrupts a write once its first rows are stored (a Ctrl-C mid-ingest)."""

    def __call__(self, step: str, done: int, total: int) -> None:
        if step.startswith("writing") and 0 < done < total:
            raise KeyboardInterrupt


@pytest.mark.parametrize("backend", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_resume_refuses_another_checkpoint_and_finishes_the_same_one(trained, tmp_path, backend):
    """Issue 8 #3: interrupt an ingest of checkpoint A, resume with checkpoint B -> refused, naming the difference;
    resume with A -> the graph completes and equals a fresh extraction."""
    root, path = trained
    other = tmp_path / "other.pt"
    ckpt = load_checkpoint(path)
    ckpt.state_dict = {k: v + 0.01 if v.is_floating_point() else v for k, v in ckpt.state_dict.items()}
    save_checkpoint(ckpt, other)
    settings = Settings(**{**settings_for(backend, root).__dict__, "batch_size": 50})
    prefix = f"resume-{backend}"
    interrupted = JobContext(settings, progress=_StopAfterFirstBatch())
    with pytest.raises(KeyboardInterrupt):
        store_planned(
            interrupted,
            load_inputs(path, root, False),
            plan(parse_kinds("weights"), load_inputs(path, root, False), {}, {}, prefix),
            replace=True,
        )
    with open_store(settings) as store:
        assert store.graph_info(f"{prefix}-weights").status != "complete"
    b = load_inputs(other, root, False)
    with pytest.raises(IngestError, match="checkpoint_sha256") as err:
        store_planned(JobContext(settings), b, plan(parse_kinds("weights"), b, {}, {}, prefix), resume=True)
    assert "--replace" in err.value.hint
    a = load_inputs(path, root, False)
    outcome = store_planned(JobContext(settings), a, plan(parse_kinds("weights"), a, {}, {}, prefix), resume=True)[0]
    assert outcome.status in ("resumed", "complete")
    with open_store(settings) as store:
        resumed = store.read_graph(f"{prefix}-weights")
        assert store.graph_info(f"{prefix}-weights").status == "complete"
    fresh = plan(parse_kinds("weights"), a, {}, {}, prefix)[0]
    expected = fresh.kind.build(a.checkpoint, None, fresh.params, f"{prefix}-weights")
    assert resumed.edge_count == expected.edge_count and resumed.node_count == expected.node_count


def test_bad_options_refused_before_extraction(trained, tmp_path):
    """Issue 8 #9/#10: a negative --limit and an invalid --graph-id-prefix are refused by the parameters."""
    from graphstore.cli.adapter import build
    from graphstore.jobs.ingest import IngestParams
    from graphstore.nn.errors import InvalidParams

    with pytest.raises(InvalidParams, match="limit must be >= 0"):
        build(IngestParams, {"limit": -3}, "ingest")
    with pytest.raises(InvalidParams, match="not a valid graph id prefix"):
        build(IngestParams, {"graph_id_prefix": "bad id!"}, "ingest")
    params = build(IngestParams, {"checkpoint": "x.pt", "limit": 5, "opt": ["knn.k=3"]}, "ingest")
    assert params.source.checkpoint == "x.pt" and params.options.limit == 5 and params.options.opt == ("knn.k=3",)
