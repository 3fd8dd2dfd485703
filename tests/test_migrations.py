"""Alembic migrations, schema checks and `graphstore db` on SQLite and PostgreSQL (same tests, both backends).

PostgreSQL runs when GRAPHSTORE_TEST_DATABASE_URL is set (each test in a fresh database), is skipped
otherwise, and fails when GRAPHSTORE_REQUIRE_SERVERS=1.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from graphstore.cli import db_cmd
from graphstore.errors import ConfigError, TrackingError
from graphstore.tracking import (
    current_revision,
    downgrade,
    head_revision,
    open_tracking,
    schema_status,
    upgrade,
)
from graphstore.tracking.db import make_engine
from graphstore.tracking.models import Base
from graphstore.tracking.testing import backend_url

TABLES = {"runs", "checkpoints", "metrics", "graphs", "analyses", "comparisons", "experiment_rows"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty tracking DB on each backend."""
    with backend_url(request.param, tmp_path) as url:
        yield url


def _tables(url: str) -> set[str]:
    """Table names in the database."""
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _execute(url: str, sql: str) -> None:
    """Run one statement in its own transaction."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def test_upgrade_from_empty(db_url: str) -> None:
    assert current_revision(db_url) is None
    before, after = upgrade(db_url)
    assert (before, after) == (None, head_revision())
    assert current_revision(db_url) == head_revision()
    assert _tables(db_url) >= TABLES
    assert upgrade(db_url) == (head_revision(), head_revision())


def test_models_match_migrations(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_status_before_and_after_upgrade(db_url: str) -> None:
    before = schema_status(db_url)
    assert (before.current, before.state, before.up_to_date) == (None, "behind", False)
    upgrade(db_url)
    after = schema_status(db_url)
    assert (after.current, after.head, after.state) == (head_revision(), head_revision(), "current")
    assert after.counts == {"runs": 0, "graphs": 0, "analyses": 0}


def test_status_does_not_create_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "tracking.db"
    status = schema_status(f"sqlite:///{path}")
    assert not status.exists and status.state == "behind"
    assert not path.exists()


def test_first_use(db_url: str) -> None:
    """SQLite upgrades itself in open_tracking; PostgreSQL behind asks for `graphstore db upgrade`."""
    if db_url.startswith("sqlite"):
        open_tracking(db_url).close()
        assert current_revision(db_url) == head_revision()
        return
    with pytest.raises(TrackingError) as info:
        open_tracking(db_url)
    assert "graphstore db upgrade" in str(info.value)
    assert current_revision(db_url) is None


def test_unknown_revision_is_newer(db_url: str) -> None:
    upgrade(db_url)
    _execute(db_url, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    for action in (open_tracking, upgrade):
        with pytest.raises(TrackingError, match="newer") as info:
            action(db_url)
        assert "ffffffffffff" in str(info.value)
        assert "Upgrade the graphstore package" in str(info.value)
    assert schema_status(db_url).state == "newer"


def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    upgrade(db_url)
    with open_tracking(db_url) as tracking:
        tracking.start_run("train", "before-downgrade", params={"lr": 0.1})
    assert downgrade(db_url, "base") == (head_revision(), None)
    assert current_revision(db_url) is None
    assert not TABLES & _tables(db_url)
    assert upgrade(db_url) == (None, head_revision())
    with open_tracking(db_url) as tracking:
        assert tracking.list_runs() == []


BAD_URLS = ["not a url", "", "foo://bar/baz", "mysql://user@host/db", "postgresql+nodriver://h/d"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_url_is_config_error(url: str) -> None:
    for action in (open_tracking, upgrade, current_revision):
        with pytest.raises(ConfigError) as info:
            action(url)
        assert "sqlite:///" in str(info.value)
        assert "postgresql+psycopg://user:pass@host:5432/db" in str(info.value)


def _free_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_names_the_fix() -> None:
    url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{_free_port()}/tracking"
    for action in (open_tracking, upgrade, schema_status):
        with pytest.raises(TrackingError) as info:
            action(url)
        message = str(info.value)
        assert "s3cret" not in message and "someone:****@127.0.0.1" in message
        assert "graphstore services start" in message and "docker compose" in message


@pytest.mark.postgres
def test_postgres_scheme_without_driver_means_psycopg(tmp_path: Path) -> None:
    with backend_url("postgresql", tmp_path) as url:
        plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
        assert upgrade(plain) == (None, head_revision())


def _cli() -> typer.Typer:
    """A root app with only the db group (the real root imports every command module)."""
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Test root."""

    db_cmd.register(root)
    return root


def test_cli_status_and_upgrade(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRAPHSTORE_DATABASE_URL", db_url)
    monkeypatch.setattr(db_cmd.console, "width", 200)
    runner, app = CliRunner(), _cli()
    result = runner.invoke(app, ["db", "status", "--check"])
    assert isinstance(result.exception, TrackingError), result.output
    assert "graphstore db upgrade" in str(result.exception) and "head revision" in result.output
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"-> {head_revision()}" in result.output
    result = runner.invoke(app, ["db", "status", "--check"])
    assert result.exit_code == 0, result.output
    assert head_revision() in result.output and "runs" in result.output and "yes" in result.output


def test_shipped_head_constant_is_alembics_head() -> None:
    """A current database is recognised without Alembic; the constant must follow every new migration."""
    from graphstore.tracking.db import SHIPPED_HEAD, head_revision

    assert head_revision() == SHIPPED_HEAD
