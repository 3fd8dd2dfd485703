"""Issue 21's two CLI gaps in pruning foreign models, through the real command line (a subprocess per command):
`graphstore prune imp|topology --model MODULE:CALLABLE --weights FILE` retraining on any Dataset ingest takes (a
torchvision class by name, torchvision.datasets:FakeData here, and a MODULE:CALLABLE written into tmp_path), split by
the documented rule and logged per round; and `graphstore ingest --run <that run> [--round R]` storing the round's
graphs on the embedded store + SQLite and on Neo4j + PostgreSQL, equal in counts to gs.extract of the same round's
weights over the same test split. Round files that changed, a manifest that disagrees with the tracking record, or
a run folder another user can write are refused (exit 2, Error: and Hint:, nothing stored). The split rule itself
(own train/test parts, seeded holdout, label checks) is checked in-process on graphstore.pruning.foreign_data.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
import types
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

import graphstore as gs
from graphstore.connections import borrowed_tracking
from graphstore.extract.hooks_data import DataError
from graphstore.nn.checkpoint import digest_path, file_sha256
from graphstore.nn.datasets import DatasetSpec
from graphstore.pruning.foreign_data import retraining_data
from tests.test_foreign_cli import BACKENDS, cli, connect, drop_prefixed, settings_env

torch.set_num_threads(1)
MODULE = textwrap.dedent(
    '''
    """A user's own network and data (test_foreign_prune_data)."""
    import torch
    from torch import nn
    from torch.utils.data import Dataset, TensorDataset


    def net(classes=10):
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, classes))


    def blobs(n=60):
        g = torch.Generator().manual_seed(0)
        y = torch.arange(n) % 3
        return TensorDataset(torch.randn(n, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float(), y)


    def halves(train=True):
        return blobs(30 if train else 12)


    def unlabelled(n=20):
        return TensorDataset(torch.randn(n, 1, 8, 8))


    def many(n=26):
        return TensorDataset(torch.randn(n, 1, 8, 8), torch.arange(n) % 13)


    def wide(n=20):
        return TensorDataset(torch.randn(n, 3, 8, 8), torch.arange(n) % 3)


    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([(torch.zeros(1, 8, 8), 0)] * 4)


    def stream():
        return Stream()
    '''
)
FAKE = ("--dataset", "torchvision.datasets:FakeData", "--data-opt", "size=40", "--data-opt", "image_size=(1,8,8)")
OWN = ("--dataset", "pdmods:blobs", "--data-opt", "n=60")
CASES = {"torchvision FakeData, imp": ("imp", FAKE), "MODULE:CALLABLE, topology": ("topology", OWN)}


def net(classes: int = 10) -> nn.Module:
    """The network of MODULE, built here."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, classes))


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> types.SimpleNamespace:
    """pdmods.py on its own folder; the network's weights for 10 and for 3 classes."""
    root = tmp_path_factory.mktemp("prune_data")
    (root / "mods").mkdir()
    (root / "mods" / "pdmods.py").write_text(MODULE)
    torch.save(net().state_dict(), root / "net.pt")
    torch.save(net(3).state_dict(), root / "net3.pt")
    return types.SimpleNamespace(mods=root / "mods", net=root / "net.pt", net3=root / "net3.pt")


def weights_for(dataset: tuple[str, ...], user: types.SimpleNamespace) -> Path:
    """FakeData has 10 classes, the blobs 3."""
    return user.net if dataset == FAKE else user.net3


def holdout_of(dataset: tuple[str, ...], mods: Path) -> torch.utils.data.Dataset:
    """The documented test split, rebuilt here: the seeded holdout of 20 % (split_seed 0) of the whole dataset."""
    if dataset == FAKE:
        import torchvision

        whole = torchvision.datasets.FakeData(
            size=40, image_size=(1, 8, 8), transform=torchvision.transforms.ToTensor()
        )
    else:
        g = torch.Generator().manual_seed(0)
        y = torch.arange(60) % 3
        whole = TensorDataset(torch.randn(60, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float(), y)
    order = np.random.default_rng(0).permutation(len(whole))
    return Subset(whole, np.sort(order[: round(0.2 * len(whole))]).tolist())


def fails_cleanly(proc: subprocess.CompletedProcess[str], *phrases: str) -> None:
    """Exit 2, an Error: and a Hint: line, no traceback, each phrase in the output."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Error:" in out and "Hint:" in out and "Traceback" not in out and "Unexpected error" not in out, out
    for phrase in phrases:
        assert phrase in " ".join(out.split()), out


def prune(env: dict[str, str], user, cwd: Path, method: str, dataset: tuple[str, ...], *extra: str):
    """`graphstore prune METHOD --model pdmods:net --weights ... DATASET`, 2 rounds of 1 epoch; (proc, run id)."""
    classes = ("--model-opt", "classes=3") if dataset != FAKE else ()
    args = ("--model", "pdmods:net", *classes, "--weights", str(weights_for(dataset, user)), *dataset)
    proc = cli(env, user, cwd, "prune", method, *args, "--rounds", "2", "--rate", "0.5", "--epochs", "1", *extra)
    found = re.search(r"graphstore ingest --run (\d+)", proc.stdout + proc.stderr)
    return proc, int(found.group(1)) if found else None


@pytest.fixture(scope="module")
def pruned(user, tmp_path_factory) -> dict[tuple[str, str], types.SimpleNamespace]:
    """One pruning run per (case, backend), made on first use."""
    made: dict[tuple[str, str], types.SimpleNamespace] = {}

    def get(case: str, backend: str) -> types.SimpleNamespace:
        if (case, backend) not in made:
            root = tmp_path_factory.mktemp("pruned")
            env = settings_env(backend, root)
            method, dataset = CASES[case]
            proc, run_id = prune(env, user, root, method, dataset, "--rewind", "none", "--lr", "0.05")
            assert proc.returncode == 0 and run_id is not None, proc.stdout + proc.stderr
            folder = Path(env["GRAPHSTORE_DATA_DIR"]) / "runs" / str(run_id)
            made[case, backend] = types.SimpleNamespace(env=env, run_id=run_id, folder=folder, root=root)
        return made[case, backend]

    return get  # type: ignore[return-value]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_prune_retrains_on_any_dataset_and_ingest_run_stores_its_rounds(pruned, user, case, backend, tmp_path):
    method, dataset = CASES[case]
    run = pruned(case, backend)
    with connect(run.env) as db:
        record = next(r for r in db.runs(kind=f"prune-{method}", limit=None) if r.id == run.run_id)
        with borrowed_tracking(db.connections) as tracking:
            metrics = {(m.step, m.name, m.split) for m in tracking.list_metrics(run.run_id)}
    assert record.status == "completed"
    assert record.params["dataset"]["name"] == dataset[1]
    total = 40 if dataset == FAKE else 60
    assert {k: v["size"] for k, v in record.params["data_splits"].items()} == {
        "train": total * 4 // 5,
        "test": total // 5,
    }
    assert record.params["train"]["epochs"] == 1 and record.params["train"]["lr"] == 0.05
    for r in (1, 2):  # each retrained round logs training loss and accuracy, and test loss and accuracy
        assert {(r, "loss", "train"), (r, "acc", "train"), (r, "loss", "test"), (r, "acc", "test")} <= metrics
    prefix = f"pd-{uuid.uuid4().hex[:8]}" if backend == "servers" else None
    ids = ("--graph-id-prefix", prefix) if prefix else ()
    proc = cli(run.env, user, tmp_path, "ingest", "--run", str(run.run_id), "--graphs", "weights,coactivation", *ids)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    one = cli(
        run.env,
        user,
        tmp_path,
        "ingest",
        "--run",
        str(run.run_id),
        "--round",
        "1",
        "--graphs",
        "weights",
        *(("--graph-id-prefix", f"{prefix}-r1") if prefix else ()),
    )
    assert one.returncode == 0, one.stdout + one.stderr
    base, base1 = prefix or f"{run.run_id}-r2", f"{prefix}-r1" if prefix else f"{run.run_id}-r1"
    with connect(run.env) as db:
        try:
            for r, stem, kinds in ((2, base, ("weights", "coactivation")), (1, base1, ("weights",))):
                model = net(10 if dataset == FAKE else 3)
                model.load_state_dict(torch.load(run.folder / f"round_{r}_weights.pt", weights_only=True))
                for kind in kinds:
                    stored, python = db.read(f"{stem}-{kind}"), gs.extract(model, holdout_of(dataset, user.mods), kind)
                    assert (stored.node_count, stored.edge_count) == (python.node_count, python.edge_count), kind
                    assert stored.node_count > 0 and stored.edge_count > 0
                weights = db.read(f"{stem}-weights")
                assert weights.edge_count == int(sum((m.weight != 0).sum() for m in model if isinstance(m, nn.Linear)))
                assert weights.edge_count == round((64 * 16 + 16 * model[3].out_features) * 0.5**r)  # rate 0.5 a round
                ingest = next(
                    x for x in db.runs(kind="ingest", limit=None) if x.id == db.info(f"{stem}-weights").run_id
                )
                assert ingest.params["pruning_run"] == run.run_id and ingest.params["round"] == r
                assert ingest.params["weights"]["sha256"] == file_sha256(run.folder / f"round_{r}_weights.pt")
        finally:
            if prefix:
                drop_prefixed(db, prefix)


def copy_run(run, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A copy of the embedded run's data dir (tracking DB and files) to break without touching the original."""
    data = tmp_path / "data"
    shutil.copytree(Path(run.env["GRAPHSTORE_DATA_DIR"]), data)
    return {**run.env, "GRAPHSTORE_DATA_DIR": str(data)}, data / "runs" / str(run.run_id)


def stored_graphs(env: dict[str, str]) -> list[str]:
    with connect(env) as db:
        return [g.graph_id for g in db.graphs()]


def refused(env, user, tmp_path, run_id: int, *phrases: str, args: tuple[str, ...] = ()) -> None:
    """ingest --run fails cleanly, naming the phrases, and stores no new graph."""
    before = stored_graphs(env)
    proc = cli(env, user, tmp_path, "ingest", "--run", str(run_id), "--graphs", "weights", "--replace", *args)
    fails_cleanly(proc, *phrases)
    assert stored_graphs(env) == before


CASE = "torchvision FakeData, imp"


def test_tampered_round_weights_are_refused_by_digest(pruned, user, tmp_path):
    run = pruned(CASE, "embedded")
    env, folder = copy_run(run, tmp_path)
    weights = folder / "round_2_weights.pt"
    state = torch.load(weights, weights_only=True)
    state["1.weight"][0, 0] += 1.0  # one weight changed, saved as a valid torch file
    torch.save(state, weights)
    refused(env, user, tmp_path, run.run_id, "does not match the SHA-256 written when it was saved")
    digest_path(weights).write_text(f"{file_sha256(weights)}  {weights.name}\n")  # the sidecar rewritten to match
    refused(env, user, tmp_path, run.run_id, "does not match the SHA-256 the run recorded", "--round")
    refused(env, user, tmp_path, run.run_id, "has no round 7", "--round one of: 0, 1, 2", args=("--round", "7"))
    ok = cli(
        env, user, tmp_path, "ingest", "--run", str(run.run_id), "--round", "1", "--graphs", "weights", "--replace"
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr  # the untouched round still ingests


def test_a_manifest_that_disagrees_with_the_record_is_refused_before_any_import(pruned, user, tmp_path):
    run = pruned(CASE, "embedded")
    env, folder = copy_run(run, tmp_path)
    manifest = json.loads((folder / "foreign_run.json").read_text())
    (folder / "foreign_run.json").write_text(json.dumps({**manifest, "model": "pdmods_planted:net"}))
    (user.mods / "pdmods_planted.py").write_text("raise SystemExit('imported')\n")
    try:
        refused(env, user, tmp_path, run.run_id, "disagrees with its tracking record on the model", "ingest --model")
    finally:
        (user.mods / "pdmods_planted.py").unlink()
    (folder / "foreign_run.json").unlink()  # a run folder without its manifest: says why, and the way by hand
    refused(env, user, tmp_path, run.run_id, "holds no manifest", f"--weights {folder}/round_<r>_weights.pt")


def test_a_run_folder_another_user_can_write_is_refused(pruned, user, tmp_path):
    run = pruned(CASE, "embedded")
    env, folder = copy_run(run, tmp_path)
    folder.chmod(0o777)
    refused(env, user, tmp_path, run.run_id, "writable by other users")
    folder.chmod(0o755)
    shutil.chown(folder / "round_2_weights.pt", user="nobody")
    refused(env, user, tmp_path, run.run_id, "belongs to nobody")


def test_epoch_and_stray_data_options_are_refused(pruned, user, tmp_path):
    run = pruned(CASE, "embedded")
    env, _ = copy_run(run, tmp_path)
    refused(env, user, tmp_path, run.run_id, "no epoch checkpoints", "--round R", args=("--epoch", "1"))
    refused(env, user, tmp_path, run.run_id, "--data-opt changes", "--dataset", args=("--data-opt", "size=4"))


BAD = {
    "no labels": (("--dataset", "pdmods:unlabelled"), ("no labels", "(input, label)")),
    "wrong input shape": (("--dataset", "pdmods:wide"), ("cannot run on inputs of (3, 8, 8) per sample", "64 values")),
    "more classes than logits": (
        ("--dataset", "pdmods:many"),
        ("needs (batch, 13) logits", "num_classes=13"),
    ),
    "no length": (("--dataset", "pdmods:stream"), ("without a length", "map-style Dataset")),
    "not a dataset": (("--dataset", "pdmods:net"), ("returned a Sequential, not a torch Dataset",)),
    "bad holdout": (("--dataset", "pdmods:blobs", "--data-opt", "test_fraction=1.5"), ("not a fraction in (0, 1)",)),
    "torchvision root missing": (("--dataset", "MNIST", "--data-opt", "root={missing}"), ("does not exist",)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_retraining_data_is_refused_and_records_nothing(user, tmp_path, case):
    extra, phrases = BAD[case]
    env = settings_env("embedded", tmp_path)
    args = [a.format(missing=tmp_path / "nowhere") for a in extra]
    classes = () if case == "wrong input shape" else ("--model-opt", "classes=10")
    proc = cli(
        env, user, tmp_path, "prune", "imp", "--model", "pdmods:net", *classes, "--weights", str(user.net), *args
    )
    fails_cleanly(proc, *phrases)
    assert not (Path(env["GRAPHSTORE_DATA_DIR"]) / "runs").exists()


def test_split_rule_own_parts_or_seeded_holdout(user, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(user.mods))
    own = retraining_data(DatasetSpec("pdmods:halves"), tmp_path)  # takes train=: its own parts
    assert (own.size("train"), own.size("test"), own.meta["rule"]) == (30, 12, "own")
    fixed = retraining_data(DatasetSpec("pdmods:halves", {"train": "False"}), tmp_path)  # train= given: holdout
    assert (fixed.size("train"), fixed.size("test"), fixed.meta["rule"]) == (10, 2, "holdout")
    held = retraining_data(DatasetSpec("pdmods:blobs", {"test_fraction": "0.5", "split_seed": "3"}), tmp_path)
    order = np.random.default_rng(3).permutation(60)
    assert held.splits["test"].indices.tolist() == sorted(order[:30].tolist())
    assert held.info.class_names == ("0", "1", "2") and held.info.input_shape == (1, 8, 8)
    x, y = next(iter(held.loader("train", batch_size=8)))
    assert x.shape == (8, 1, 8, 8) and y.dtype == torch.long
    with pytest.raises(DataError, match="split_seed"):
        retraining_data(DatasetSpec("pdmods:blobs", {"split_seed": "x"}), tmp_path)
    fake = retraining_data(DatasetSpec("FakeData", {"size": "10", "image_size": "(1, 8, 8)"}), tmp_path)
    import torchvision

    labels = [int(y) for _, y in torchvision.datasets.FakeData(size=10, image_size=(1, 8, 8))]
    assert (fake.size("train"), fake.size("test")) == (8, 2)
    assert len(fake.info.class_names) == max(labels) + 1  # no `classes` attribute: the labels it holds
