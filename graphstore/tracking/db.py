"""Tracking DB plumbing: URL parsing, engines, and Alembic (the only path by which the schema changes).

Alembic is configured programmatically: the script directory is migrations/ (installed as graphstore.migrations),
shipped as package data, and the connection is handed to env.py through `Config.attributes["connection"]`.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import StaticPool

from graphstore import __version__
from graphstore.config import mask_url
from graphstore.errors import ConfigError, TrackingError
from graphstore.safe_fs import check_data_file
from graphstore.tracking.failures import NOT_A_DATABASE_HINT, SQLITE_HINT, cannot_use, is_not_a_database
from graphstore.tracking.models import Analysis, Graph, Run

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(str(resources.files("graphstore.migrations")))  # migrations/ at the repo root
# The newest shipped migration. A database at exactly this revision is current without consulting Alembic's script
# directory; tests/test_migrations.py checks it equals Alembic's head, so a new migration must update it.
SHIPPED_HEAD = "0003"
VALID_FORMS = (
    "sqlite:///path.db (a file; sqlite:////abs/path.db for an absolute path) or "
    "postgresql+psycopg://user:pass@host:5432/db"
)
SERVER_HINT = (
    "Start PostgreSQL with `graphstore services start --postgres` (or `docker compose -f docker/compose.yaml"
    " up -d postgres`), or point --database-url / GRAPHSTORE_DATABASE_URL at a reachable server."
)
UPGRADE_HINT = "Run `graphstore db upgrade` with the same --database-url / GRAPHSTORE_DATABASE_URL."
NEWER_HINT = "Upgrade the graphstore package (e.g. `pip install -U graphstore`), or use another database."


def parse_url(url: str) -> URL:
    """Parse a tracking URL; `postgresql://` and `postgres://` mean psycopg 3; raise ConfigError otherwise."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise ConfigError(
            f"Tracking database URL {mask_url(str(url))!r} does not parse.", f"Use {VALID_FORMS}."
        ) from None  # the parser's own message repeats the URL unmasked
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"Tracking database URL {mask_url(url)!r} names an unsupported backend {parsed.get_backend_name()!r}.",
            f"Use {VALID_FORMS}.",
        )
    try:
        parsed.get_dialect()
    except NoSuchModuleError as exc:
        raise ConfigError(
            f"Tracking database URL {mask_url(url)!r} names an unknown driver {parsed.drivername!r}.",
            f"Use {VALID_FORMS}.",
        ) from exc
    return parsed


def is_sqlite(url: str) -> bool:
    """Whether a tracking URL names the embedded SQLite backend."""
    return parse_url(url).get_backend_name() == "sqlite"


def _sqlite_file(parsed: URL) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory / URI-style databases."""
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys (off by default in SQLite) so ON DELETE CASCADE / SET NULL apply."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An Engine for a URL: SQLite gets a busy timeout and FK enforcement, PostgreSQL a connect timeout."""
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is None:
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            check_data_file(path, "SQLite tracking file")
            path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        engine = create_engine(parsed, **kwargs)
    except ImportError as exc:
        raise ConfigError(f"The driver for {mask_url(url)!r} is not installed ({exc}).", f"Use {VALID_FORMS}.") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def unreachable(url: str, exc: BaseException) -> TrackingError:
    """A TrackingError for a connection failure, with the masked URL and how to get a server."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    return cannot_use(url, reason, SQLITE_HINT if is_sqlite(url) else SERVER_HINT)


@contextlib.contextmanager
def connect(engine: Engine, url: str, *, begin: bool = False) -> Iterator[Connection]:
    """A connection (in a transaction when begin=True) whose connection failures, and a SQLite file that is no
    database, become TrackingError."""
    try:
        with engine.begin() if begin else engine.connect() as conn:
            yield conn
    except OperationalError as exc:
        raise unreachable(url, exc) from None  # the masked reason is in the message; the driver's is not masked
    except DatabaseError as exc:
        reason = str(exc.orig)
        if not (is_sqlite(url) and is_not_a_database(reason)):
            raise
        raise cannot_use(url, reason, NOT_A_DATABASE_HINT) from None


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config without an ini file; env.py takes the connection from `attributes`."""
    from alembic.config import Config  # deferred: alembic (about 1 s) loads only to migrate or inspect revisions

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def script_directory() -> ScriptDirectory:
    """The migration scripts shipped with this graphstore (read once per process)."""
    from alembic.script import ScriptDirectory  # deferred: alembic loads only to migrate or inspect revisions

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest migration revision this graphstore knows."""
    head = script_directory().get_current_head()
    if head is None:
        raise TrackingError("No migrations are shipped with this graphstore.", "Reinstall the package.")
    return head


def _heads(conn: Connection) -> tuple[str, ...]:
    """The revision(s) recorded in the database's alembic_version table (empty when unmanaged).

    Read with plain SQL (the table is Alembic's documented bookkeeping), so opening a current database needs no
    Alembic import: commands such as `graphstore runs list` start fast.
    """
    if not inspect(conn).has_table("alembic_version"):
        return ()
    return tuple(sorted(row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))))


def _known(revision: str) -> bool:
    """Whether a revision id is exactly one of the shipped migrations (no prefix matching)."""
    return revision in {script.revision for script in script_directory().walk_revisions()}


def classify(heads: tuple[str, ...]) -> str:
    """'current', 'behind' (or empty) or 'newer' (a revision this code does not know)."""
    if heads == (SHIPPED_HEAD,):
        return "current"
    if any(not _known(rev) for rev in heads):
        return "newer"
    return "current" if set(heads) == set(script_directory().get_heads()) else "behind"


def newer_error(url: str, heads: tuple[str, ...]) -> TrackingError:
    """The error for a database migrated by a newer graphstore."""
    return TrackingError(
        f"The tracking database at {mask_url(url)} is at revision {', '.join(heads)}, unknown to graphstore "
        f"{__version__} (which knows up to {head_revision()}): it was migrated by a newer graphstore.",
        NEWER_HINT,
    )


def behind_error(url: str, heads: tuple[str, ...]) -> TrackingError:
    """The error for a server database whose schema is older than the code (or absent)."""
    where = f"is at revision {', '.join(heads)}" if heads else "has no graphstore schema yet"
    return TrackingError(
        f"The tracking database at {mask_url(url)} {where}; this graphstore needs revision {head_revision()}.",
        UPGRADE_HINT,
    )


@contextlib.contextmanager
def _upgrade_lock(url: str) -> Iterator[None]:
    """Serialise concurrent first-use upgrades of one SQLite file (an flock on `<file>.lock`, POSIX only)."""
    path = _sqlite_file(parse_url(url)) if is_sqlite(url) else None
    if path is None or fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC  # a planted symlink is refused, not followed
    with os.fdopen(os.open(path.with_name(path.name + ".lock"), flags, 0o644), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _migrate(url: str, engine: Engine, action: str, revision: str) -> tuple[str | None, str | None]:
    """Run Alembic upgrade/downgrade on one transaction; return (revision before, revision after)."""
    with _upgrade_lock(url), connect(engine, url, begin=True) as conn:
        heads = _heads(conn)
        if classify(heads) == "newer":
            raise newer_error(url, heads)
        from alembic import command  # deferred: alembic loads only to migrate
        from alembic.util import CommandError  # deferred: alembic loads only to migrate

        cfg = alembic_config(conn)
        try:
            getattr(command, action)(cfg, revision)
        except CommandError as exc:
            raise TrackingError(
                f"Cannot {action} the tracking database to {revision!r}: {exc}",
                f"Known revisions end at {head_revision()}; use 'head' or 'base'.",
            ) from exc
        return _join(heads), _join(_heads(conn))


def _join(heads: tuple[str, ...]) -> str | None:
    """Heads as one string (None when the database is unmanaged)."""
    return ",".join(heads) or None


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to `revision`; return (revision before, revision after)."""
    engine = make_engine(url)
    try:
        return _migrate(url, engine, "upgrade", revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str = "base") -> tuple[str | None, str | None]:
    """Revert migrations down to `revision` ('base' drops every table); return (before, after)."""
    engine = make_engine(url)
    try:
        return _migrate(url, engine, "downgrade", revision)
    finally:
        engine.dispose()


def new_revision(message: str, url: str, autogenerate: bool = True) -> str:
    """For maintainers: write a new migration under migrations/versions (diffing models vs `url`).

    Example: python -c "from graphstore.tracking.db import new_revision as r; r('add x', 'sqlite:///dev.db')"
    """
    from alembic import command  # deferred: alembic loads only to migrate

    engine = make_engine(url)
    try:
        with connect(engine, url, begin=True) as conn:
            script = command.revision(alembic_config(conn), message, autogenerate=autogenerate)
    finally:
        engine.dispose()
    script_directory.cache_clear()
    return str(script.path)  # type: ignore[union-attr]


def _sqlite_absent(url: str) -> bool:
    """Whether a SQLite URL names a file that does not exist yet (so inspecting it must not create it)."""
    path = _sqlite_file(parse_url(url)) if is_sqlite(url) else None
    return path is not None and not path.exists()


def current_revision(url: str) -> str | None:
    """The database's current revision (None when empty or absent); never creates or migrates anything."""
    if _sqlite_absent(url):
        return None
    engine = make_engine(url)
    try:
        with connect(engine, url) as conn:
            return _join(_heads(conn))
    finally:
        engine.dispose()


def ensure_schema(engine: Engine, url: str, auto_upgrade: bool) -> None:
    """Check the schema is current: upgrade it when allowed, else raise TrackingError (behind or newer)."""
    with connect(engine, url) as conn:
        heads = _heads(conn)
    state = classify(heads)
    if state == "newer":
        raise newer_error(url, heads)
    if state == "behind":
        if not auto_upgrade:
            raise behind_error(url, heads)
        _migrate(url, engine, "upgrade", "head")


@dataclass(frozen=True)
class SchemaStatus:
    """What `graphstore db status` shows."""

    url: str
    current: str | None
    head: str
    state: str
    counts: dict[str, int] | None
    exists: bool = True

    @property
    def up_to_date(self) -> bool:
        return self.state == "current"


def _counts(conn: Connection) -> dict[str, int] | None:
    """Row counts of the main tables, or None when they cannot be read."""
    try:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Run, Graph, Analysis)
        }
    except DBAPIError:
        return None


def schema_status(url: str) -> SchemaStatus:
    """Revision, head, state and row counts of a tracking database, without changing it."""
    if _sqlite_absent(url):
        return SchemaStatus(mask_url(url), None, head_revision(), "behind", None, exists=False)
    engine = make_engine(url)
    try:
        with connect(engine, url) as conn:
            heads = _heads(conn)
            counts = _counts(conn) if heads else None
        return SchemaStatus(mask_url(url), _join(heads), head_revision(), classify(heads), counts)
    finally:
        engine.dispose()
