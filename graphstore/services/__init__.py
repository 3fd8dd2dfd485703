"""Local servers for tests, CI and users without Docker: Neo4j 5.26 (+ Browser, GDS, APOC) and PostgreSQL.

Each instance lives in its own run dir (default `~/.local/state/graphstore/services/{neo4j,postgres}`) with a
state.json (mode 600) that records pid, ports, URIs and the generated passwords, so `status`, `stop` and `env` work
from any process. Both servers listen on 127.0.0.1 only and require a password, and a run root or run dir another
user could have prepared is refused (services/run_dir.py): see docs/SECURITY.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphstore.safe_fs import default_state_dir
from graphstore.services.neo4j_server import neo4j_status, start_neo4j, stop_neo4j
from graphstore.services.postgres_server import postgres_status, start_postgres, stop_postgres
from graphstore.services.run_dir import check_root, prepare_root

__all__ = [
    "check_root",
    "default_run_root",
    "neo4j_status",
    "postgres_status",
    "prepare_root",
    "run_dirs",
    "start_neo4j",
    "start_postgres",
    "status",
    "stop_neo4j",
    "stop_postgres",
]


def default_run_root(data_dir: Path | None = None) -> Path:
    """The default parent of the run dirs: the user's private state folder's services/ (data_dir is no longer used:
    a data dir may be shared, and a run dir holds code the servers run and their password hashes)."""
    del data_dir
    return default_state_dir() / "services"


def run_dirs(run_root: Path) -> dict[str, Path]:
    """The run dir of each service under run_root."""
    root = Path(run_root)
    return {"neo4j": root / "neo4j", "postgres": root / "postgres"}


def status(run_root: Path) -> dict[str, dict[str, Any]]:
    """State of both services under run_root, each with `running` (empty state when never started)."""
    check_root(run_root)
    dirs = run_dirs(run_root)
    return {"neo4j": neo4j_status(dirs["neo4j"]), "postgres": postgres_status(dirs["postgres"])}
