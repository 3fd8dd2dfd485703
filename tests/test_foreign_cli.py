"""`graphstore ingest --model MODULE:CALLABLE --weights FILE` on networks nobody here wrote (issue 21 items 2 and 7),
through the real command line (a subprocess per command), on the embedded store + SQLite and on Neo4j + PostgreSQL.

torchvision's resnet18 (random weights, saved as a state dict) on 8 tiny images in an imagefolder tree, and a plain
nn.Sequential on scikit-learn digits from a MODULE:CALLABLE dataset in a temporary module on PYTHONPATH, also saved
as a TorchScript archive and a torch.export .pt2: the command line and gs.ingest store identical graphs, the run
records the model's source and the weights' digests, report and Louvain work on what it stored, and every bad input
ends in exit 2 with an Error: and a Hint: line, no traceback, and nothing stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import graphstore as gs
from graphstore.graph import Graph
from graphstore.nn.checkpoint import file_sha256
from tests.servers import neo4j_params, postgres_url

CLI = (sys.executable, "-m", "graphstore.cli.main")
BACKENDS = ["embedded", pytest.param("servers", marks=[pytest.mark.neo4j, pytest.mark.postgres])]
MODULE = textwrap.dedent(
    '''
    """Networks and data of a user's own project (test_foreign_cli)."""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    NOT_CALLABLE = 3


    def mlp(hidden=32):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


    def digits(n=60):
        from sklearn.datasets import load_digits

        d = load_digits()
        return TensorDataset(torch.tensor(d.data[:n], dtype=torch.float32) / 16, torch.tensor(d.target[:n]))


    def unlabelled(n=20):
        return TensorDataset(digits(n).tensors[0])


    def broken(**kwargs):
        raise ValueError("no such network")


    class Gate(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x


    def gated():
        return nn.Sequential(nn.Linear(64, 32), Gate(), nn.Linear(32, 10))
    '''
)


@dataclass(frozen=True)
class Files:
    """The user's module folder, weights files and image tree."""

    mods: Path
    mlp: Path
    torchscript: Path
    exported: Path
    pickled: Path
    gated: Path
    resnet: Path
    images: Path


def resnet18() -> torch.nn.Module:
    """torchvision's resnet18, random weights (seeded), two classes."""
    import torchvision

    torch.manual_seed(1)
    return torchvision.models.resnet18(weights=None, num_classes=2)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Files:
    """fmods.py on its own folder, the MLP's weights in three formats and as a pickled module, resnet18's state dict,
    and 8 random 32x32 images of two classes."""
    from PIL import Image

    root = tmp_path_factory.mktemp("foreign")
    mods = root / "mods"
    mods.mkdir()
    (mods / "fmods.py").write_text(MODULE)
    sys.path.insert(0, str(mods))
    try:
        import fmods  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(mods))
    f = Files(mods, *(root / n for n in ("mlp.pt", "mlp.ts", "mlp.pt2", "whole.pt", "gated.pt", "r18.pt", "img")))
    model = fmods.mlp()
    torch.save(model.state_dict(), f.mlp)
    torch.jit.save(torch.jit.script(model), str(f.torchscript))
    torch.export.save(torch.export.export(model, (torch.randn(2, 64),)), str(f.exported))
    torch.save(model, f.pickled)
    torch.save(fmods.gated().state_dict(), f.gated)
    torch.save(resnet18().state_dict(), f.resnet)
    rng = np.random.default_rng(0)
    for i in range(8):
        folder = f.images / ("cat", "dog")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return f


def settings_env(backend: str, tmp_path: Path) -> dict[str, str]:
    """GRAPHSTORE_* for the embedded store + SQLite under tmp_path, or the shared Neo4j + PostgreSQL."""
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path / "data")}
    if backend == "servers":
        p = neo4j_params()
        env.update(
            GRAPHSTORE_GRAPH_STORE=p.uri,
            GRAPHSTORE_NEO4J_USER=p.user,
            GRAPHSTORE_NEO4J_PASSWORD=p.password,
            GRAPHSTORE_DATABASE_URL=postgres_url(),
        )
    return env


def cli(env: dict[str, str], files: Files, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`graphstore ARGS` with exactly these GRAPHSTORE_* settings and the user's module folder on PYTHONPATH."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **env, "PYTHONPATH": str(files.mods), "GRAPHSTORE_LOG_DIR": str(cwd / "logs")},
        timeout=300,
    )


def connect(env: dict[str, str]) -> gs.Session:
    """A session on the same settings as the command's."""
    return gs.connect(
        env.get("GRAPHSTORE_GRAPH_STORE") or None,
        env.get("GRAPHSTORE_DATABASE_URL") or None,
        data_dir=env["GRAPHSTORE_DATA_DIR"],
        neo4j_user=env.get("GRAPHSTORE_NEO4J_USER", "neo4j"),
        neo4j_password=env.get("GRAPHSTORE_NEO4J_PASSWORD", ""),
    )


def shape(graph: Graph) -> dict[str, object]:
    """Node counts per label; per edge type its count, sorted endpoint pairs and weight sum (rounded)."""
    out: dict[str, object] = {label: len(t) for label, t in graph.nodes.items()}
    for rel, e in graph.edges.items():
        lo, hi = np.minimum(e.src, e.dst), np.maximum(e.src, e.dst)
        order = np.lexsort((hi, lo))
        weight = e.props.get("weight")
        total = None if weight is None else round(float(np.sum(weight, dtype=np.float64)), 4)
        out[rel] = (len(e), lo[order].tolist(), hi[order].tolist(), total)
    return out


def ingest_run(db: gs.Session, graph_id: str):
    """The tracked run that stored `graph_id`."""
    run_id = db.info(graph_id).run_id
    return next(r for r in db.runs(kind="ingest", limit=None) if r.id == run_id)


def assert_same_graphs(db: gs.Session, a: str, b: str, kinds: list[str]) -> None:
    """Graphs <a>-<kind> and <b>-<kind> are equal in counts, endpoints and weight sums."""
    for kind in kinds:
        left, right = db.read(f"{a}-{kind}"), db.read(f"{b}-{kind}")
        assert left.node_count > 0 and left.edge_count > 0, kind
        assert shape(left) == shape(right), kind


def drop_prefixed(db: gs.Session, *prefixes: str) -> None:
    """Remove this test's graphs (the servers are shared)."""
    for info in db.graphs():
        if info.graph_id.startswith(prefixes):
            db.drop(info.graph_id)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_cli_equals_python_in_every_weights_format(backend, files, tmp_path):
    """A state dict, its TorchScript archive and its .pt2 export give the graphs gs.ingest stores for the same
    model and data; each run records the source, the state dict's digest and the file's digest and format; report
    and Louvain run on the stored knn graph."""
    env, tag = settings_env(backend, tmp_path), uuid.uuid4().hex[:8]
    cli_p, py_p = f"fcli-{tag}", f"fpy-{tag}"
    base = ("ingest", "--model", "fmods:mlp", "--dataset", "fmods:digits", "--no-progress")
    kinds = ["weights", "coactivation", "knn-k4", "class-graph"]
    done = cli(
        env,
        files,
        tmp_path,
        *base,
        "--weights",
        str(files.mlp),
        "--graphs",
        "weights,coactivation,knn,class-graph",
        "--k",
        "4",
        "--graph-id-prefix",
        cli_p,
    )
    assert done.returncode == 0, done.stderr
    for fmt, path in (("ts", files.torchscript), ("pt2", files.exported)):
        done = cli(
            env,
            files,
            tmp_path,
            *base,
            "--weights",
            str(path),
            "--graphs",
            "weights",
            "--graph-id-prefix",
            f"{fmt}-{tag}",
        )
        assert done.returncode == 0, done.stderr
    model = fmods_module(files).mlp()
    model.load_state_dict(torch.load(files.mlp, weights_only=True))
    try:
        with connect(env) as db:
            gs.ingest(
                model,
                fmods_module(files).digits(),
                kinds=["weights", "coactivation", "knn", "class-graph"],
                prefix=py_p,
                k=4,
                session=db,
            )
            assert_same_graphs(db, cli_p, py_p, kinds)
            for fmt in ("ts", "pt2"):
                assert_same_graphs(db, cli_p, f"{fmt}-{tag}", ["weights"])
            run, python_run = ingest_run(db, f"{cli_p}-weights"), ingest_run(db, f"{py_p}-weights")
            assert run.params["model"]["source"] == "fmods:mlp"
            assert run.params["model"]["sha256"] == python_run.params["model"]["sha256"]
            assert run.params["weights"]["sha256"] == file_sha256(files.mlp)
            assert run.params["weights"]["format"] == "state-dict"
            formats = {ingest_run(db, f"{f}-{tag}-weights").params["weights"]["format"] for f in ("ts", "pt2")}
            assert formats == {"torchscript", "torch.export"}
            assert db.read(f"{cli_p}-weights").params["model_sha256"] == run.params["model"]["sha256"]
        report = cli(env, files, tmp_path, "report", "graph", f"{cli_p}-knn-k4", "--out", str(tmp_path / "rep"))
        assert report.returncode == 0, report.stderr
        assert (tmp_path / "rep" / f"graph-{cli_p}-knn-k4.html").is_file()
        louvain = cli(env, files, tmp_path, "analyze", "louvain", "-g", f"{cli_p}-knn-k4")
        assert louvain.returncode == 0 and "modularity" in louvain.stdout, louvain.stderr
    finally:
        with connect(env) as db:
            drop_prefixed(db, cli_p, py_p, f"ts-{tag}", f"pt2-{tag}")


def fmods_module(files: Files):
    """The user's module, imported in this process from its folder."""
    sys.path.insert(0, str(files.mods))
    try:
        import fmods

        return fmods
    finally:
        sys.path.remove(str(files.mods))


@pytest.mark.parametrize("backend", BACKENDS)
def test_resnet18_on_an_imagefolder_cli_equals_python(backend, files, tmp_path):
    """resnet18's state dict on an imagefolder tree: the layer1 convs' weights and co-activation and the latent
    kNN stored by the command line equal gs.ingest's on the same images; class names come from the folders."""
    from graphstore.extract.model_data import registry_data

    env, tag = settings_env(backend, tmp_path), uuid.uuid4().hex[:8]
    data_opts = {"path": str(files.images), "size": 32, "val_fraction": 0, "test_fraction": 0}
    args = [f"--data-opt={k}={v}" for k, v in data_opts.items()]
    done = cli(
        env,
        files,
        tmp_path,
        "ingest",
        "--model",
        "torchvision.models:resnet18",
        "--model-opt",
        "num_classes=2",
        "--weights",
        str(files.resnet),
        "--dataset",
        "imagefolder",
        *args,
        "--split",
        "train",
        "--graphs",
        "weights,coactivation,knn",
        "--layers",
        "layer1.*.conv*",
        "--k",
        "3",
        "--graph-id-prefix",
        f"rcli-{tag}",
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    data = registry_data("imagefolder", "train", None, None, data_opts)
    assert data.class_names == ["cat", "dog"] and len(data.source) == 8
    try:
        with connect(env) as db:
            gs.ingest(
                resnet18(),
                data.source,
                kinds=["weights", "coactivation", "knn"],
                prefix=f"rpy-{tag}",
                layers=["layer1.*.conv*"],
                k=3,
                session=db,
            )
            assert_same_graphs(db, f"rcli-{tag}", f"rpy-{tag}", ["weights", "coactivation", "knn-k3"])
            run = ingest_run(db, f"rcli-{tag}-weights")
            assert run.params["model"]["source"] == "torchvision.models:resnet18"
            assert run.params["model_options"] == {"num_classes": "2"}
            assert run.params["weights"]["sha256"] == file_sha256(files.resnet)
            assert run.params["dataset"]["name"] == "imagefolder"
    finally:
        with connect(env) as db:
            drop_prefixed(db, f"rcli-{tag}", f"rpy-{tag}")


BAD = {
    "pickled module": (
        ["--model", "fmods:mlp", "--weights", "{pickled}", "--dataset", "fmods:digits"],
        "pickled torch.nn.modules.container.Sequential",
        "model.state_dict()",
    ),
    "weights that do not fit": (
        ["--model", "fmods:mlp", "--model-opt", "hidden=16", "--weights", "{mlp}", "--dataset", "fmods:digits"],
        "'0.weight' is (32, 64) in the file but (16, 64) in the model",
        "--model-opt",
    ),
    "missing keys": (
        ["--model", "torchvision.models:resnet18", "--weights", "{mlp}", "--dataset", "fmods:digits"],
        "missing from the file: conv1.weight, bn1.weight, bn1.bias",
        "--model-opt",
    ),
    "untraceable model": (
        ["--model", "fmods:gated", "--weights", "{gated}", "--dataset", "fmods:digits"],
        "torch.fx cannot trace module 1 (Gate)",
        "--layers",
    ),
    "wrong input shape": (
        [
            "--model",
            "fmods:mlp",
            "--weights",
            "{mlp}",
            "--dataset",
            "imagefolder",
            "--data-opt",
            "path={images}",
            "--data-opt",
            "size=8",
            "--split",
            "train",
        ],
        "cannot run on inputs of (3, 8, 8) per sample",
        "64 values per sample",
    ),
    "no labels": (
        ["--model", "fmods:mlp", "--weights", "{mlp}", "--dataset", "fmods:unlabelled"],
        "no labels",
        "(input, label) pairs",
    ),
    "layers pattern matching nothing": (
        ["--model", "fmods:mlp", "--weights", "{mlp}", "--dataset", "fmods:digits", "--layers", "O.weight,2"],
        "No unit layer matches 'O.weight'",
        "0",
    ),
    "module that does not import": (
        ["--model", "fmods_nope:mlp", "--weights", "{mlp}", "--dataset", "fmods:digits"],
        "Cannot import module 'fmods_nope' (--model fmods_nope:mlp): ModuleNotFoundError",
        "PYTHONPATH",
    ),
    "not callable": (
        ["--model", "fmods:NOT_CALLABLE", "--weights", "{mlp}", "--dataset", "fmods:digits"],
        "is a int, not callable",
        "class or a function",
    ),
    "callable that raises": (
        ["--model", "fmods:mlp", "--weights", "{mlp}", "--dataset", "fmods:broken"],
        "fmods:broken() raised ValueError: no such network",
        "--data-opt",
    ),
    "torchvision root missing": (
        ["--model", "fmods:mlp", "--weights", "{mlp}", "--dataset", "MNIST", "--data-opt", "root={missing}"],
        "does not exist",
        "never downloads",
    ),
    "model without weights": (
        ["--model", "fmods:mlp", "--dataset", "fmods:digits"],
        "--weights FILE is missing",
        "random weights",
    ),
}
SERVER_CASES = ("weights that do not fit", "untraceable model", "no labels")


@pytest.mark.parametrize(
    "backend, case",
    [("embedded", c) for c in BAD]
    + [pytest.param("servers", c, marks=[pytest.mark.neo4j, pytest.mark.postgres]) for c in SERVER_CASES],
)
def test_bad_input_is_refused_cleanly_and_stores_nothing(backend, case, files, tmp_path):
    """Each bad input: exit 2, an Error: naming what is wrong and a Hint: naming the fix, no traceback, no log of a
    bug, and no graph nor ingest run with its prefix afterwards."""
    env, prefix = settings_env(backend, tmp_path), f"bad-{uuid.uuid4().hex[:8]}"
    args, error, hint = BAD[case]
    paths = {**{k: str(v) for k, v in vars(files).items()}, "missing": str(tmp_path / "nowhere")}
    argv = [a.format(**paths) for a in args]
    done = cli(
        env,
        files,
        tmp_path,
        "ingest",
        *argv,
        "--graphs",
        "weights,coactivation",
        "--graph-id-prefix",
        prefix,
        "--no-progress",
    )
    err = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Unexpected error" not in done.stderr
    error_line = err.split("Error:", 1)[1].split("Hint:", 1)[0]
    assert error in error_line, err
    assert hint in err.split("Hint:", 1)[1], err
    assert not (tmp_path / "logs").exists()
    with connect(env) as db:
        assert not [g.graph_id for g in db.graphs() if g.graph_id.startswith(prefix)]
        assert not [r for r in db.runs(kind="ingest", limit=None) if (r.params or {}).get("prefix") == prefix]
