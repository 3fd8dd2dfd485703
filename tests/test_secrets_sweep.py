"""The secrets sweep behind docs/SECURITY.md "Secrets in output": the CLI runs many times with a planted secret in
every setting source, and no secret reaches stdout, stderr, a traceback log or a file under the data dir.

Sources: command-line flags, GRAPHSTORE_* variables, a config file (--config). Targets: Neo4j URIs with userinfo
and ?token=, PostgreSQL URLs with userinfo and ?password= / ?sslpassword=, closed ports, the live shared servers
with a wrong password, the live servers with their right password plus a secret query parameter, and a URL that
does not parse. Every run is
searched for the planted secret and for the live servers' real passwords. Wrong Neo4j passwords go to a user that
does not exist (Neo4j locks a user for seconds after failed logins, which would fail other users of the shared
server); the password path is the same.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from graphstore.services.state import free_ports
from tests.servers import require_env
from tests.test_masking import _cli

SECRET = "Pl4nted-S3cret-7f3e9c"
SOURCES = ("flag", "env", "config")
NEO4J_COMMANDS = (["store", "status"], ["store", "list"], ["config", "show"])
PG_COMMANDS = (["db", "status"], ["runs", "list"], ["config", "show"])
FLAGS = {"graph_store": "--graph-store", "neo4j_user": "--neo4j-user", "neo4j_password": "--neo4j-password"}
FLAGS["database_url"] = "--database-url"


def scenarios(port: int, neo4j: str, neo4j_pw: str, pg: str) -> dict[str, dict[str, str]]:
    """Settings, each holding the secret somewhere, by name."""
    bolt = urlsplit(neo4j)
    pg_parts = urlsplit(pg)
    pg_host = pg_parts.netloc.rsplit("@", 1)[-1]
    pg_user = pg_parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    return {
        "neo4j userinfo, closed port": {"graph_store": f"bolt://neo4j:{SECRET}@127.0.0.1:{port}"},
        "neo4j token, closed port": {
            "graph_store": f"neo4j://127.0.0.1:{port}?token={SECRET}",
            "neo4j_password": SECRET,
        },
        "neo4j live, wrong password": {
            "graph_store": f"bolt://{bolt.netloc}",
            "neo4j_user": "graphstore-sweep",
            "neo4j_password": SECRET,
        },
        "neo4j live, right password + token": {
            "graph_store": f"neo4j://{bolt.netloc}?token={SECRET}",
            "neo4j_password": neo4j_pw,
        },
        "pg userinfo, closed port": {
            "database_url": f"postgresql+psycopg://graphstore:{SECRET}@127.0.0.1:{port}/graphstore"
        },
        "pg password params, closed port": {
            "database_url": f"postgresql://graphstore@127.0.0.1:{port}/graphstore?password={SECRET}"
            f"&sslpassword={SECRET}"
        },
        "pg live, wrong password": {
            "database_url": f"postgresql+psycopg://{pg_user}:{SECRET}@{pg_host}{pg_parts.path}"
        },
        "pg live, right password + sslpassword": {"database_url": f"{pg}?sslpassword={SECRET}"},
        "pg URL that does not parse": {"database_url": f"postgresql+psycopg://graphstore:{SECRET}@127.0.0.1:port/db"},
    }


def invocation(source: str, settings: dict[str, str], home: Path) -> tuple[list[str], dict[str, str]]:
    """(leading CLI args, extra environment) that give the CLI `settings` through `source`."""
    if source == "flag":
        return [arg for key, value in settings.items() for arg in (FLAGS[key], value)], {}
    if source == "env":
        return [], {f"GRAPHSTORE_{key.upper()}": value for key, value in settings.items()}
    config = home / "config.toml"
    config.write_text("".join(f'{key} = "{value}"\n' for key, value in settings.items()))
    config.chmod(0o600)
    return ["--config", str(config)], {}


def run(args: list[str], extra_env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    """The CLI with a clean GRAPHSTORE_* environment, private data and log dirs, and `extra_env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update(
        GRAPHSTORE_DATA_DIR=str(home / "data"), GRAPHSTORE_LOG_DIR=str(home / "logs"), HOME=str(home), COLUMNS="400"
    )
    env.update(extra_env)
    return subprocess.run([*_cli(), *args], capture_output=True, text=True, env=env, timeout=120, cwd=home)


def leaks(proc: subprocess.CompletedProcess[str], home: Path, secrets: list[str]) -> list[str]:
    """Where any of `secrets` shows: stdout, stderr, or a file under home except the config file we wrote."""
    found = [
        f"{name}: {s[:4]}..."
        for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr))
        for s in secrets
        if s in text
    ]
    for path in home.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            data = path.read_bytes()
            found += [f"{path}: {s[:4]}..." for s in secrets if s.encode() in data]
    return found


@pytest.mark.slow
@pytest.mark.neo4j
@pytest.mark.postgres
def test_no_secret_in_any_output_or_written_file(tmp_path: Path) -> None:
    neo4j = require_env("GRAPHSTORE_TEST_NEO4J_URI")
    neo4j_pw = require_env("GRAPHSTORE_TEST_NEO4J_PASSWORD")
    pg = require_env("GRAPHSTORE_TEST_DATABASE_URL")
    pg_pw = urlsplit(pg).password or ""
    secrets = [s for s in (SECRET, neo4j_pw, pg_pw) if s]
    (port,) = free_ports(1)
    runs, problems, codes = 0, [], {}
    for name, settings in scenarios(port, neo4j, neo4j_pw, pg).items():
        commands = NEO4J_COMMANDS if "graph_store" in settings else PG_COMMANDS
        for turn, source in enumerate(SOURCES):
            for command in (commands[turn % 3], commands[(turn + 1) % 3]):  # 2 of the 3 commands, rotating
                home = tmp_path / f"run{runs}"
                home.mkdir()
                lead, env = invocation(source, settings, home)
                proc = run([*lead, *command], env, home)
                runs += 1
                codes[proc.returncode] = codes.get(proc.returncode, 0) + 1
                found = leaks(proc, home, secrets)
                if found or proc.returncode not in (0, 2) or "Traceback" in proc.stdout + proc.stderr:
                    problems.append((name, source, command, proc.returncode, found, proc.stderr[-400:]))
    print(f"secrets sweep: {runs} CLI runs, exit codes {codes}, problems {len(problems)}")
    assert runs >= 54
    assert not problems, problems
