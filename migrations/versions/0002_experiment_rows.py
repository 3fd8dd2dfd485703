"""Experiment result rows: one JSON row of a named table per cell of an experiment run.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 05:40:00

Frozen: this file must not import from graphstore.tracking.models (later model changes get new revisions).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """experiment_rows: rows of an experiment's tables, each written by a cell run (both are runs)."""
    op.create_table(
        "experiment_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_run_id", sa.Integer(), nullable=False),
        sa.Column("cell_run_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(128), nullable=False),
        sa.Column("row", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_run_id"],
            ["runs.id"],
            name=op.f("fk_experiment_rows_experiment_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cell_run_id"], ["runs.id"], name=op.f("fk_experiment_rows_cell_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_rows")),
    )
    op.create_index(
        op.f("ix_experiment_rows_experiment_run_id_table_name"), "experiment_rows", ["experiment_run_id", "table_name"]
    )
    op.create_index(op.f("ix_experiment_rows_cell_run_id"), "experiment_rows", ["cell_run_id"])


def downgrade() -> None:
    """Drop the experiment rows."""
    op.drop_index(op.f("ix_experiment_rows_cell_run_id"), table_name="experiment_rows")
    op.drop_index(op.f("ix_experiment_rows_experiment_run_id_table_name"), table_name="experiment_rows")
    op.drop_table("experiment_rows")
