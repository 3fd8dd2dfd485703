"""The tracking repository API on SQLite and PostgreSQL (same tests, both backends).

PostgreSQL runs when GRAPHSTORE_TEST_DATABASE_URL is set (each test in a fresh database), is skipped
otherwise, and fails when GRAPHSTORE_REQUIRE_SERVERS=1.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from graphstore.errors import GraphExists, GraphNotFound, TrackingError
from graphstore.tracking import Tracking, open_tracking, upgrade
from graphstore.tracking.records import to_jsonable
from graphstore.tracking.testing import backend_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def tracking(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tracking]:
    """An open, migrated tracking DB on each backend."""
    with backend_url(request.param, tmp_path) as url:
        upgrade(url)
        with open_tracking(url) as opened:
            yield opened


class Optim(enum.Enum):
    SGD = "sgd"


@dataclass
class Schedule:
    milestones: tuple[int, ...] = (10, 20)


@dataclass
class TrainConfig:
    model: str = "lenet"
    lr: float = 0.1
    optim: Optim = Optim.SGD
    out: Path = Path("/tmp/out")
    schedule: Schedule = field(default_factory=Schedule)
    tolerance: float = math.inf


EXPECTED_PARAMS = {
    "model": "lenet",
    "lr": 0.1,
    "optim": "sgd",
    "out": "/tmp/out",
    "schedule": {"milestones": [10, 20]},
    "tolerance": "Infinity",
}


def _graph(tracking: Tracking, graph_id: str = "g1", **kwargs: object) -> None:
    """A complete graph."""
    tracking.begin_graph(graph_id, "weights", {"threshold": 0.0}, "/tmp/graphs.lbdb", **kwargs)
    tracking.finish_graph(graph_id, node_count=10, edge_count=20, seconds=0.5)


def test_run_lifecycle(tracking: Tracking) -> None:
    run_id = tracking.start_run("train", "lenet-mnist", TrainConfig(), seed=7, device="cpu")
    run = tracking.get_run(run_id)
    assert run is not None
    assert (run.kind, run.name, run.status) == ("train", "lenet-mnist", "running")
    assert (run.seed, run.device) == (7, "cpu")
    assert run.params == EXPECTED_PARAMS
    assert run.created_at.tzinfo is not None and run.created_at.utcoffset().total_seconds() == 0
    assert run.finished_at is None and run.version
    done = tracking.finish_run(run_id, "completed")
    assert done.status == "completed" and done.finished_at is not None and done.finished_at >= done.created_at
    again = tracking.get_run(run_id)
    assert again is not None and again.finished_at is not None and again.finished_at.tzinfo == UTC

    child = tracking.start_run("prune-imp", "imp", {"rounds": 3}, parent_run_id=run_id)
    assert tracking.get_run(child).parent_run_id == run_id
    assert [r.id for r in tracking.list_runs()] == [child, run_id]
    assert [r.id for r in tracking.list_runs(kind="train")] == [run_id]
    assert [r.id for r in tracking.list_runs(limit=1)] == [child]
    assert tracking.get_run(9999) is None


def test_run_errors_and_tracked_run(tracking: Tracking) -> None:
    with pytest.raises(ValueError, match="completed, failed, interrupted"):
        tracking.finish_run(tracking.start_run("train", "x"), "done")
    with pytest.raises(TrackingError, match="Run 9999 does not exist"):
        tracking.finish_run(9999, "failed", "boom")
    with tracking.tracked_run("analysis", "ok", {"k": 1}) as ok_id:
        pass
    with pytest.raises(RuntimeError), tracking.tracked_run("train", "bad") as bad_id:
        raise RuntimeError("diverged")
    with pytest.raises(KeyboardInterrupt), tracking.tracked_run("train", "stop") as stop_id:
        raise KeyboardInterrupt
    assert tracking.get_run(ok_id).status == "completed"
    bad = tracking.get_run(bad_id)
    assert bad.status == "failed" and bad.error == "RuntimeError: diverged"
    assert tracking.get_run(stop_id).status == "interrupted"
    assert [r.id for r in tracking.list_runs(status="failed")] == [bad_id]


def test_one_lifecycle_policy_with_notes_and_a_single_finish() -> None:
    from graphstore.tracking.lifecycle import outcome, run_lifecycle

    assert outcome(None) == ("completed", None)
    assert outcome(RuntimeError("diverged"), "after round 2") == ("failed", "RuntimeError: diverged; after round 2")
    assert outcome(KeyboardInterrupt()) == ("interrupted", "KeyboardInterrupt")
    finished: list[tuple] = []
    with pytest.raises(ValueError), run_lifecycle(lambda: 7, lambda *a: finished.append(a)) as run:
        run.note = "during epoch 3"
        raise ValueError("bad lr")
    with run_lifecycle(lambda: 8, lambda *a: finished.append(a)):
        pass
    assert finished == [(7, "failed", "ValueError: bad lr; during epoch 3"), (8, "completed", None)]


def test_ctrl_c_while_the_run_row_is_written_still_finishes_it(tracking: Tracking) -> None:
    import os
    import signal

    def start() -> int:
        run_id = tracking.start_run("train", "sigint-at-start")
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, arriving before the block has begun
        return run_id

    from graphstore.tracking.lifecycle import run_lifecycle

    body_ran = False
    with pytest.raises(KeyboardInterrupt), run_lifecycle(start, tracking.finish_run):
        body_ran = True
    run = tracking.list_runs(limit=1)[0]
    assert not body_ran and run.name == "sigint-at-start"
    assert (run.status, run.error) == ("interrupted", "KeyboardInterrupt")


def test_metrics(tracking: Tracking) -> None:
    run_id = tracking.start_run("train", "m")
    tracking.log_metric(run_id, 0, "loss", 2.5, split="train")
    tracking.log_metrics(run_id, 1, {"loss": 1.5, "acc": 0.75}, split="val")
    tracking.log_metric_rows(run_id, [(2, "loss", float("nan")), (2, "acc", 0.8, "val")])
    tracking.log_metrics(run_id, 3, {})
    losses = tracking.list_metrics(run_id, name="loss")
    assert [(m.step, m.split) for m in losses] == [(0, "train"), (1, "val"), (2, None)]
    assert losses[0].value == 2.5 and math.isnan(losses[2].value)
    assert [m.value for m in tracking.list_metrics(run_id, split="val")] == [1.5, 0.75, 0.8]
    assert len(tracking.list_metrics(run_id)) == 5
    with pytest.raises(TrackingError):
        tracking.log_metric(9999, 0, "loss", 1.0)


def test_checkpoints(tracking: Tracking) -> None:
    run_id = tracking.start_run("prune-imp", "imp")
    first = tracking.add_checkpoint(run_id, 1, "/ckpt/e1.pt", metrics={"acc": 0.5})
    same = tracking.add_checkpoint(run_id, 1, Path("/ckpt/e1b.pt"), metrics={"acc": 0.6})
    assert same == first
    ckpt = tracking.get_checkpoint(first)
    assert (ckpt.path, ckpt.metrics, ckpt.round, ckpt.sparsity) == ("/ckpt/e1b.pt", {"acc": 0.6}, None, None)
    r0 = tracking.add_checkpoint(run_id, 1, "/ckpt/r0.pt", round=0, sparsity=0.2)
    r1 = tracking.add_checkpoint(run_id, 1, "/ckpt/r1.pt", round=1, sparsity=0.36)
    assert len({first, r0, r1}) == 3
    assert [c.id for c in tracking.list_checkpoints(run_id)] == [first, r0, r1]
    assert tracking.get_checkpoint(r1).sparsity == pytest.approx(0.36)
    assert tracking.get_checkpoint(12345) is None


INSERT_CHECKPOINT = (
    "INSERT INTO checkpoints (run_id, epoch, round, path, metrics, created_at) "
    "VALUES ({run_id}, 1, {round}, '/c.pt', '{{}}', CURRENT_TIMESTAMP)"
)


def test_checkpoint_uniqueness_is_enforced_by_the_database(tracking: Tracking) -> None:
    """(run, epoch, round) is unique even when round is NULL (a partial unique index)."""
    run_id = tracking.start_run("train", "u")
    tracking.add_checkpoint(run_id, 1, "/a.pt")
    tracking.add_checkpoint(run_id, 1, "/b.pt", round=2)
    for round_sql in ("NULL", "2"):
        with pytest.raises(IntegrityError), tracking.engine.begin() as conn:
            conn.execute(text(INSERT_CHECKPOINT.format(run_id=run_id, round=round_sql)))


def test_graph_lifecycle(tracking: Tracking) -> None:
    run_id = tracking.start_run("ingest", "ingest")
    ckpt = tracking.add_checkpoint(run_id, 3, "/ckpt/e3.pt")
    began = tracking.begin_graph("g1", "weights", {"t": 0.1}, "/tmp/g.lbdb", run_id=run_id, checkpoint_id=ckpt)
    assert (began.status, began.run_id, began.checkpoint_id) == ("writing", run_id, ckpt)
    assert began.node_count is None
    done = tracking.finish_graph("g1", node_count=100, edge_count=2000, seconds=1.25)
    assert (done.status, done.node_count, done.edge_count, done.seconds) == ("complete", 100, 2000, 1.25)
    assert done.completed_at is not None and done.completed_at.tzinfo is not None
    with pytest.raises(GraphExists, match="already exists") as info:
        tracking.begin_graph("g1", "weights", {}, "/tmp/g.lbdb")
    assert "--replace" in str(info.value)
    tracking.record_analysis("g1", "louvain", {"resolution": 1.0}, {"modularity": 0.4})
    again = tracking.begin_graph("g1", "coactivation", {"rho": "spearman"}, "/tmp/g.lbdb", replace=True)
    assert (again.status, again.kind) == ("writing", "coactivation")
    assert again.node_count is None and again.run_id is None
    assert tracking.list_analyses("g1") == []
    assert tracking.get_graph("missing") is None


def test_failed_graph_is_incomplete_and_can_be_retried(tracking: Tracking) -> None:
    tracking.begin_graph("g2", "knn", {"k": 16}, "bolt://127.0.0.1:7687")
    failed = tracking.fail_graph("g2", "ServiceUnavailable: connection lost")
    assert (failed.status, failed.error) == ("incomplete", "ServiceUnavailable: connection lost")
    assert [g.graph_id for g in tracking.list_graphs(status="incomplete")] == ["g2"]
    retry = tracking.begin_graph("g2", "knn", {"k": 16}, "bolt://127.0.0.1:7687")
    assert (retry.status, retry.error) == ("writing", None)
    assert tracking.fail_graph("g2", "bad input", status="failed").status == "failed"
    with pytest.raises(GraphNotFound):
        tracking.finish_graph("nope", 1, 1, 0.1)
    with pytest.raises(GraphNotFound):
        tracking.fail_graph("nope", "x")


def test_list_and_drop_graphs(tracking: Tracking) -> None:
    run_id = tracking.start_run("ingest", "i")
    _graph(tracking, "a", run_id=run_id)
    _graph(tracking, "b")
    tracking.begin_graph("c", "knn", {}, "/tmp/g.lbdb")
    assert [g.graph_id for g in tracking.list_graphs()] == ["a", "b", "c"]
    assert [g.graph_id for g in tracking.list_graphs(kind="weights", status="complete")] == ["a", "b"]
    assert [g.graph_id for g in tracking.list_graphs(run_id=run_id)] == ["a"]
    tracking.record_analysis("a", "pagerank")
    tracking.record_comparison("jaccard", "a", "b")
    assert tracking.drop_graph("a") is True
    assert tracking.drop_graph("a") is False
    assert tracking.list_analyses() == [] and tracking.list_comparisons() == []
    assert tracking.counts()["graphs"] == 2


def test_analyses_and_comparisons(tracking: Tracking) -> None:
    _graph(tracking, "a")
    _graph(tracking, "b")
    summary = {"modularity": 0.41, "communities": 7}
    aid = tracking.record_analysis("a", "louvain", {"resolution": 1.0}, summary, engine="gds", seconds=0.2)
    tracking.record_analysis("b", "pagerank", status="failed")
    analysis = tracking.list_analyses("a")[0]
    assert (analysis.id, analysis.name, analysis.engine) == (aid, "louvain", "gds")
    assert analysis.status == "complete" and analysis.summary == summary and analysis.seconds == 0.2
    assert [a.name for a in tracking.list_analyses(name="pagerank")] == ["pagerank"]
    cid = tracking.record_comparison("portrait-divergence", "a", "b", {"bins": 10}, {"distance": 0.12})
    comparison = tracking.list_comparisons("b")[0]
    assert (comparison.id, comparison.graph_a, comparison.graph_b) == (cid, "a", "b")
    assert comparison.result == {"distance": 0.12} and comparison.params == {"bins": 10}
    with pytest.raises(GraphNotFound):
        tracking.record_analysis("nope", "louvain")
    with pytest.raises(GraphNotFound):
        tracking.record_comparison("jaccard", "a", "nope")
    with pytest.raises(ValueError):
        tracking.record_analysis("a", "louvain", status="weird")


def test_to_jsonable_handles_numpy_like_and_types() -> None:
    class FakeArray:
        def tolist(self) -> list[int]:
            return [1, 2]

    assert to_jsonable({"a": FakeArray(), 1: {3}, "t": Path, "nan": float("nan")}) == {
        "a": [1, 2],
        "1": [3],
        "t": "pathlib.Path",
        "nan": "NaN",
    }
