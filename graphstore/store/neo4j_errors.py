"""Neo4j driver errors as graphstore errors: each names the (masked) server and the fix; a Ctrl-C stays a Ctrl-C."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from neo4j import exceptions as ex

from graphstore.errors import ConfigError, GraphstoreError, InvalidGraph, QueryError, StoreUnavailable
from graphstore.masking import mask_secret

START_HINT = (
    "Start one with `graphstore services start` (or `docker compose -f docker/compose.yaml up -d neo4j`), "
    "or point GRAPHSTORE_GRAPH_STORE at a running server."
)
RESUME_HINT = (
    "The graph stays incomplete with its progress: when the server is back, rerun the same command "
    "with --resume (or drop it with `graphstore store drop-graph`)."
)
PLUGIN_REFUSED = "graphstore refused: "  # how the plugin's checks start their message (GraphstoreWrite.REFUSED)
PLUGIN_HINT = (
    "graphstore's write procedures only add :GraphNode nodes and relationships inside one graph whose write is "
    "under way; write graphs with `graphstore ingest` (if the graph was dropped or replaced meanwhile, write it again)."
)


@contextmanager
def driver_errors(uri: str, user: str, secrets: tuple[str, ...]) -> Iterator[None]:
    """Turn driver errors raised inside into graphstore errors (see translate); a Ctrl-C stays a Ctrl-C."""
    try:
        yield
    except Exception as exc:
        interrupt = interrupt_behind(exc)
        if interrupt is not None:
            raise interrupt from None
        error = translate(exc, uri, user, secrets)
        if error is None:
            raise
        raise error from (None if isinstance(error, StoreUnavailable | ConfigError) else exc)


def translate(exc: Exception, uri: str, user: str, secrets: tuple[str, ...]) -> GraphstoreError | None:
    """The graphstore error a Neo4j driver error stands for (None when it has none); messages name the masked URI
    and never a secret."""
    if isinstance(exc, ex.AuthError):
        return StoreUnavailable(
            f"Neo4j at {uri} refused the credentials for user {user!r}.",
            "Set GRAPHSTORE_NEO4J_USER / GRAPHSTORE_NEO4J_PASSWORD (or --neo4j-user / "
            "--neo4j-password) to the server's credentials.",
        )
    if isinstance(exc, ex.ServiceUnavailable | ex.SessionExpired | ex.DatabaseUnavailable | OSError):
        return StoreUnavailable(
            f"Cannot reach Neo4j at {uri}: {mask_secret(str(exc), *secrets)}",
            f"{START_HINT} {RESUME_HINT}",
        )
    if isinstance(exc, ex.TransientError) and "MemoryPoolOutOfMemory" in (exc.code or ""):
        return ConfigError(
            f"Neo4j at {uri} ran out of transaction memory: {exc.message}",
            "Lower batch_size (GRAPHSTORE_BATCH_SIZE) or raise the server's "
            f"dbms.memory.transaction.total.max. {RESUME_HINT}",
        )
    if isinstance(exc, ex.ClientError) and PLUGIN_REFUSED in (exc.message or ""):
        reason = (exc.message or "").split(PLUGIN_REFUSED, 1)[1]
        return InvalidGraph(f"Neo4j's graphstore write plugin refused the batch: {reason}", PLUGIN_HINT)
    if isinstance(exc, ex.CypherSyntaxError):
        return QueryError(f"Neo4j rejected the query: {exc.message}")
    if isinstance(exc, ex.ClientError) and exc.code and exc.code.endswith("Statement.AccessMode"):
        return QueryError(
            f"Neo4j refused a write in a read transaction: {exc.message}",
            "Statements that write go through GraphStore.execute, not GraphStore.read.",
        )
    if isinstance(exc, ex.ClientError) and exc.code and "ProcedureNotFound" in exc.code:
        return QueryError(
            f"{exc.message}",
            "Is the Graph Data Science / APOC plugin installed? `graphstore services start` installs both.",
        )
    if isinstance(exc, ex.ClientError) and exc.code and exc.code.endswith("Security.AuthenticationRateLimit"):
        return StoreUnavailable(
            f"Neo4j at {uri} refused user {user!r} after too many failed logins in a row.",
            "Wait a few seconds, then retry with the server's password (GRAPHSTORE_NEO4J_PASSWORD / --neo4j-password).",
        )
    return None


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C an error was raised while handling, if any: the driver's cleanup (rolling back a transaction on a
    connection the interrupt left mid-message) can fail and would otherwise hide the interrupt."""
    seen: BaseException | None = exc.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None
