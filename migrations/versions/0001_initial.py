"""Initial schema: runs, checkpoints, metrics, graphs, analyses, comparisons.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Frozen: this file must not import from graphstore.tracking.models (later model changes get new revisions).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _created_at() -> sa.Column:
    """The created_at column every table has (UTC, defaulted by the server too)."""
    return sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False)


def _create_runs() -> None:
    """runs: one row per training / pruning / ingest / analysis run."""
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("parent_run_id", sa.Integer(), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=True),
        _created_at(),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('running', 'completed', 'failed', 'interrupted')", name=op.f("ck_runs_status")),
        sa.ForeignKeyConstraint(
            ["parent_run_id"], ["runs.id"], name=op.f("fk_runs_parent_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_kind"), "runs", ["kind"])
    op.create_index(op.f("ix_runs_parent_run_id"), "runs", ["parent_run_id"])


def _create_checkpoints() -> None:
    """checkpoints: saved model states; one per (run, epoch, round), round NULL included."""
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sparsity", sa.Float(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_checkpoints_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("run_id", "epoch", "round", name=op.f("uq_checkpoints_run_id_epoch_round")),
    )
    op.create_index(op.f("ix_checkpoints_run_id"), "checkpoints", ["run_id"])
    op.create_index(
        op.f("uq_checkpoints_run_id_epoch_noround"),
        "checkpoints",
        ["run_id", "epoch"],
        unique=True,
        sqlite_where=sa.text("round IS NULL"),
        postgresql_where=sa.text("round IS NULL"),
    )


def _create_metrics() -> None:
    """metrics: scalars per run and step; NULL value stands for NaN."""
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("split", sa.String(32), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_metrics_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
    )
    op.create_index(op.f("ix_metrics_run_id_name"), "metrics", ["run_id", "name"])


def _create_graphs() -> None:
    """graphs: extracted graphs in a graph store and the state of their write."""
    op.create_table(
        "graphs",
        sa.Column("graph_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("checkpoint_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("node_count", sa.BigInteger(), nullable=True),
        sa.Column("edge_count", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("store_uri", sa.Text(), nullable=False),
        _created_at(),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('writing', 'complete', 'incomplete', 'failed')", name=op.f("ck_graphs_status")),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name=op.f("fk_graphs_checkpoint_id_checkpoints"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_graphs_run_id_runs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("graph_id", name=op.f("pk_graphs")),
    )
    op.create_index(op.f("ix_graphs_kind"), "graphs", ["kind"])
    op.create_index(op.f("ix_graphs_run_id"), "graphs", ["run_id"])


def _create_analyses() -> None:
    """analyses: one analysis of one graph, its parameters and summary."""
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        _created_at(),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.CheckConstraint("status IN ('running', 'complete', 'failed')", name=op.f("ck_analyses_status")),
        sa.ForeignKeyConstraint(
            ["graph_id"], ["graphs.graph_id"], name=op.f("fk_analyses_graph_id_graphs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    op.create_index(op.f("ix_analyses_graph_id"), "analyses", ["graph_id"])


def _create_comparisons() -> None:
    """comparisons: a named comparison of two graphs and its result."""
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("graph_a", sa.String(255), nullable=False),
        sa.Column("graph_b", sa.String(255), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["graph_a"], ["graphs.graph_id"], name=op.f("fk_comparisons_graph_a_graphs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["graph_b"], ["graphs.graph_id"], name=op.f("fk_comparisons_graph_b_graphs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparisons")),
    )
    op.create_index(op.f("ix_comparisons_graph_a"), "comparisons", ["graph_a"])
    op.create_index(op.f("ix_comparisons_graph_b"), "comparisons", ["graph_b"])


def upgrade() -> None:
    """Create every table of the tracking DB."""
    _create_runs()
    _create_checkpoints()
    _create_metrics()
    _create_graphs()
    _create_analyses()
    _create_comparisons()


def downgrade() -> None:
    """Drop every table (children first)."""
    for table in ("comparisons", "analyses", "graphs", "metrics", "checkpoints", "runs"):
        op.drop_table(table)
