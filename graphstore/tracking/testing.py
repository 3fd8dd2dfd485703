"""Test helpers: one tracking URL per backend, each PostgreSQL test in a throwaway database.

PostgreSQL comes from $GRAPHSTORE_TEST_DATABASE_URL (a URL whose role may CREATE DATABASE); without it the
test is skipped, or fails when $GRAPHSTORE_REQUIRE_SERVERS=1 (CI must not skip silently).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from graphstore.tracking.db import parse_url

ENV_URL = "GRAPHSTORE_TEST_DATABASE_URL"
ENV_REQUIRE = "GRAPHSTORE_REQUIRE_SERVERS"
BACKENDS = ("sqlite", "postgresql")


def postgres_test_url() -> str:
    """The PostgreSQL URL for tests; pytest.skip without one, pytest.fail if servers are required."""
    url = os.environ.get(ENV_URL, "")
    if url:
        return url
    message = f"{ENV_URL} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres)"
    if os.environ.get(ENV_REQUIRE) == "1":
        pytest.fail(f"{ENV_REQUIRE}=1 but {message}")
    pytest.skip(message)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def temporary_postgres_database(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE test_<random> through admin_url, yield its URL, DROP it (WITH FORCE) afterwards."""
    admin = parse_url(admin_url)
    name = f"test_{secrets.token_hex(6)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty tracking DB URL: a SQLite file under tmp_path, or a throwaway PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracking.db'}"
        return
    with temporary_postgres_database(postgres_test_url()) as url:
        yield url
