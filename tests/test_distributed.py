"""Distributed training: `graphstore train --nproc 2` (2 gloo processes under torchrun, DistributedDataParallel)
matches the train job in one process with the same global batch; rank 0 alone writes checkpoints and creates the
one tracked run.

The comparison is exact up to float summation order: SGD without momentum, no schedule, no dropout or noise,
the same seed; both runs draw the same permutation each epoch and the two ranks' 32-sample batches together are
the single process's 64-sample batch (DDP averages the two ranks' mean gradients = the 64-sample mean gradient).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graphstore.config import Settings
from graphstore.jobs.base import JobContext
from graphstore.jobs.train import ModelChoice, TrainOutcome, TrainParams, run_train
from graphstore.nn import distributed
from graphstore.nn.checkpoint import load_checkpoint
from graphstore.nn.config import TrainConfig
from graphstore.nn.errors import InvalidParams
from graphstore.tracking import open_tracking

pytestmark = pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="torch built without gloo")

TOLERANCE = 1e-4  # relative, on losses and weights: float summation order differs between 1 and 2 processes
CONFIG = TrainConfig(epochs=2, batch_size=64, optimizer="sgd", momentum=0.0, lr=0.1, schedule="none", seed=5)
CHOICE = ModelChoice(model="mlp", dataset="digits", model_opt=("hidden=32",), data_opt=("limit=600",))


def train_job(root: Path) -> TrainOutcome:
    """The train job in one process, in `root` (its own SQLite tracking DB)."""
    settings = Settings(data_dir=root, database_url="")
    return run_train(JobContext(settings), TrainParams(choice=CHOICE, train=CONFIG))


def cli_train_nproc_two(root: Path) -> subprocess.CompletedProcess:
    """`graphstore train --nproc 2` with the same choice and config, in `root`."""
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(root), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    args = ["train", "-m", CHOICE.model, "-d", CHOICE.dataset, "--model-opt", *CHOICE.model_opt]
    args += ["--data-opt", *CHOICE.data_opt, "--epochs", str(CONFIG.epochs), "--batch-size", str(CONFIG.batch_size)]
    args += ["--optimizer", "sgd", "--momentum", "0", "--lr", str(CONFIG.lr), "--schedule", "none"]
    args += ["--seed", str(CONFIG.seed), "--nproc", "2", "--no-progress"]
    command = [str(Path(sys.executable).parent / "graphstore"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)


def tracked(root: Path) -> tuple[list[int], dict[tuple[int, str | None, str], float], list[int]]:
    """Run ids, the first run's metrics by (step, split, name), and its checkpointed epochs."""
    with open_tracking(f"sqlite:///{root / 'tracking.db'}") as tracking:
        ids = [run.id for run in tracking.list_runs()]
        assert tracking.get_run(ids[-1]).status == "completed"
        rows = tracking.list_metrics(ids[-1])
        metrics = {(m.step, m.split, m.name): m.value for m in rows}
        assert len(metrics) == len(rows)  # each metric logged once (by rank 0 alone)
        return ids, metrics, [c.epoch for c in tracking.list_checkpoints(ids[-1])]


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    single = train_job(tmp_path / "single")
    done = cli_train_nproc_two(tmp_path / "ddp")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "training in 2 processes" in done.stderr and "test accuracy" in done.stdout
    one_ids, one, _ = tracked(tmp_path / "single")
    ids, two, epochs = tracked(tmp_path / "ddp")
    assert one.keys() == two.keys() and len(single.history) == 2
    for key, value in one.items():
        if key[2] != "seconds":
            assert two[key] == pytest.approx(value, rel=TOLERANCE, abs=1e-6), key
    assert two[(2, "train", "loss")] < two[(1, "train", "loss")]  # it learns
    # rank 0 alone wrote: one run, its checkpoints once each (epochs 1 and 2), nothing from rank 1
    assert ids == [1] and epochs == [1, 2]
    names = sorted(p.relative_to(tmp_path / "ddp").as_posix() for p in (tmp_path / "ddp" / "runs").rglob("*.pt"))
    assert names == ["runs/1/epoch_1.pt", "runs/1/epoch_2.pt"]
    weights_one = load_checkpoint(single.saved[-1]).state_dict
    weights_two = load_checkpoint(tmp_path / "ddp" / names[-1]).state_dict
    for name, value in weights_one.items():
        torch.testing.assert_close(weights_two[name], value, rtol=TOLERANCE, atol=1e-6)


def test_a_global_batch_that_does_not_split_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    with pytest.raises(InvalidParams, match="multiple of 3"):
        distributed.per_rank_batch(64)
    assert distributed.per_rank_batch(63) == 21
    with pytest.raises(InvalidParams, match="--nproc 3"):  # refused before any process starts
        run_train(JobContext(Settings(data_dir=tmp_path)), TrainParams(train=CONFIG, nproc=3))
