"""Where the test servers are: GRAPHSTORE_TEST_* variables, else skip (or fail when servers are required).

Start local servers and export the variables with:
    graphstore services start && eval "$(graphstore services env)"
With GRAPHSTORE_REQUIRE_SERVERS=1 (CI, `make test`) a missing variable fails the test instead of skipping it.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest

REQUIRE_ENV = "GRAPHSTORE_REQUIRE_SERVERS"
HOW = 'start them: graphstore services start && eval "$(graphstore services env)"'


class Neo4jParams(NamedTuple):
    """Connection details of the test Neo4j server."""

    uri: str
    http: str
    user: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        """(user, password) for neo4j.GraphDatabase.driver."""
        return (self.user, self.password)


def servers_required() -> bool:
    """Whether a missing server is a failure (GRAPHSTORE_REQUIRE_SERVERS=1) rather than a skip."""
    return os.environ.get(REQUIRE_ENV, "") == "1"


def require_env(name: str) -> str:
    """The value of env var name; skip the test when it is unset, or fail if servers are required."""
    value = os.environ.get(name, "")
    if value:
        return value
    message = f"{name} is not set; {HOW}"
    if servers_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)")
    pytest.skip(message)


def neo4j_params() -> Neo4jParams:
    """Bolt URI, HTTP base URL, user and password of the test Neo4j server (skip/fail when not set)."""
    return Neo4jParams(
        uri=require_env("GRAPHSTORE_TEST_NEO4J_URI"),
        http=os.environ.get("GRAPHSTORE_TEST_NEO4J_HTTP", ""),
        user=os.environ.get("GRAPHSTORE_TEST_NEO4J_USER", "neo4j"),
        password=require_env("GRAPHSTORE_TEST_NEO4J_PASSWORD"),
    )


def neo4j_http() -> str:
    """The HTTP base URL of the test Neo4j server, e.g. http://127.0.0.1:7474 (skip/fail when not set)."""
    return require_env("GRAPHSTORE_TEST_NEO4J_HTTP").rstrip("/")


def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL database (skip/fail when not set)."""
    return require_env("GRAPHSTORE_TEST_DATABASE_URL")
