"""`graphstore report compare`: two real tiny training runs (mlp on digits, different lr) compared through the CLI on
SQLite and PostgreSQL; pruning runs overlaid against round and sparsity; bad id lists refused with the fix."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from graphstore.report.compare import build_compare_report, param_diff
from graphstore.report.document import Figure, Link, Table
from graphstore.report.index import index_report
from graphstore.report.job import Written
from graphstore.report.lookup import ReportError
from graphstore.tracking import open_tracking

CLI = (sys.executable, "-m", "graphstore.cli.main")
TRAINED_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def trained(request, tmp_path_factory) -> tuple[dict[str, str], list[int], Path]:
    """Two tiny mlp-on-digits runs (2 epochs, lr 0.01 and 0.05) trained by the CLI; their run ids."""
    root = tmp_path_factory.mktemp(f"compare-{request.param}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update({"GRAPHSTORE_DATA_DIR": str(root / "data"), "GRAPHSTORE_CONFIG": "", "COLUMNS": "200"})
    if request.param == "postgres":
        from tests.servers import postgres_url

        env["GRAPHSTORE_DATABASE_URL"] = postgres_url()
        assert cli(env, "db", "upgrade").returncode == 0
    tag = uuid.uuid4().hex[:8]
    for lr in ("0.01", "0.05"):
        done = cli(env, "train", "-m", "mlp", "-d", "digits", "--epochs", "2", "--lr", lr, "--name", f"{tag}-{lr}")
        assert done.returncode == 0, done.stderr
    listed = cli(env, "runs", "list", "--name", f"{tag}-*", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    ids = sorted(r["id"] for r in json.loads(listed.stdout))
    assert len(ids) == 2
    return env, ids, root


def figure_ids(html: str) -> list[str]:
    return re.findall(r'<figure id="fig-([^"]+)"', html)


def test_cli_overlays_both_runs_per_metric_and_names_lr(trained) -> None:
    env, ids, root = trained
    out = root / "reports"
    done = cli(env, "report", "compare", *map(str, ids), "--out", str(out))
    assert done.returncode == 0, done.stderr
    html_path = out / f"compare-{ids[0]}-{ids[1]}.html"
    assert str(html_path) in done.stdout
    html = html_path.read_text()
    figures = figure_ids(html)
    for metric in TRAINED_METRICS:  # one figure per metric, each with a line per run (legend labels by lr)
        name = f"compare-{ids[0]}-{ids[1]}-{metric.replace('/', '_')}"
        assert name in figures, (name, figures)
        svg = (out / f"compare-{ids[0]}-{ids[1]}_files" / f"{name}.svg").read_text()
        assert svg.count("<path") > 10
        caption = re.search(rf'<figure id="fig-{name}">.*?<figcaption>([^<]*)</figcaption>', html)
        assert caption and caption.group(1) == f"{metric} per epoch: run {ids[0]} (lr=0.01), run {ids[1]} (lr=0.05)"
    assert len(figures) == len(set(figures))
    markdown = (out / f"compare-{ids[0]}-{ids[1]}.md").read_text()
    diff = markdown.split("## Parameters that differ")[1].split("##")[0]
    rows = [line for line in diff.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| parameter |")
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["train.lr"]  # only the key that differs
    assert "0.01" in rows[1] and "0.05" in rows[1]
    final = markdown.split("## Final metrics")[1]
    assert "test/acc" in final


def test_cli_refuses_an_unknown_id_with_close_matches(trained) -> None:
    env, ids, root = trained
    done = cli(env, "report", "compare", str(ids[0]), str(ids[1] + 100000), "--out", str(root / "bad"))
    assert done.returncode == 2
    text = done.stdout + done.stderr
    assert f"Error: No run '{ids[1] + 100000}' is recorded." in text
    assert "Hint:" in text and "Close matches" in text and "Traceback" not in text
    assert not (root / "bad").exists() or not list((root / "bad").glob("compare-*"))


@pytest.mark.parametrize(
    ("args", "phrase"),
    [(("1",), "at least two runs"), (("1", "1"), "named twice"), (("1", "x"), "No run 'x'")],
)
def test_cli_refuses_bad_id_lists(tmp_path: Path, args: tuple[str, ...], phrase: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update({"GRAPHSTORE_DATA_DIR": str(tmp_path), "GRAPHSTORE_CONFIG": "", "COLUMNS": "200"})
    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking, tracking.tracked_run("train", "a", {}):
        pass
    done = cli(env, "report", "compare", *args, "--out", str(tmp_path / "out"))
    text = done.stdout + done.stderr
    assert done.returncode == 2 and phrase in text and "Hint:" in text and "Traceback" not in text


def test_pruning_runs_overlaid_against_round_and_sparsity(tmp_path: Path) -> None:
    """Two IMP runs (rates 0.2 and 0.5): accuracy per round and against sparsity, one line each; nested diff."""
    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        ids = []
        for rate in (0.2, 0.5):
            params = {"imp": {"rate": rate, "rounds": 3}, "same": 1}
            with tracking.tracked_run("prune-imp", f"imp-{rate}", params) as run:
                ids.append(run)
                for r in range(4):
                    sparsity = 1 - (1 - rate) ** r
                    tracking.log_metrics(run, r, {"sparsity": sparsity})
                    tracking.log_metrics(run, r, {"acc": 0.9 - sparsity / 4}, split="test")
        report = build_compare_report(tracking, tuple(map(str, ids)))
        runs = [tracking.get_run(i) for i in ids]
    assert [k for k, _ in param_diff([r for r in runs if r])] == ["imp.rate"]
    sections = {s.title: s for s in report.sections}
    assert sections["Training curves"].omitted and not sections["Pruning curves"].omitted
    figures = [b for b in sections["Pruning curves"].blocks if isinstance(b, Figure)]
    both = "run {} (rate=0.2), run {} (rate=0.5)".format(*ids)
    assert [f.caption for f in figures] == [f"Test accuracy per round: {both}", f"Test accuracy vs sparsity: {both}"]
    final = next(b for b in sections["Final metrics"].blocks if isinstance(b, Table))
    assert final.rows[0][0] == "sparsity" and final.rows[0][1] == pytest.approx(1 - 0.8**3)


def test_unknown_id_in_the_job_names_close_ids(tmp_path: Path) -> None:
    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        with tracking.tracked_run("train", "a", {}) as run:
            pass
        with pytest.raises(ReportError) as caught:
            build_compare_report(tracking, (str(run), "99"))
    assert "No run '99'" in caught.value.message and str(run) in (caught.value.hint or "")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory) -> tuple[dict[str, str], Path]:
    """A real tiny IMP run (mlp on digits, 2 epochs per round, 2 rounds at rate 0.5) and its training parent."""
    root = tmp_path_factory.mktemp("compare-prune")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update({"GRAPHSTORE_DATA_DIR": str(root / "data"), "GRAPHSTORE_CONFIG": "", "COLUMNS": "200"})
    args = ("prune", "imp", "-m", "mlp", "-d", "digits", "--epochs", "2", "--rounds", "2", "--rate", "0.5")
    done = cli(env, *args, "--no-progress")
    assert done.returncode == 0, done.stderr
    return env, root


def test_pruning_rounds_log_per_epoch_metrics(pruned) -> None:
    """Each round's retraining: epoch e of round r at step r * 1000 + e under `train-epoch` / `val-epoch`."""
    _env, root = pruned
    with open_tracking(f"sqlite:///{root / 'data' / 'tracking.db'}") as tracking:
        run = next(r for r in tracking.list_runs(limit=None) if r.kind == "prune-imp")
        metrics = tracking.list_metrics(run.id)
    steps = {(m.split, m.name): set() for m in metrics}
    for m in metrics:
        steps[(m.split, m.name)].add(m.step)
    assert steps[("train-epoch", "loss")] == {1001, 1002, 2001, 2002}
    assert steps[("val-epoch", "acc")] == {1001, 1002, 2001, 2002}
    assert steps[("epoch", "lr")] == {1001, 1002, 2001, 2002}
    assert steps[(None, "sparsity")] == {0, 1, 2}  # the per-round rows are unchanged
    assert steps[("test", "acc")] == {0, 1, 2}


def test_run_report_draws_one_curve_per_round_and_compare_mixes_kinds(pruned) -> None:
    env, root = pruned
    out = root / "reports"
    with open_tracking(f"sqlite:///{root / 'data' / 'tracking.db'}") as tracking:
        runs = {r.kind: r.id for r in tracking.list_runs(limit=None)}
    done = cli(env, "report", "run", str(runs["prune-imp"]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    html = (out / f"run-{runs['prune-imp']}.html").read_text()
    for split in ("train", "val"):
        for name in ("loss", "acc"):
            assert f"run{runs['prune-imp']}-{split}-{name}-per-round" in figure_ids(html)
    assert "train loss per epoch of each round&#x27;s retraining (rounds 1, 2)</figcaption>" in html
    done = cli(env, "report", "compare", str(runs["train"]), str(runs["prune-imp"]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    html = (out / f"compare-{runs['train']}-{runs['prune-imp']}.html").read_text()
    ids = figure_ids(html)
    assert f"compare-{runs['train']}-{runs['prune-imp']}-train_loss" in ids  # the training run's epochs
    assert f"compare-{runs['train']}-{runs['prune-imp']}-acc-vs-round" in ids  # the pruning run's rounds


def test_all_index_groups_runs_by_kind_with_summaries(pruned) -> None:
    """A small real `report --all`: the training run and the IMP run each under its kind, one line each."""
    env, root = pruned
    done = cli(env, "report", "--all", "--out", str(root / "all"), "--no-progress")
    assert done.returncode == 0, done.stderr
    markdown = (root / "all" / "index-all.md").read_text()
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == ["Experiments", "Runs: prune-imp (1)", "Runs: train (1)", "Graphs"]
    imp = markdown.split("## Runs: prune-imp (1)")[1].split("##")[0]
    assert re.search(r"A prune-imp run, completed; test accuracy 0\.\d+, sparsity 0\.75\.", imp)
    train = markdown.split("## Runs: train (1)")[1].split("##")[0]
    assert re.search(r"A train run, completed; test accuracy 0\.\d+\.", train)


def written(kind: str, id: str, group: str = "", parent: str = "") -> Written:
    path = Path(f"{kind}-{id}.html")
    return Written(kind, id, f"{kind} {id}", path, path, [], [], f"summary of {id}", group, parent)


def test_index_lists_experiments_with_their_cells_then_runs_and_graphs_by_kind() -> None:
    reports = [
        written("experiment", "5"),
        written("run", "6", "experiment-cell", "5"),
        written("run", "7", "experiment-cell", "5"),
        written("run", "8", "train", "6"),
        written("run", "9", "train"),
        written("run", "10", "prune-imp", "9"),
        written("graph", "g-knn", "knn"),
        written("graph", "g-co", "coactivation"),
    ]
    index = index_report(reports, [("run", "11", "boom")])
    listed = {s.title: [b.id for b in s.blocks if isinstance(b, Link)] for s in index.sections}
    assert list(listed) == [
        "Experiment 5",
        "Runs: prune-imp (1)",
        "Runs: train (2)",
        "Graphs: coactivation (1)",
        "Graphs: knn (1)",
        "Failed",
    ]
    assert listed["Experiment 5"] == ["5", "6", "7"]  # the experiment, then its cells
    assert listed["Runs: train (2)"] == ["8", "9"]
    first = index.sections[0].blocks[0]
    assert isinstance(first, Link) and first.text == "experiment 5: summary of 5"
