"""Training loop: learns digits fast on CPU, deterministic, masks hold, Ctrl-C leaves a checkpoint; CLI."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from graphstore.nn.checkpoint import find_checkpoint, load_checkpoint
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import load_dataset
from graphstore.nn.errors import InvalidParams
from graphstore.nn.models import make_model
from graphstore.nn.run_log import RunLog, TrackingCallback, split_metrics
from graphstore.nn.train import Callback, CheckpointSaver, EpochLogger, seed_everything, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_small_cnn_learns_digits_in_two_epochs(digits) -> None:
    seed_everything(0)
    model = make_model("small-cnn", digits.info)
    seen: list[tuple[int, dict]] = []
    tic = time.perf_counter()
    result = train(
        model,
        digits,
        TrainConfig(epochs=2, batch_size=64),
        [EpochLogger(lambda e, m: seen.append((e, m)))],
        progress=False,
    )
    assert time.perf_counter() - tic < 30
    assert [e for e, _ in seen] == [1, 2]
    assert set(seen[0][1]) >= {"loss", "acc", "val_loss", "val_acc", "lr", "seconds"}
    assert seen[1][1]["lr"] < seen[0][1]["lr"]  # cosine schedule
    assert result.final["test_acc"] > 0.5 and result.final["val_acc"] > 0.5  # chance is 0.1


def run_mlp(digits, **overrides) -> list[dict]:
    seed_everything(1)
    model = make_model("mlp", digits.info, {"hidden": (32,)})
    config = TrainConfig(epochs=2, batch_size=128, seed=1, **overrides)
    return train(model, digits, config, progress=False).history


def test_training_is_deterministic(digits) -> None:
    strip = lambda h: [{k: v for k, v in m.items() if k != "seconds"} for m in h]  # noqa: E731
    assert strip(run_mlp(digits)) == strip(run_mlp(digits))
    assert strip(run_mlp(digits, optimizer="sgd", lr=0.05, schedule="step", step_size=1))[1]["lr"] == pytest.approx(
        0.005
    )


def test_masks_keep_weights_at_zero(digits, tmp_path: Path) -> None:
    seed_everything(0)
    model = make_model("small-cnn", digits.info)
    gen = torch.Generator().manual_seed(0)
    masks = {
        "conv1.weight": torch.rand(model.conv1.weight.shape, generator=gen) > 0.5,
        "fc1.weight": torch.rand(model.fc1.weight.shape, generator=gen) > 0.8,
    }
    saver = CheckpointSaver(tmp_path, "m", digits)
    train(
        model,
        digits,
        TrainConfig(epochs=1, batch_size=64, weight_decay=1e-3),
        [saver],
        masks=masks,
        progress=False,
    )
    for name, mask in masks.items():
        weight = dict(model.named_parameters())[name].detach()
        assert torch.all(weight[~mask] == 0) and torch.count_nonzero(weight[mask]) == mask.sum()
    ckpt = load_checkpoint(find_checkpoint(tmp_path, "m", 1))
    assert torch.equal(ckpt.masks["conv1.weight"], masks["conv1.weight"])
    assert torch.all(ckpt.theta0["conv1.weight"][~masks["conv1.weight"]] == 0)
    with pytest.raises(InvalidParams, match="Mask"):
        train(model, digits, TrainConfig(epochs=1), masks={"nope.weight": masks["fc1.weight"]}, progress=False)


class InterruptAfter:
    """A data wrapper whose training loader raises KeyboardInterrupt after `n` batches (simulated Ctrl-C)."""

    def __init__(self, data, n: int) -> None:
        self.data, self.n = data, n

    def __getattr__(self, name: str):
        return getattr(self.data, name)

    def loader(self, split: str, *args, **kwargs):
        inner = self.data.loader(split, *args, **kwargs)
        if split != "train":
            return inner
        outer = self

        class Batches:
            def __len__(self) -> int:
                return len(inner)

            def __iter__(self):
                for i, batch in enumerate(inner):
                    if i == outer.n:
                        raise KeyboardInterrupt
                    yield batch

        return Batches()


def test_keyboard_interrupt_leaves_a_checkpoint_and_marks_the_run(digits, tmp_path: Path) -> None:
    seed_everything(0)
    model = make_model("mlp", digits.info, {"hidden": (16,)})
    with RunLog(f"sqlite:///{tmp_path / 'tracking.db'}") as log:
        run_id = log.start("train", "interrupt-test", {"x": 1})
        saver = CheckpointSaver(tmp_path, run_id, digits, on_saved=log.checkpoint)
        with pytest.raises(KeyboardInterrupt):
            train(
                model,
                InterruptAfter(digits, 3),
                TrainConfig(epochs=3, checkpoint_epochs=()),
                [saver, TrackingCallback(log, run_id)],
                progress=False,
            )
        run = log.tracking.get_run(run_id)
    path = tmp_path / "runs" / str(run_id) / "interrupted.pt"
    ckpt = load_checkpoint(path)
    assert ckpt.extra["interrupted"] is True and ckpt.epoch == 0 and ckpt.theta0 is not None
    assert run.status == "interrupted" and str(path) in run.error


def test_early_stopping_and_restore_best(digits, tmp_path: Path) -> None:
    class Worsen(Callback):
        def on_epoch_end(self, state, metrics) -> None:
            if state.epoch == 1:
                state.best_val_loss = -1.0  # pretend epoch 1 was unbeatable

    seed_everything(0)
    model = make_model("mlp", digits.info, {"hidden": (16,)})
    result = train(model, digits, TrainConfig(epochs=10, patience=2, checkpoint_epochs=()), [Worsen()], progress=False)
    assert result.stopped_early and len(result.history) == 3


def test_boolean_task_trains_as_multilabel() -> None:
    data = load_dataset("boolean-modular", task="input-separable")
    seed_everything(0)
    model = make_model("mlp", data.info, {"hidden": (24, 24)})
    result = train(
        model,
        data,
        TrainConfig(epochs=30, batch_size=8, lr=0.01, input_noise=0.1, restore_best=True, checkpoint_epochs=()),
        progress=False,
    )
    assert 0.0 <= result.final["test_acc"] <= 1.0 and result.final["test_acc"] > 0.7
    assert 1 <= result.best_epoch <= 30


def test_split_metrics_for_tracking() -> None:
    out = split_metrics({"loss": 1.0, "acc": 0.5, "val_loss": 2.0, "test_acc": 0.4, "lr": 0.1})
    assert out == {
        "train": {"loss": 1.0, "acc": 0.5},
        "val": {"loss": 2.0},
        "test": {"acc": 0.4},
        None: {"lr": 0.1},
    }


def cli_app() -> typer.Typer:
    from graphstore.cli import train_cmd

    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    train_cmd.register(app)
    return app


def test_cli_train_tracks_and_checkpoints(tmp_path: Path) -> None:
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    runner = CliRunner()
    args = [
        "train",
        "-m",
        "mlp",
        "--model-opt",
        "hidden=32",
        "--data-opt",
        "size=8",
        "--epochs",
        "2",
        "--checkpoint-epochs",
        "0,1",
        "--no-progress",
        "--seed",
        "3",
    ]
    result = runner.invoke(cli_app(), args, env=env)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    names = sorted(p.name for p in (tmp_path / "runs" / "1").iterdir())
    checkpoints = ["epoch_0.pt", "epoch_1.pt", "epoch_2.pt"]
    assert names == sorted([*checkpoints, *(f"{c}.sha256" for c in checkpoints)])  # each with its digest sidecar
    from graphstore.tracking import open_tracking

    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        run = tracking.get_run(1)
        assert run.status == "completed" and run.params["model"]["params"]["hidden"] == [32]
        assert [c.epoch for c in tracking.list_checkpoints(1)] == [0, 1, 2]
        assert {m.name for m in tracking.list_metrics(1, split="val")} == {"loss", "acc"}
    ckpt = load_checkpoint(find_checkpoint(tmp_path, 1))
    assert ckpt.epoch == 2 and ckpt.extra["train_config"]["seed"] == 3


def test_cli_help_list_and_errors(tmp_path: Path) -> None:
    runner, app = CliRunner(), cli_app()
    help_text = runner.invoke(app, ["train", "--help"]).output
    assert "graphstore train --model small-cnn --dataset digits --epochs 5" in help_text and "--patience" in help_text
    listing = runner.invoke(app, ["train", "--list"]).output
    assert all(name in listing for name in ("small-cnn", "vgg16", "cifar20", "boolean-modular", "width"))
    bad = runner.invoke(app, ["train", "--model-opt", "nope"], env={"GRAPHSTORE_DATA_DIR": str(tmp_path)})
    assert isinstance(bad.exception, InvalidParams)


def test_penalty_mask_hook_and_optimiser_hand_over(digits) -> None:
    seed_everything(0)
    model = make_model("mlp", digits.info, {"hidden": (16,)})
    calls: list[int] = []

    def penalty(net) -> torch.Tensor:
        calls.append(1)
        return 1e-3 * net.fc1.weight.square().sum()

    cut = torch.ones_like(model.fc1.weight, dtype=torch.bool)
    cut[:8] = False

    class PruneAfterFirst(Callback):
        def on_epoch_trained(self, state, metrics) -> None:
            if state.epoch == 1:
                state.masks, state.penalty = {"fc1.weight": cut}, None
                metrics["pruned"] = 1.0

    config = TrainConfig(epochs=2, batch_size=256, schedule="step", step_size=1, gamma=0.5, checkpoint_epochs=())
    batches = math.ceil(digits.size("train") / 256)
    first = train(model, digits, config, [PruneAfterFirst()], penalty=penalty, mask_gradients=True)
    assert len(calls) == batches  # the hook switched the penalty off after epoch 1
    assert first.history[0]["pruned"] == 1.0 and torch.equal(first.masks["fc1.weight"], cut)
    assert (model.fc1.weight[:8] == 0).all() and (model.fc1.weight.grad[:8] == 0).all()
    again = train(
        model,
        digits,
        dataclasses.replace(config, epochs=1),
        masks=first.masks,
        optimizer=first.optimizer,
        scheduler=first.scheduler,
    )
    assert again.optimizer is first.optimizer and again.scheduler is first.scheduler
    assert again.history[0]["lr"] == pytest.approx(config.lr * 0.25)  # the schedule continued: two halvings
    assert (model.fc1.weight[:8] == 0).all()


def test_train_tracked_records_the_run_and_returns_everything(tmp_path: Path) -> None:
    from graphstore.nn.tracked import train_tracked
    from graphstore.tracking import open_tracking

    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    seen: list[tuple[str, int, int]] = []
    out = train_tracked(
        tmp_path,
        url,
        "mlp",
        {"hidden": (8,)},
        "digits",
        {"size": 8, "limit": 200},
        TrainConfig(epochs=2, batch_size=64, checkpoint_epochs=(0,)),
        name="tiny",
        progress=lambda step, done, total: seen.append((step, done, total)),
    )
    assert out.run_id == 1 and [p.name for p in out.saved] == ["epoch_0.pt", "epoch_2.pt"]
    assert out.params["model"]["params"]["hidden"] == [8] and out.result.final["test_acc"] >= 0
    assert seen[0][0] == "loading digits" and seen[-1][1] == seen[-1][2] > 0
    with open_tracking(url) as tracking:
        run = tracking.get_run(1)
        assert (run.status, run.name, run.error) == ("completed", "tiny", None)
        assert [c.epoch for c in tracking.list_checkpoints(1)] == [0, 2]


class StopAt(Callback):
    """Raises `exc` at the start of training (the earliest callback point, before the epoch loop)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def on_train_start(self, state) -> None:
        raise self.exc


def test_a_run_stopped_before_its_first_epoch_is_never_left_running(tmp_path: Path) -> None:
    from graphstore.nn.tracked import train_tracked
    from graphstore.tracking import open_tracking

    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    args = (tmp_path, url, "mlp", {"hidden": (8,)}, "digits", {"size": 8, "limit": 100}, TrainConfig(epochs=1))

    def interrupt_on_start(*_: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_tracked(*args, on_start=interrupt_on_start)
    with pytest.raises(KeyboardInterrupt):
        train_tracked(*args, callbacks=[StopAt(KeyboardInterrupt())])
    with pytest.raises(RuntimeError):
        train_tracked(*args, callbacks=[StopAt(RuntimeError("no GPU memory"))])
    with open_tracking(url) as tracking:
        runs = {r.id: (r.status, r.error) for r in tracking.list_runs()}
    assert runs == {
        1: ("interrupted", "KeyboardInterrupt"),
        2: ("interrupted", "KeyboardInterrupt"),
        3: ("failed", "RuntimeError: no GPU memory"),
    }


def test_sigint_to_a_real_graphstore_train_marks_the_run_interrupted(tmp_path: Path) -> None:
    """Issue 8 #8: Ctrl-C right after the run row appears (before or in the first epoch) -> 'interrupted'."""
    exe = Path(sys.executable).parent / "graphstore"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "graphstore.cli.main"]
    cmd += [
        "train",
        "-m",
        "mlp",
        "--model-opt",
        "hidden=8",
        "--data-opt",
        "size=8",
        "--epochs",
        "100000",
        "--checkpoint-epochs",
        "0",
        "--no-progress",
    ]
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path), "GRAPHSTORE_DATABASE_URL": "", "GRAPHSTORE_CONFIG": ""}
    db = tmp_path / "tracking.db"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not _runs(db):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "graphstore train never created its run"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=180)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    ((status, error),) = _runs(db)
    assert status == "interrupted" and error.startswith("KeyboardInterrupt"), output


def _runs(db: Path) -> list[tuple[str, str | None]]:
    """(status, error) of every run in a SQLite tracking DB (empty while it is not there yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT status, error FROM runs ORDER BY id").fetchall()
    except sqlite3.Error:
        return []


def test_training_and_pruning_import_no_cli_libraries() -> None:
    code = (
        "import sys, graphstore.nn.train, graphstore.nn.run_log, graphstore.nn.tracked, graphstore.nn.params, "
        "graphstore.pruning.common, graphstore.pruning.imp, graphstore.pruning.structured, "
        "graphstore.pruning.sculpt, graphstore.pruning.layers; "
        "print(sorted(m for m in ('rich', 'typer', 'graphstore.cli', 'graphstore.pruning.topology') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
