"""Alembic environment for the graphstore tracking DB, configured programmatically (no alembic.ini).

graphstore.tracking.db passes an open connection in `config.attributes["connection"]`; the `alembic` CLI (for
authoring revisions) can instead pass a URL with `-x url=...` or `sqlalchemy.url`. SQLite uses batch mode so
ALTERs work there too.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from graphstore.tracking.db import make_engine
from graphstore.tracking.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    """The URL from `-x url=...` or the `sqlalchemy.url` option."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("pass a connection in config.attributes['connection'] or -x url=...")
    return url


def _configure(**kwargs: Any) -> None:
    """Shared context options: the models' metadata, type comparison, batch mode on SQLite."""
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)


def run_migrations_offline() -> None:
    """Emit SQL for a URL without connecting (`alembic upgrade --sql`)."""
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    """Run the migrations on one connection."""
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the connection handed in by graphstore, or on a fresh engine for the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
