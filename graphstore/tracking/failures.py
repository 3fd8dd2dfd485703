"""Tracking DB failures worded once, for the ORM path (graphstore.tracking.db) and the sqlite3 read path
(graphstore.tracking.listing) alike; importable without SQLAlchemy."""

from __future__ import annotations

from graphstore.config import mask_text, mask_url
from graphstore.errors import TrackingError

SQLITE_HINT = "Check the SQLite file's directory and permissions."
NOT_A_DATABASE_HINT = (
    "The file is not a SQLite database, or is damaged: move it aside (a new one is created on next use), or point "
    "--database-url / GRAPHSTORE_DATABASE_URL at another file."
)


def cannot_use(url: str, reason: str, hint: str) -> TrackingError:
    """`Cannot use the tracking database at <masked url>: <masked reason>` with a hint."""
    return TrackingError(f"Cannot use the tracking database at {mask_url(url)}: {mask_text(reason)}", hint)


def is_not_a_database(reason: str) -> bool:
    """Whether a SQLite error says the file is no database (garbage, or another format)."""
    return "file is not a database" in reason
