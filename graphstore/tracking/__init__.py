"""Tracking database: runs, checkpoints, metrics, graphs, analyses and comparisons (SQLAlchemy + Alembic).

The names below load on first use (PEP 562), so importing a light submodule such as graphstore.tracking.records or
graphstore.tracking.listing does not import SQLAlchemy.

Example:
    from graphstore.tracking import open_tracking
    with open_tracking("sqlite:///runs.db") as tracking:
        run_id = tracking.start_run("train", "lenet-mnist", params={"lr": 0.1}, seed=0)
        tracking.finish_run(run_id, "completed")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# each public name and the submodule that defines it
_HOMES = {
    "AnalysisRecord": "records",
    "CheckpointRecord": "records",
    "ComparisonRecord": "records",
    "GraphRecord": "records",
    "MetricRecord": "records",
    "RunRecord": "records",
    "Tracking": "repo",
    "current_revision": "db",
    "downgrade": "db",
    "head_revision": "db",
    "open_tracking": "repo",
    "schema_status": "db",
    "upgrade": "db",
}

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


def __getattr__(name: str) -> Any:
    """Load a public name from its submodule the first time it is asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
