"""Run leases: the driver holding a run and until when, so a second experiment driver cannot resume it meanwhile.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 13:30:00

Frozen: this file must not import from graphstore.tracking.models (later model changes get new revisions).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """runs.driver and runs.lease_until, both nullable (runs of earlier versions hold no lease)."""
    op.add_column("runs", sa.Column("driver", sa.String(64), nullable=True))
    op.add_column("runs", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the lease columns (SQLite needs a batch copy of the table to drop columns)."""
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("driver")
