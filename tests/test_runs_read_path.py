"""`runs list`'s two read paths never disagree: the stdlib sqlite3 listing (graphstore.tracking.listing) and the
repository's ORM queries, on one SQLite tracking DB holding runs of every kind, parents, per-epoch metrics (NaN
included), params and both stored time formats; row for row under many filters, and byte for byte through the CLI.
The fast path only ever reads a current file; everything else goes to the ORM path."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from graphstore.errors import TrackingError
from graphstore.tracking import db, listing, open_tracking
from graphstore.tracking.listing import SHIPPED_HEAD, RunFilter, list_runs_sqlite, sqlite_path

CLI = (sys.executable, "-m", "graphstore.cli.main")
KINDS = (
    "train",
    "prune-imp",
    "prune-topology",
    "prune-structured",
    "prune-sculpt",
    "prune-layers",
    "ingest",
    "analysis-modules",
    "analysis-noise",
    "analysis-topology",
    "experiment",
    "experiment-cell",
)
NAMES = ("mlp_digits", "MLP-digits", "cnn%50", "a*b", "back\\slash", "imp-r1", "imp-r2", "x")
BASE = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def _fill(url: str) -> list[int]:
    """Runs of every kind and status, children of earlier runs, metrics over steps and splits; return the ids."""
    ids: list[int] = []
    with open_tracking(url) as tracking:
        for i in range(40):
            kind, name = KINDS[i % len(KINDS)], f"{NAMES[i % len(NAMES)]}-{i}"
            parent = ids[(i * 7) % len(ids)] if ids and i % 3 else None
            params = {"lr": 0.01 * i, "nested": {"k": [i, None, "s"]}, "flag": i % 2 == 0}
            run = tracking.start_run(kind, name, params, parent_run_id=parent, seed=i, device="cpu")
            ids.append(run)
            steps = range(1 + i % 4)
            for step in reversed(steps) if i % 2 else steps:  # logged out of step order too: the last step wins
                values = {"accuracy": 0.5 + 0.01 * step + 0.001 * i, "loss": float("nan") if i % 5 == 0 else 1.0}
                tracking.log_metrics(run, step, values, split=("test", "val", None)[i % 3])
                tracking.log_metrics(run, step, {"sparsity": 0.2 * step})
            if i % 4:
                tracking.finish_run(run, ("completed", "failed", "interrupted")[i % 3], "boom" if i % 3 else None)
    _spread_times(url, ids)
    return ids


def _spread_times(url: str, ids: list[int]) -> None:
    """Creation times over three weeks, some in SQLite's CURRENT_TIMESTAMP form (no microseconds)."""
    with sqlite3.connect(str(sqlite_path(url))) as connection:
        for n, run in enumerate(ids):
            moment = (BASE + timedelta(hours=13 * n, microseconds=n * 1234)).replace(tzinfo=None)
            text = moment.strftime("%Y-%m-%d %H:%M:%S" if n % 4 == 0 else "%Y-%m-%d %H:%M:%S.%f")
            connection.execute("UPDATE runs SET created_at = ? WHERE id = ?", (text, run))


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[int]]:
    """A filled SQLite tracking DB at the shipped revision: its URL and run ids."""
    url = f"sqlite:///{tmp_path_factory.mktemp('read-path') / 'tracking.db'}"
    return url, _fill(url)


def _orm(url: str, runs: RunFilter) -> tuple[list, dict]:
    with open_tracking(url) as tracking:
        records = tracking.list_runs(
            runs.kind, runs.status, runs.limit, name=runs.name, parent_run_id=runs.parent_run_id, since=runs.since
        )
        return records, tracking.final_metrics(r.id for r in records)


def test_the_fast_path_knows_the_shipped_revision() -> None:
    assert SHIPPED_HEAD == db.SHIPPED_HEAD == db.head_revision()


def test_every_run_and_metric_reads_the_same_on_both_paths(tracked) -> None:
    url, ids = tracked
    fast = list_runs_sqlite(url, RunFilter(limit=None))
    assert fast is not None and len(fast[0]) == len(ids)
    assert repr(fast) == repr(_orm(url, RunFilter(limit=None)))  # repr: types too (int vs float), NaN == NaN
    assert any(v != v for metrics in fast[1].values() for v in metrics.values())  # NaN came through


times = st.datetimes(
    min_value=datetime(2026, 10, 25),
    max_value=datetime(2026, 12, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]),
)
filters = st.builds(
    RunFilter,
    kind=st.none() | st.sampled_from(KINDS) | st.text(max_size=4),
    status=st.none() | st.sampled_from(("running", "completed", "failed", "interrupted")),
    limit=st.none() | st.integers(1, 60),
    name=st.none()
    | st.sampled_from(("*", "mlp*", "MLP_*", "*%*", "a*b*", "*\\*", "x-3*", "*-1"))
    | st.text(max_size=5),
    parent_run_id=st.none() | st.integers(-1, 45),
    since=st.none() | times,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=filters)
def test_filters_select_the_same_rows_on_both_paths(tracked, runs: RunFilter) -> None:
    url, _ = tracked
    fast = list_runs_sqlite(url, runs)
    assert fast is not None
    assert repr(fast) == repr(_orm(url, runs))


@given(rest=st.text(min_size=1, max_size=30))
@example(rest="0/")  # found by a fresh-clone run: Path drops the trailing slash, SQLAlchemy keeps it
@example(rest="a//b")
@example(rest="./a")
def test_the_fast_path_parses_a_url_as_sqlalchemy_does(rest: str) -> None:
    path = sqlite_path("sqlite:///" + rest)
    if path is not None:
        assert str(path) == db.parse_url("sqlite:///" + rest).database


def _runs_list(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update(GRAPHSTORE_DATA_DIR=str(tmp / "data"), GRAPHSTORE_DATABASE_URL=url, COLUMNS="200")
    return subprocess.run([*CLI, "runs", "list", *args], capture_output=True, text=True, env=env, timeout=120)


CLI_CASES = [
    (),
    ("--limit", "100"),
    ("--kind", "train", "--metric", "accuracy"),
    ("--name", "mlp*", "--metric", "test/loss", "--metric", "sparsity"),
    ("--parent", "1", "--status", "completed"),
    ("--since", "2026-11-10T06:00", "--metric", "loss"),
    ("--since", "2026-11-10 07:00:00+02:00", "--limit", "3"),
]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_cli_output_is_byte_equal_on_both_paths(tracked, tmp_path: Path, fmt: str) -> None:
    url, _ = tracked
    orm_url = url[:-3] + "%2Edb"  # the same file; a form the fast path leaves to SQLAlchemy
    assert list_runs_sqlite(orm_url, RunFilter()) is None and list_runs_sqlite(url, RunFilter()) is not None
    for args in CLI_CASES:
        fast, orm = _runs_list(url, tmp_path, *args, "--format", fmt), _runs_list(orm_url, tmp_path, *args, "-f", fmt)
        assert fast.returncode == orm.returncode == 0, fast.stderr + orm.stderr
        assert fast.stdout == orm.stdout and fast.stdout.strip(), args


def test_runs_list_on_a_current_file_never_imports_sqlalchemy(tracked, tmp_path: Path) -> None:
    url, _ = tracked
    probe = (
        "import sys\nfrom graphstore.cli.main import main\nsys.argv = ['graphstore', 'runs', 'list']\n"
        "try:\n    main()\nfinally:\n    print('SQLALCHEMY', 'sqlalchemy' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path / "d"), "GRAPHSTORE_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "SQLALCHEMY False" in done.stderr, done.stderr
    assert "mlp_digits-0" in done.stdout


def test_other_databases_go_to_the_orm_path(tracked, tmp_path: Path) -> None:
    url, _ = tracked
    assert list_runs_sqlite("postgresql+psycopg://u:p@127.0.0.1:1/db", RunFilter()) is None
    assert list_runs_sqlite("sqlite:///:memory:", RunFilter()) is None
    absent = tmp_path / "new" / "tracking.db"
    assert list_runs_sqlite(f"sqlite:///{absent}", RunFilter()) is None and not absent.exists()
    older = f"sqlite:///{tmp_path / 'older.db'}"
    db.upgrade(older, "0002")
    assert list_runs_sqlite(older, RunFilter()) is None
    done = _runs_list(older, tmp_path, "--format", "json")  # the ORM path migrates the old file, as before
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    assert db.current_revision(older) == SHIPPED_HEAD


def test_the_fast_path_never_writes(tracked, tmp_path: Path) -> None:
    url, _ = tracked
    path = sqlite_path(url)
    assert path is not None
    before = path.stat().st_mtime_ns, path.read_bytes()
    assert list_runs_sqlite(url, RunFilter(limit=None)) is not None
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    assert not Path(f"{path}-journal").exists() and not Path(f"{path}-wal").exists()


def test_a_config_file_others_can_write_is_still_refused(tracked, tmp_path: Path) -> None:
    url, _ = tracked
    config = tmp_path / "graphstore.toml"
    config.write_text(f'database_url = "{url}"\n')
    config.chmod(0o666)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env["GRAPHSTORE_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [*CLI, "--config", str(config), "runs", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Error:" in done.stderr and "Hint:" in done.stderr and "Traceback" not in done.stderr
    assert "mlp_digits" not in done.stdout


def test_a_file_that_is_no_database_is_refused_with_a_hint(tmp_path: Path) -> None:
    """Found here: a garbage tracking.db ended `runs list` (and every tracked command) in "Unexpected error"."""
    path = tmp_path / "tracking.db"
    garbage = bytes(range(256)) * 20
    path.write_bytes(garbage)
    url = f"sqlite:///{path}"
    for done in (_runs_list(url, tmp_path), _runs_list(url[:-3] + "%2Edb", tmp_path)):  # the fast and the ORM path
        assert done.returncode == 2, done.stderr
        assert "Error: Cannot use the tracking database" in done.stderr and "file is not a database" in done.stderr
        assert "Hint: The file is not a SQLite database" in done.stderr and "Traceback" not in done.stderr
    assert path.read_bytes() == garbage


def test_a_locked_file_is_refused_once_in_the_orm_paths_words(tracked, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock still held after the busy timeout is the ORM path's error, not a second wait on the ORM path."""
    url, _ = tracked
    monkeypatch.setattr(listing, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(str(sqlite_path(url)))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TrackingError) as info:
            list_runs_sqlite(url, RunFilter())
    finally:
        holder.rollback()
        holder.close()
    expected = db.unreachable(url, sqlite3.OperationalError("database is locked"))
    assert (str(info.value), info.value.hint) == (str(expected), expected.hint)
    assert list_runs_sqlite(url, RunFilter()) is not None


def _refused(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Error: Refusing the SQLite tracking file" in done.stderr and "Hint:" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and all(w in done.stderr for w in words), done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another user")
def test_a_tracking_file_another_user_owns_or_can_write_is_refused_on_both_paths(tracked, tmp_path: Path) -> None:
    """Another user's (or a world-writable) tracking file could hold anything they like: both read paths refuse it,
    and so does a tracked write (the ORM engine), before anything is read or written."""
    url, _ = tracked
    path = sqlite_path(url)
    assert path is not None
    before = path.read_bytes()
    orm_url = url[:-3] + "%2Edb"
    mode = path.stat().st_mode & 0o777
    try:
        os.chown(path, 65534, 65534)
        for done in (_runs_list(url, tmp_path), _runs_list(orm_url, tmp_path)):
            _refused(done, "belongs to nobody")
        os.chown(path, 0, 0)
        path.chmod(0o666)
        for done in (_runs_list(url, tmp_path), _runs_list(orm_url, tmp_path)):
            _refused(done, "writable by other users")
    finally:  # the module's other tests read this file
        os.chown(path, 0, 0)
        path.chmod(mode)
    assert path.read_bytes() == before


def test_a_tracking_file_in_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    """SQLite creates its journal and lock files beside the database by name: a shared folder (sticky or not) would
    let another user plant them, so the folder is refused too, before the file is created."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    url = f"sqlite:///{shared / 'tracking.db'}"
    _refused(_runs_list(url, tmp_path), "other users can write the folder")
    assert not (shared / "tracking.db").exists()


def test_a_symlinked_tracking_file_is_refused(tracked, tmp_path: Path) -> None:
    url, _ = tracked
    path = sqlite_path(url)
    assert path is not None
    (tmp_path / "own").mkdir(mode=0o700)
    link = tmp_path / "own" / "tracking.db"
    link.symlink_to(path)
    for done in (_runs_list(f"sqlite:///{link}", tmp_path), _runs_list(f"sqlite:///{link}"[:-3] + "%2Edb", tmp_path)):
        _refused(done, "is a symbolic link")
