"""The runs listing read straight from a SQLite tracking file with the stdlib `sqlite3`, without SQLAlchemy.

`graphstore runs list` only reads, so for a SQLite file already at the shipped schema revision it opens the file
read-only (`mode=ro`) and runs the same SELECTs the repository's `list_runs` / `final_metrics` build, converting
values exactly as the ORM types do (UTCDateTime, JSON, NULL metric -> NaN). Anything else - PostgreSQL, a URL form
this module does not parse, a missing file, another revision, any other sqlite3 error - answers None and the caller
takes the ORM path, which creates, migrates or refuses the database as before. A file still locked after the busy
timeout, or one that is no database, is refused here in the ORM path's words (so a lock is not waited for twice).
tests/test_runs_read_path.py holds both paths to the same rows.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from graphstore.safe_fs import check_data_file
from graphstore.tracking.failures import NOT_A_DATABASE_HINT, SQLITE_HINT, cannot_use, is_not_a_database
from graphstore.tracking.records import RunRecord

SHIPPED_HEAD = "0003"  # graphstore.tracking.db.SHIPPED_HEAD; tests/test_runs_read_path.py checks they agree
PREFIX = "sqlite:///"
BUSY_TIMEOUT_S = 30.0  # as the ORM path's engine (graphstore.tracking.db.make_engine)
RUN_FIELDS = (
    "id",
    "kind",
    "name",
    "status",
    "params",
    "parent_run_id",
    "seed",
    "device",
    "version",
    "git_commit",
    "created_at",
    "finished_at",
    "error",
)
# SQLAlchemy's SQLite DATETIME storage format: what a bound datetime is compared as (text, in UTC)
STORAGE_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
FinalMetrics = dict[int, dict[str, float]]


@dataclass(frozen=True)
class RunFilter:
    """The filters of a runs listing (the keyword arguments of Tracking.list_runs)."""

    kind: str | None = None
    status: str | None = None
    limit: int | None = 50
    name: str | None = None
    parent_run_id: int | None = None
    since: datetime | None = None


def sqlite_path(url: str) -> Path | None:
    """The file of a plain `sqlite:///path` URL, or None for any form whose parsing is left to SQLAlchemy."""
    if not url.startswith(PREFIX):
        return None
    rest = url[len(PREFIX) :]
    if not rest or rest == ":memory:" or rest.startswith("file:") or any(c in rest for c in "?#%"):
        return None
    path = Path(rest)
    return path if str(path) == rest else None  # a form Path would rewrite ('a/', 'a//b', './a'): SQLAlchemy reads it


def list_runs_sqlite(url: str, runs: RunFilter) -> tuple[list[RunRecord], FinalMetrics] | None:
    """(runs newest first, their final metrics) read through sqlite3, or None when the ORM path must answer."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    check_data_file(path, "SQLite tracking file")
    try:
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        connection.execute("PRAGMA trusted_schema=OFF")  # the file's schema may name no function with side effects
        if _heads(connection) != (SHIPPED_HEAD,):
            return None
        records = [_run_record(row) for row in connection.execute(*_runs_query(runs))]
        return records, _final_metrics(connection, [r.id for r in records])
    except sqlite3.Error as exc:
        raise_refusal(url, exc)
        return None
    finally:
        connection.close()


def raise_refusal(url: str, exc: sqlite3.Error) -> None:
    """Raise the ORM path's TrackingError for a file still locked after the busy timeout or not a database at all;
    return for any other error (the ORM path then answers)."""
    reason = " ".join(str(exc).split())
    if isinstance(exc, sqlite3.OperationalError) and "database is locked" in reason:
        raise cannot_use(url, reason, SQLITE_HINT) from None
    if is_not_a_database(reason):
        raise cannot_use(url, reason, NOT_A_DATABASE_HINT) from None


def _heads(connection: sqlite3.Connection) -> tuple[str, ...]:
    """The revisions in alembic_version (empty when the table is absent)."""
    found = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
    if found.fetchone() is None:
        return ()
    return tuple(sorted(row[0] for row in connection.execute("SELECT version_num FROM alembic_version")))


def _runs_query(runs: RunFilter) -> tuple[str, list[Any]]:
    """The SELECT of Tracking.list_runs, as SQL text and its parameters."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("kind", runs.kind), ("status", runs.status), ("parent_run_id", runs.parent_run_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if runs.name is not None:
        where.append("name LIKE ? ESCAPE '\\'")
        args.append(runs.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%"))
    if runs.since is not None:
        where.append("created_at >= ?")
        args.append(_stored(runs.since))
    sql = f"SELECT {', '.join(RUN_FIELDS)} FROM runs{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC"
    if runs.limit is not None:
        sql += " LIMIT ?"
        args.append(runs.limit)
    return sql, args


def _final_metrics(connection: sqlite3.Connection, ids: Sequence[int]) -> FinalMetrics:
    """Each run's last value of every metric (by step, then id), keyed `split/name`; NULL reads as NaN."""
    if not ids:
        return {}
    out: FinalMetrics = {i: {} for i in ids}
    marks = ", ".join("?" * len(ids))
    sql = f"SELECT run_id, name, value, split FROM metrics WHERE run_id IN ({marks}) ORDER BY step, id"
    for run_id, name, value, split in connection.execute(sql, list(ids)):
        out[run_id][f"{split}/{name}" if split else name] = math.nan if value is None else value
    return out


def _run_record(row: tuple[Any, ...]) -> RunRecord:
    """A RunRecord from a raw runs row, typed as the ORM's column types return it."""
    values = dict(zip(RUN_FIELDS, row, strict=True))
    values["params"] = _json(values["params"])
    values["created_at"], values["finished_at"] = _utc(values["created_at"]), _utc(values["finished_at"])
    return RunRecord(**values)


def _stored(moment: datetime) -> str:
    """An aware datetime as SQLAlchemy binds it on SQLite (UTC, then its storage format)."""
    t = moment.astimezone(UTC)
    return STORAGE_FORMAT % (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond)


def _json(value: Any) -> Any:
    """The JSON column as SQLAlchemy's SQLite JSON type reads it (numbers and NULL pass through)."""
    return value if value is None or isinstance(value, int | float) else json.loads(value)


def _utc(value: str | None) -> datetime | None:
    """A stored DATETIME as UTCDateTime reads it: parsed ISO text, UTC attached when naive."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
