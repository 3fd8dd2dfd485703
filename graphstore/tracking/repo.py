"""The repository API over the tracking DB: runs, checkpoints, metrics, graphs, analyses, comparisons.

Every method runs in its own short transaction and returns plain records (graphstore.tracking.records).

Example:
    with open_tracking(settings.tracking_url) as tracking:
        with tracking.tracked_run("train", "lenet-mnist", params=cfg, seed=0) as run_id:
            tracking.log_metrics(run_id, step=1, values={"loss": 0.3, "acc": 0.91}, split="val")
"""

from __future__ import annotations

import contextlib
import functools
import math
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Table, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from graphstore import __version__
from graphstore.config import mask_url
from graphstore.errors import GraphExists, GraphNotFound, TrackingError
from graphstore.tracking import db
from graphstore.tracking.lifecycle import COMPLETED, RUNNING, run_lifecycle
from graphstore.tracking.models import (
    ANALYSIS_STATUSES,
    RUN_FINISHED_STATUSES,
    Analysis,
    Checkpoint,
    Comparison,
    ExperimentRow,
    Graph,
    Metric,
    Run,
    utcnow,
)
from graphstore.tracking.records import (
    AnalysisRecord,
    CheckpointRecord,
    ComparisonRecord,
    ExperimentRowRecord,
    GraphRecord,
    MetricRecord,
    RunRecord,
    params_dict,
    to_record,
)

MetricRow = tuple[int, str, float] | tuple[int, str, float, str | None]


@functools.cache
def git_commit() -> str | None:
    """The commit of a graphstore source checkout (None when installed as a package or git is missing)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _metric_value(value: float) -> float | None:
    """NaN is stored as NULL (SQLite cannot hold NaN); everything else as a float."""
    value = float(value)
    return None if math.isnan(value) else value


def _metric_record(row: Metric) -> MetricRecord:
    """A MetricRecord with NULL read back as NaN."""
    record = to_record(MetricRecord, row)
    return record if row.value is not None else MetricRecord(**{**record.__dict__, "value": math.nan})


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    """Validate a status-like value with an error that lists the allowed ones."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


class Tracking:
    """A connection to one tracking database; use open_tracking() to get one with a checked schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = db.make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction; connection failures and refused writes become TrackingError."""
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            raise db.unreachable(self.url, exc) from exc
        except IntegrityError as exc:
            reason = " ".join(str(exc.orig).split())
            raise TrackingError(
                f"The tracking database refused the write: {reason}",
                "Check that the run, checkpoint and graph ids you pass exist.",
            ) from exc

    # runs ---------------------------------------------------------------------------------------------------

    def start_run(
        self,
        kind: str,
        name: str,
        params: Any = None,
        parent_run_id: int | None = None,
        seed: int | None = None,
        device: str | None = None,
    ) -> int:
        """Record a run as running, with its params (a dataclass or mapping); return its id."""
        if not kind or not name:
            raise ValueError("a run needs a non-empty kind and name")
        row = Run(
            kind=kind,
            name=name,
            status="running",
            params=params_dict(params),
            parent_run_id=parent_run_id,
            seed=seed,
            device=None if device is None else str(device),
            version=__version__,
            git_commit=git_commit(),
        )
        with self._session() as session:
            session.add(row)
            session.flush()
            return row.id

    def finish_run(self, run_id: int, status: str = COMPLETED, error: str | None = None) -> RunRecord:
        """Mark a run completed, failed or interrupted (with an error text) and stamp finished_at."""
        _check(status, RUN_FINISHED_STATUSES, "run status")
        with self._session() as session:
            row = self._run(session, run_id)
            row.status, row.error, row.finished_at = status, error, utcnow()
            return to_record(RunRecord, row)

    @contextlib.contextmanager
    def tracked_run(self, kind: str, name: str, params: Any = None, **kwargs: Any) -> Iterator[int]:
        """Start a run, yield its id, finish it by the one policy (graphstore.tracking.lifecycle)."""
        with run_lifecycle(lambda: self.start_run(kind, name, params, **kwargs), self.finish_run) as run:
            yield run.run_id

    @staticmethod
    def _run(session: Session, run_id: int) -> Run:
        """The run row, or TrackingError naming the missing id."""
        row = session.get(Run, run_id)
        if row is None:
            raise TrackingError(f"Run {run_id} does not exist.", "List runs with `graphstore runs list`.")
        return row

    def get_run(self, run_id: int) -> RunRecord | None:
        """A run by id, or None."""
        with self._session() as session:
            row = session.get(Run, run_id)
            return None if row is None else to_record(RunRecord, row)

    def list_runs(
        self,
        kind: str | None = None,
        status: str | None = None,
        limit: int | None = 50,
        *,
        name: str | None = None,
        parent_run_id: int | None = None,
        since: datetime | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally of one kind / status, a name pattern (`*` any text), a parent, or created
        at or after `since`."""
        query = select(Run).order_by(Run.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(Run.kind == kind)
        if status is not None:
            query = query.where(Run.status == status)
        if name is not None:
            pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
            query = query.where(Run.name.like(pattern, escape="\\"))
        if parent_run_id is not None:
            query = query.where(Run.parent_run_id == parent_run_id)
        if since is not None:
            query = query.where(Run.created_at >= since)
        return self._all(RunRecord, query)

    def final_metrics(self, run_ids: Iterable[int]) -> dict[int, dict[str, float]]:
        """Each run's last value of every metric, keyed `split/name` (or `name` without a split)."""
        ids = list(run_ids)
        if not ids:
            return {}
        query = select(Metric).where(Metric.run_id.in_(ids)).order_by(Metric.step, Metric.id)
        out: dict[int, dict[str, float]] = {i: {} for i in ids}
        with self._session() as session:
            for row in session.scalars(query):
                record = _metric_record(row)
                out[record.run_id][f"{record.split}/{record.name}" if record.split else record.name] = record.value
        return out

    def _all(self, cls: type, query: Select) -> list:
        """Execute a select of ORM rows and copy them into records."""
        with self._session() as session:
            return [to_record(cls, row) for row in session.scalars(query)]

    # checkpoints --------------------------------------------------------------------------------------------

    def add_checkpoint(
        self,
        run_id: int,
        epoch: int,
        path: str | Path,
        round: int | None = None,
        sparsity: float | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a checkpoint; saving the same (run, epoch, round) again updates that row. Return its id."""
        with self._session() as session:
            self._run(session, run_id)
            query = select(Checkpoint).where(
                Checkpoint.run_id == run_id,
                Checkpoint.epoch == epoch,
                Checkpoint.round.is_(None) if round is None else Checkpoint.round == round,
            )
            row = session.scalars(query).one_or_none() or Checkpoint(run_id=run_id, epoch=epoch, round=round)
            row.path, row.sparsity, row.metrics = str(path), sparsity, params_dict(metrics)
            row.created_at = utcnow()
            session.add(row)
            session.flush()
            return row.id

    def get_checkpoint(self, checkpoint_id: int) -> CheckpointRecord | None:
        """A checkpoint by id, or None."""
        with self._session() as session:
            row = session.get(Checkpoint, checkpoint_id)
            return None if row is None else to_record(CheckpointRecord, row)

    def list_checkpoints(self, run_id: int) -> list[CheckpointRecord]:
        """A run's checkpoints by round, then epoch."""
        query = (
            select(Checkpoint)
            .where(Checkpoint.run_id == run_id)
            .order_by(Checkpoint.round.is_(None).desc(), Checkpoint.round, Checkpoint.epoch)
        )
        return self._all(CheckpointRecord, query)

    # metrics ------------------------------------------------------------------------------------------------

    def log_metric(self, run_id: int, step: int, name: str, value: float, split: str | None = None) -> None:
        """Record one scalar of a run at a step (epoch or round)."""
        self.log_metric_rows(run_id, [(step, name, value, split)])

    def log_metrics(self, run_id: int, step: int, values: Mapping[str, float], split: str | None = None) -> None:
        """Record several named scalars of a run at one step, in one statement."""
        self.log_metric_rows(run_id, [(step, name, value, split) for name, value in values.items()])

    def log_metric_rows(self, run_id: int, rows: Iterable[MetricRow]) -> None:
        """Bulk-insert (step, name, value[, split]) rows for a run (executemany)."""
        now = utcnow()
        payload = [
            {
                "run_id": run_id,
                "step": int(r[0]),
                "name": str(r[1]),
                "value": _metric_value(r[2]),
                "split": r[3] if len(r) > 3 else None,
                "created_at": now,
            }
            for r in rows
        ]
        if not payload:
            return
        with self._session() as session:
            self._run(session, run_id)
            session.execute(cast(Table, Metric.__table__).insert(), payload)

    def list_metrics(self, run_id: int, name: str | None = None, split: str | None = None) -> list[MetricRecord]:
        """A run's metrics by step, optionally one name / split."""
        query = select(Metric).where(Metric.run_id == run_id).order_by(Metric.step, Metric.id)
        if name is not None:
            query = query.where(Metric.name == name)
        if split is not None:
            query = query.where(Metric.split == split)
        with self._session() as session:
            return [_metric_record(row) for row in session.scalars(query)]

    # graphs -------------------------------------------------------------------------------------------------

    def begin_graph(
        self,
        graph_id: str,
        kind: str,
        params: Any,
        store_uri: str,
        run_id: int | None = None,
        checkpoint_id: int | None = None,
        replace: bool = False,
    ) -> GraphRecord:
        """Mark a graph as being written; a complete one raises GraphExists unless replace=True.

        A replaced or unfinished earlier attempt is reset, and its analyses and comparisons are deleted.
        """
        with self._session() as session:
            row = session.get(Graph, graph_id)
            if row is not None and row.status == "complete" and not replace:
                raise GraphExists(
                    f"Graph {graph_id!r} already exists ({row.kind}, {row.node_count} nodes, "
                    f"{row.edge_count} edges, written {row.created_at:%Y-%m-%d %H:%M} UTC).",
                    "Pass --replace to overwrite it, or choose another graph id.",
                )
            if row is not None:
                self._delete_dependents(session, graph_id)
            row = row or Graph(graph_id=graph_id)
            row.kind, row.params, row.store_uri = kind, params_dict(params), store_uri
            row.run_id, row.checkpoint_id, row.status = run_id, checkpoint_id, "writing"
            row.node_count = row.edge_count = row.completed_at = row.seconds = row.error = None
            row.created_at = utcnow()
            session.add(row)
            session.flush()
            return to_record(GraphRecord, row)

    @staticmethod
    def _delete_dependents(session: Session, graph_id: str) -> None:
        """Delete the analyses and comparisons of a graph."""
        session.execute(delete(Analysis).where(Analysis.graph_id == graph_id))
        session.execute(delete(Comparison).where(or_(Comparison.graph_a == graph_id, Comparison.graph_b == graph_id)))

    @staticmethod
    def _graph(session: Session, graph_id: str) -> Graph:
        """The graph row, or GraphNotFound."""
        row = session.get(Graph, graph_id)
        if row is None:
            raise GraphNotFound(
                f"Graph {graph_id!r} is not in the tracking database.",
                "List graphs with `graphstore store status`.",
            )
        return row

    def finish_graph(self, graph_id: str, node_count: int, edge_count: int, seconds: float) -> GraphRecord:
        """Mark a graph complete with its size and write time."""
        with self._session() as session:
            row = self._graph(session, graph_id)
            row.node_count, row.edge_count, row.seconds = int(node_count), int(edge_count), float(seconds)
            row.status, row.completed_at, row.error = "complete", utcnow(), None
            return to_record(GraphRecord, row)

    def fail_graph(self, graph_id: str, error: str, status: str = "incomplete") -> GraphRecord:
        """Mark a graph whose write stopped: incomplete (partly written) or failed, with the error."""
        _check(status, ("incomplete", "failed"), "failed graph status")
        with self._session() as session:
            row = self._graph(session, graph_id)
            row.status, row.error = status, error
            return to_record(GraphRecord, row)

    def get_graph(self, graph_id: str) -> GraphRecord | None:
        """A graph by id, or None."""
        with self._session() as session:
            row = session.get(Graph, graph_id)
            return None if row is None else to_record(GraphRecord, row)

    def list_graphs(
        self, kind: str | None = None, status: str | None = None, run_id: int | None = None
    ) -> list[GraphRecord]:
        """Graphs, oldest first, optionally of one kind / status / run."""
        query = select(Graph).order_by(Graph.created_at, Graph.graph_id)
        for column, value in ((Graph.kind, kind), (Graph.status, status), (Graph.run_id, run_id)):
            if value is not None:
                query = query.where(column == value)
        return self._all(GraphRecord, query)

    def drop_graph(self, graph_id: str) -> bool:
        """Delete a graph with its analyses and comparisons; return whether it was there."""
        with self._session() as session:
            self._delete_dependents(session, graph_id)
            return cast(CursorResult, session.execute(delete(Graph).where(Graph.graph_id == graph_id))).rowcount > 0

    # analyses and comparisons -------------------------------------------------------------------------------

    def record_analysis(
        self,
        graph_id: str,
        name: str,
        params: Any = None,
        summary: Any = None,
        status: str = "complete",
        engine: str = "client",
        seconds: float | None = None,
    ) -> int:
        """Record an analysis of a graph (engine: client, gds, ...); return its id."""
        _check(status, ANALYSIS_STATUSES, "analysis status")
        with self._session() as session:
            self._graph(session, graph_id)
            row = Analysis(
                graph_id=graph_id,
                name=name,
                params=params_dict(params),
                summary=params_dict(summary),
                status=status,
                engine=engine,
                seconds=seconds,
            )
            session.add(row)
            session.flush()
            return row.id

    def list_analyses(self, graph_id: str | None = None, name: str | None = None) -> list[AnalysisRecord]:
        """Analyses, oldest first, optionally of one graph / name."""
        query = select(Analysis).order_by(Analysis.id)
        if graph_id is not None:
            query = query.where(Analysis.graph_id == graph_id)
        if name is not None:
            query = query.where(Analysis.name == name)
        return self._all(AnalysisRecord, query)

    def record_comparison(self, name: str, graph_a: str, graph_b: str, params: Any = None, result: Any = None) -> int:
        """Record a comparison of two graphs by a named method; return its id."""
        with self._session() as session:
            self._graph(session, graph_a)
            self._graph(session, graph_b)
            row = Comparison(
                name=name,
                graph_a=graph_a,
                graph_b=graph_b,
                params=params_dict(params),
                result=params_dict(result),
            )
            session.add(row)
            session.flush()
            return row.id

    def list_comparisons(self, graph_id: str | None = None) -> list[ComparisonRecord]:
        """Comparisons, oldest first, optionally those involving one graph."""
        query = select(Comparison).order_by(Comparison.id)
        if graph_id is not None:
            query = query.where(or_(Comparison.graph_a == graph_id, Comparison.graph_b == graph_id))
        return self._all(ComparisonRecord, query)

    # run trees and experiment rows ------------------------------------------------------------------------------

    def list_child_runs(self, parent_run_id: int) -> list[RunRecord]:
        """The runs whose parent is `parent_run_id`, oldest first."""
        return self._all(RunRecord, select(Run).where(Run.parent_run_id == parent_run_id).order_by(Run.id))

    def set_parent(self, run_id: int, parent_run_id: int) -> None:
        """Make `run_id` a child of `parent_run_id` (e.g. a training run an experiment cell started)."""
        with self._session() as session:
            self._run(session, parent_run_id)
            self._run(session, run_id).parent_run_id = parent_run_id

    def reopen_run(self, run_id: int) -> RunRecord:
        """Mark a finished run running again (an experiment resumed under the same parent run)."""
        with self._session() as session:
            row = self._run(session, run_id)
            row.status, row.error, row.finished_at = "running", None, None
            return to_record(RunRecord, row)

    def add_experiment_rows(
        self, experiment_run_id: int, cell_run_id: int, table: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Store result rows of one experiment table written by one cell; return how many."""
        objs = [
            ExperimentRow(
                experiment_run_id=experiment_run_id, cell_run_id=cell_run_id, table_name=table, row=params_dict(r)
            )
            for r in rows
        ]
        with self._session() as session:
            session.add_all(objs)
        return len(objs)

    def experiment_rows(
        self, experiment_run_id: int, table: str | None = None, completed_only: bool = True
    ) -> list[ExperimentRowRecord]:
        """An experiment's rows in write order, by default only those of cells that completed."""
        query = select(ExperimentRow).where(ExperimentRow.experiment_run_id == experiment_run_id)
        if table is not None:
            query = query.where(ExperimentRow.table_name == table)
        if completed_only:
            query = query.join(Run, Run.id == ExperimentRow.cell_run_id).where(Run.status == COMPLETED)
        return self._all(ExperimentRowRecord, query.order_by(ExperimentRow.id))

    def delete_cell_rows(self, cell_run_id: int) -> int:
        """Remove the rows a cell wrote (it failed or is being re-run); return how many."""
        with self._session() as session:
            done = session.execute(delete(ExperimentRow).where(ExperimentRow.cell_run_id == cell_run_id))
            return int(cast(CursorResult[Any], done).rowcount or 0)

    # experiment drivers: one lease per run, cells ended only while still running ----------------------------------

    def _updated(self, statement: Any) -> bool:
        """Run one guarded UPDATE in its own transaction; whether it changed a row."""
        with self._session() as session:
            return bool(cast(CursorResult[Any], session.execute(statement)).rowcount)

    def renew_lease(self, run_id: int, driver: str, until: datetime) -> bool:
        """Extend `driver`'s lease on a run (a new run takes its first one); False when another driver holds it."""
        held = or_(Run.driver == driver, Run.driver.is_(None))
        return self._updated(update(Run).where(Run.id == run_id, held).values(driver=driver, lease_until=until))

    def claim_run(self, run_id: int, driver: str, until: datetime, legacy_grace: timedelta) -> bool:
        """Reopen a run under `driver`, atomically, unless another driver's lease is live (a run of an earlier
        version, running without a lease, counts as live for `legacy_grace` after it started)."""
        now = utcnow()
        legacy = and_(Run.lease_until.is_(None), Run.created_at < now - legacy_grace)
        free = or_(Run.status != RUNNING, Run.driver == driver, Run.lease_until < now, legacy)
        values = {"status": RUNNING, "error": None, "finished_at": None, "driver": driver, "lease_until": until}
        return self._updated(update(Run).where(Run.id == run_id, free).values(**values))

    def lease_until(self, run_id: int) -> datetime | None:
        """Until when a run's driver holds it (None: no lease recorded)."""
        with self._session() as session:
            return self._run(session, run_id).lease_until

    def finish_held_run(self, run_id: int, driver: str, status: str, error: str | None = None) -> bool:
        """finish_run, only while `driver` still holds the run (a driver that was replaced leaves it alone)."""
        _check(status, RUN_FINISHED_STATUSES, "run status")
        values = {"status": status, "error": error, "finished_at": utcnow(), "lease_until": None}
        return self._updated(update(Run).where(Run.id == run_id, Run.driver == driver).values(**values))

    def end_cell(self, cell_run_id: int, status: str, error: str | None = None) -> bool:
        """Finish a cell run that is still running (failed or interrupted), dropping any rows it wrote."""
        _check(status, RUN_FINISHED_STATUSES, "run status")
        with self._session() as session:
            done = session.execute(
                update(Run)
                .where(Run.id == cell_run_id, Run.status == RUNNING)
                .values(status=status, error=error, finished_at=utcnow())
            )
            if not cast(CursorResult[Any], done).rowcount:
                return False
            session.execute(delete(ExperimentRow).where(ExperimentRow.cell_run_id == cell_run_id))
            return True

    def complete_cell(
        self, experiment_run_id: int, cell_run_id: int, tables: Mapping[str, list[dict[str, Any]]], driver: str
    ) -> int | None:
        """Mark a cell completed and store its rows in one transaction, only while the cell is still running and
        `driver` still holds its experiment run; the number of rows, or None when refused (nothing stored)."""
        parent = aliased(Run)
        held = select(parent.id).where(parent.id == experiment_run_id, parent.driver == driver).exists()
        with self._session() as session:
            done = session.execute(
                update(Run)
                .where(Run.id == cell_run_id, Run.status == RUNNING, held)
                .values(status=COMPLETED, error=None, finished_at=utcnow())
            )
            if not cast(CursorResult[Any], done).rowcount:
                return None
            rows = [
                ExperimentRow(
                    experiment_run_id=experiment_run_id, cell_run_id=cell_run_id, table_name=t, row=params_dict(r)
                )
                for t, table_rows in tables.items()
                for r in table_rows
            ]
            session.add_all(rows)
            return len(rows)

    def counts(self) -> dict[str, int]:
        """Row counts per table."""
        with self._session() as session:
            return {
                m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
                for m in (Run, Checkpoint, Metric, Graph, Analysis, Comparison)
            }


def open_tracking(url: str, auto_upgrade: bool | None = None) -> Tracking:
    """Open a tracking DB with a current schema. SQLite upgrades itself (auto_upgrade=None); PostgreSQL behind
    raises TrackingError asking for `graphstore db upgrade`; a newer schema raises TrackingError."""
    tracking = Tracking(url)
    try:
        db.ensure_schema(tracking.engine, url, db.is_sqlite(url) if auto_upgrade is None else auto_upgrade)
    except BaseException:
        tracking.close()
        raise
    return tracking
