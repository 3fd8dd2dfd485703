"""SQLAlchemy 2 declarative models of the tracking database; the schema itself is created only by Alembic.

Portable between SQLite and PostgreSQL: JSON columns are `sqlalchemy.JSON`, times are timezone-aware and
stored in UTC (`UTCDateTime`), statuses are plain strings guarded by CHECK constraints. Constraint names
follow `NAMING_CONVENTION` so migrations (including SQLite batch migrations) can address them by name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES = ("running", "completed", "failed", "interrupted")
RUN_FINISHED_STATUSES = ("completed", "failed", "interrupted")
GRAPH_STATUSES = ("writing", "complete", "incomplete", "failed")
ANALYSIS_STATUSES = ("running", "complete", "failed")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    """A CHECK expression `column IN ('a', 'b')`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC out; SQLite keeps the UTC wall time, PostgreSQL a timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes (ambiguous), convert aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime (e.g. UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns naive; normalise PostgreSQL's session zone to UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Run(Base):
    """One training, pruning, ingest or analysis run and exactly the parameters it ran with."""

    __tablename__ = "runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="running")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    device: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    # the process driving the run (an experiment driver) and until when its heartbeat holds it (migration 0003)
    driver: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()


class Checkpoint(Base):
    """A saved model state of a run, at an epoch (and pruning round)."""

    __tablename__ = "checkpoints"
    __table_args__ = (
        UniqueConstraint("run_id", "epoch", "round"),
        # NULLs are distinct in UNIQUE constraints: a partial index covers round IS NULL (SQLite and PG).
        Index(
            "uq_checkpoints_run_id_epoch_noround",
            "run_id",
            "epoch",
            unique=True,
            sqlite_where="round IS NULL",
            postgresql_where="round IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    round: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    sparsity: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Metric(Base):
    """One scalar of a run at a step (epoch or round); NULL value means NaN (SQLite cannot store NaN)."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_run_id_name", "run_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Float)
    split: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class Graph(Base):
    """An extracted graph persisted in a graph store, and whether its write finished."""

    __tablename__ = "graphs"
    __table_args__ = (CheckConstraint(_in("status", GRAPH_STATUSES), name="status"),)

    graph_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoints.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    node_count: Mapped[int | None] = mapped_column(BigInteger)
    edge_count: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="writing")
    store_uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column()
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class Analysis(Base):
    """One analysis of a graph (communities, centrality, ...): its parameters and summary."""

    __tablename__ = "analyses"
    __table_args__ = (CheckConstraint(_in("status", ANALYSIS_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    graph_id: Mapped[str] = mapped_column(ForeignKey("graphs.graph_id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="complete")
    engine: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    seconds: Mapped[float | None] = mapped_column(Float)


class Comparison(Base):
    """A similarity / comparison of two graphs by a named method."""

    __tablename__ = "comparisons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    graph_a: Mapped[str] = mapped_column(ForeignKey("graphs.graph_id", ondelete="CASCADE"), index=True)
    graph_b: Mapped[str] = mapped_column(ForeignKey("graphs.graph_id", ondelete="CASCADE"), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class ExperimentRow(Base):
    """One result row of an experiment's named table, written by one cell (a child run of the experiment run)."""

    __tablename__ = "experiment_rows"
    __table_args__ = (Index("ix_experiment_rows_experiment_run_id_table_name", "experiment_run_id", "table_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    cell_run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    table_name: Mapped[str] = mapped_column(String(128))
    row: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
