"""Tracking database: runs, checkpoints, metrics, graphs, analyses and comparisons (SQLAlchemy + Alembic).

Example:
    from graphstore.tracking import open_tracking
    with open_tracking("sqlite:///runs.db") as tracking:
        run_id = tracking.start_run("train", "lenet-mnist", params={"lr": 0.1}, seed=0)
        tracking.finish_run(run_id, "completed")
"""

from graphstore.tracking.db import current_revision, downgrade, head_revision, schema_status, upgrade
from graphstore.tracking.records import (
    AnalysisRecord,
    CheckpointRecord,
    ComparisonRecord,
    GraphRecord,
    MetricRecord,
    RunRecord,
)
from graphstore.tracking.repo import Tracking, open_tracking

__all__ = [
    "AnalysisRecord",
    "CheckpointRecord",
    "ComparisonRecord",
    "GraphRecord",
    "MetricRecord",
    "RunRecord",
    "Tracking",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_tracking",
    "schema_status",
    "upgrade",
]
