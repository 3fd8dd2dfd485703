"""The runs job: tracked runs as a table (filters, final metrics as columns) for the terminal, CSV or JSON."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from graphstore.errors import InvalidParams
from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.tracking.listing import FinalMetrics, RunFilter, list_runs_sqlite
from graphstore.tracking.records import RunRecord

DEFAULT_METRICS = ("test/accuracy", "val/accuracy", "sparsity")
RUN_COLUMNS = ("id", "kind", "name", "status", "parent", "created", "finished")
_AGO = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`2h`, `3d`, `1w` (that long ago) or an ISO date/time (UTC unless it says otherwise), in UTC."""
    now = now or datetime.now(UTC)
    ago = _AGO.match(text.strip())
    if ago:
        moment = now - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InvalidParams(
                f"--since {text!r} is neither a time ago nor a date.",
                "Use e.g. --since 2h, --since 3d, --since 1w or --since 2026-12-01 (or 2026-12-01T14:30).",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class RunsListParams:
    """Which runs to list, newest first, and which final metrics to show beside them."""

    kind: str | None = field(default=None, metadata={"help": "Only runs of this kind (e.g. train, prune-imp)."})
    name: str | None = field(default=None, metadata={"help": "Only runs whose name matches (`*` matches any text)."})
    parent: int | None = field(default=None, metadata={"help": "Only the child runs of this run id."})
    since: str | None = field(
        default=None, metadata={"help": "Only runs created since: 2h, 3d, 1w, or a date such as 2026-12-01."}
    )
    status: str | None = field(
        default=None,
        metadata={
            "help": "Only runs with this status.",
            "choices": ("running", "completed", "failed", "interrupted"),
        },
    )
    limit: int = field(default=50, metadata={"help": "How many runs, newest first."})
    metric: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "Final metric to show as a column, `split/name` or `name` (repeatable; default: "
            f"{', '.join(DEFAULT_METRICS)} where runs have them).",
            "repeat": True,
        },
    )

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {self.limit}")


@dataclass
class RunsTable:
    """The listed runs as columns and rows (values typed: ints, floats, text, None)."""

    columns: list[str]
    rows: list[list[Any]]


def metric_columns(final: dict[int, dict[str, float]], wanted: tuple[str, ...]) -> list[str]:
    """The metric columns: the ones asked for (each `name` matching every split), else the defaults present."""
    present = sorted({name for values in final.values() for name in values})
    if not wanted:
        return [m for m in DEFAULT_METRICS if m in present]
    chosen: list[str] = []
    for want in wanted:
        matches = [p for p in present if p == want or p.rpartition("/")[2] == want]
        chosen += [m for m in (matches or [want]) if m not in chosen]
    return chosen


def read_runs(context: JobContext, runs: RunFilter) -> tuple[list[RunRecord], FinalMetrics]:
    """The matching runs and their final metrics: read-only through sqlite3 for a current SQLite file (no
    SQLAlchemy import: `runs list` starts fast), else through the repository (PostgreSQL, a new or older file)."""
    fast = list_runs_sqlite(context.settings.tracking_url, runs)
    if fast is not None:
        return fast
    with context.open_tracking() as tracking:
        records = tracking.list_runs(
            runs.kind,
            runs.status,
            runs.limit,
            name=runs.name,
            parent_run_id=runs.parent_run_id,
            since=runs.since,
        )
        return records, tracking.final_metrics(r.id for r in records)


def run_list(context: JobContext, params: RunsListParams) -> RunsTable:
    """The runs that match, newest first, with their final metrics."""
    since = parse_since(params.since) if params.since else None
    runs, final = read_runs(
        context, RunFilter(params.kind, params.status, params.limit, params.name, params.parent, since)
    )
    metrics = metric_columns(final, params.metric)
    rows = [
        [
            run.id,
            run.kind,
            run.name,
            run.status,
            run.parent_run_id,
            f"{run.created_at:%Y-%m-%d %H:%M}",
            f"{run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else None,
            *(final[run.id].get(m) for m in metrics),
        ]
        for run in runs
    ]
    return RunsTable([*RUN_COLUMNS, *metrics], rows)


RUNS_LIST = JobSpec(
    "runs-list",
    "List runs, newest first, with their final metrics.",
    RunsListParams,
    run_list,
    "graphstore runs list --kind prune-imp --since 1d --metric test/accuracy --format csv",
)
JOBS.register(RUNS_LIST)
