"""Errors users see: each carries a message and a hint that names the fix; the CLI prints both and exits 2."""

from __future__ import annotations


class GraphstoreError(Exception):
    """Base class for every error graphstore reports to a user (never a bare traceback)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class InvalidParams(GraphstoreError):
    """A parameter (of a job, model, dataset, training or an experiment) is unknown or does not parse."""


class IngestError(GraphstoreError):
    """Graphs cannot be extracted as asked: unknown kinds or options, or data that does not fit the model."""


class ConfigError(GraphstoreError):
    """A setting is missing or does not parse."""


class StoreUnavailable(GraphstoreError):
    """The graph store (Neo4j) cannot be reached or refuses the credentials."""


class GraphExists(GraphstoreError):
    """A graph id is already stored and --replace was not given."""


class InvalidGraph(GraphstoreError):
    """A graph cannot be stored as it is (e.g. a NaN or infinite edge weight)."""


class GraphNotFound(GraphstoreError):
    """A graph id is not in the store."""


class QueryError(GraphstoreError):
    """A named query is unknown, or its parameters are missing or malformed."""


class TrackingError(GraphstoreError):
    """The tracking database is unreachable, too new, or its schema is not current."""


class ServiceError(GraphstoreError):
    """A local server (Neo4j, PostgreSQL) could not be prepared, started or stopped."""
