"""Local servers only their owner can use: passwords (no trust, no fixed default), private files and sockets.

Checked on the servers the suite runs against (GRAPHSTORE_TEST_*) and on throw-away instances, with a second
local user (`nobody`, via runuser; needs root) that must not get in without the password.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from graphstore.errors import ServiceError
from graphstore.services import browser_content, neo4j_dist, neo4j_server, postgres_server, state
from tests.servers import neo4j_http, neo4j_params, postgres_url

OLD_DEFAULT = "graphstore-test"  # the fixed password of older versions (and of docker/compose.yaml before)
REPO = Path(__file__).resolve().parents[1]
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/", "LC_ALL": "C"}


def _as_nobody(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run cmd as the `nobody` user with an empty environment (no PGPASSWORD, no ~/.pgpass)."""
    runuser = shutil.which("runuser")
    if os.geteuid() != 0 or not runuser:
        pytest.skip("needs root and runuser to act as a second local user")
    return subprocess.run(
        [runuser, "-u", "nobody", "--", *cmd], env=CLEAN_ENV, cwd="/", capture_output=True, text=True, timeout=60
    )


def _psql(
    host: str, port: int, user: str, database: str, password: str | None = None, nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    """`psql -w -c 'SELECT 1'` against host (an address or a socket dir), as root or as nobody."""
    cmd = [
        str(postgres_server.pg_bindir() / "psql"),
        "-w",
        "-X",
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        user,
        "-d",
        database,
        "-Atc",
        "SELECT 1",
    ]
    if nobody:
        return _as_nobody(cmd)
    env = {**CLEAN_ENV, **({"PGPASSWORD": password} if password else {})}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def _mode(path: str | Path) -> int:
    """The permission bits of path."""
    return Path(path).stat().st_mode & 0o777


def _http_status(url: str, user: str, password: str) -> int:
    """HTTP status of a Cypher `RETURN 1` through Neo4j's transactional HTTP API with basic auth."""
    body = json.dumps({"statements": [{"statement": "RETURN 1"}]}).encode()
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _until_accepted(uri: str, auth: tuple[str, str], timeout: float = 15.0) -> None:
    """Log in with the right password (waiting out Neo4j's lock after failed attempts), which resets the count."""
    import neo4j
    from neo4j.exceptions import AuthError, ClientError

    deadline = time.monotonic() + timeout
    while True:
        try:
            with neo4j.GraphDatabase.driver(uri, auth=auth) as drv:
                drv.verify_connectivity()
            return
        except (AuthError, ClientError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _refuses_old_default(uri: str, http: str, password: str) -> None:
    """The old default password is refused over Bolt (as us) and HTTP (as nobody); the real one works."""
    import neo4j
    from neo4j.exceptions import AuthError

    assert password and password != OLD_DEFAULT and len(password) >= 16
    url = f"{http.rstrip('/')}/db/neo4j/tx/commit"
    body = '{"statements":[{"statement":"RETURN 1"}]}'
    proc = _as_nobody(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            f"neo4j:{OLD_DEFAULT}",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            url,
        ]
    )
    assert proc.stdout.strip() == "401", (proc.stdout, proc.stderr)
    _until_accepted(uri, ("neo4j", password))
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", OLD_DEFAULT)) as drv, pytest.raises(AuthError):
        drv.verify_connectivity()
    _until_accepted(uri, ("neo4j", password))
    assert _http_status(url, "neo4j", password) == 200


# ---- the servers the suite runs against -------------------------------------------------------------------


@pytest.mark.neo4j
def test_test_neo4j_refuses_the_old_default_password() -> None:
    params = neo4j_params()
    _refuses_old_default(params.uri, neo4j_http(), params.password)


@pytest.mark.postgres
def test_test_postgres_needs_the_password_and_is_not_superuser() -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url())
    assert url.password, "the test URL must carry a password"
    kwargs = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    with psycopg.connect(**kwargs, password=url.password, autocommit=True) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        marker = Path(tempfile.gettempdir()) / f"gs-copy-program-{os.getpid()}"
        conn.execute("CREATE TEMP TABLE t (x text)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"COPY t FROM PROGRAM 'touch {marker}'")
        assert not marker.exists()
    # TCP here; the socket (its path is not exported) is checked in test_local_postgres_is_private.
    refused = _psql(url.host, url.port, url.username, url.database)
    assert refused.returncode != 0 and "no password supplied" in refused.stderr, refused.stderr
    assert _psql(url.host, url.port, url.username, url.database, url.password).stdout.strip() == "1"
    other = _psql(url.host, url.port, url.username, url.database, nobody=True)
    assert other.returncode != 0 and "no password supplied" in other.stderr, other.stderr


# ---- throw-away instances ---------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `graphstore` CLI (the console script of this venv), stdout not a terminal."""
    script = Path(sys.executable).parent / "graphstore"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=300, cwd=REPO)


@pytest.mark.slow
def test_local_postgres_is_private(run_root: Path) -> None:
    try:
        postgres_server.pg_bindir()
    except ServiceError:
        pytest.skip("PostgreSQL binaries are not installed")
    started = _cli("services", "start", "--no-neo4j", "--run-dir", str(run_root))
    assert started.returncode == 0, started.stderr
    try:
        info = postgres_server.postgres_status(run_root / "postgres")
        run_dir = run_root / "postgres"  # ours (as root 711: postgres may pass), the cluster in it is postgres's
        assert info["cluster_dir"] == str(run_dir / "cluster") and run_dir.stat().st_uid == os.geteuid()
        assert _mode(run_dir) == (0o711 if os.geteuid() == 0 else 0o700)
        secrets = (info["password"], info["admin_password"])
        assert all(len(s) >= 24 for s in secrets) and info["password"] != info["admin_password"]
        assert _mode(run_root / "postgres" / state.STATE_FILE) == 0o600
        assert _mode(info["socket_dir"]) == 0o700 and _mode(info["pgdata"]) == 0o700
        sockets = list(Path(info["socket_dir"]).glob(".s.PGSQL.*"))
        assert sockets and all(_mode(s) == 0o700 for s in sockets if s.is_socket())
        hba = (Path(info["pgdata"]) / "pg_hba.conf").read_text()
        assert "trust" not in hba and "local all all scram-sha-256" in hba
        port, user, db = info["port"], info["user"], info["database"]
        for host in (postgres_server.HOST, info["socket_dir"]):
            for role in (user, info["admin_user"]):
                assert "no password supplied" in _psql(host, port, role, db).stderr
                other = _psql(host, port, role, db, nobody=True)
                assert other.returncode != 0
            assert _psql(host, port, user, db, info["password"]).stdout.strip() == "1"
        shown = _cli("services", "status", "--run-dir", str(run_root)).stdout
        env = _cli("services", "env", "--app", "--run-dir", str(run_root)).stdout
        assert "graphstore:****@" in shown and not any(s in shown for s in secrets)
        assert f"GRAPHSTORE_DATABASE_URL={info['url']}" in env and info["admin_password"] not in env
    finally:
        _cli("services", "stop", "--purge", "--run-dir", str(run_root))


def test_a_trust_cluster_of_an_older_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "PG_VERSION").write_text("15\n")
    with pytest.raises(ServiceError, match="without passwords"):
        postgres_server._passwords(tmp_path / "pgdata", {"pgdata": str(tmp_path / "pgdata")})
    fresh = postgres_server._passwords(tmp_path / "none", {})
    assert fresh["password"] != postgres_server._passwords(tmp_path / "none", {})["password"]


@pytest.mark.slow
def test_local_neo4j_has_a_generated_private_password(run_root: Path) -> None:
    if not neo4j_dist.is_complete(neo4j_dist.dist_dir()):
        pytest.skip("Neo4j jars are not cached yet (run `graphstore services start` once)")
    run_dir = run_root / "neo4j"
    info = neo4j_server.start_neo4j(run_dir, memory={"heap_max": "1g", "pagecache": "64m"}, warm_up=False)
    try:
        assert _mode(run_dir / state.STATE_FILE) == 0o600 and _mode(run_dir) == 0o700
        assert not (run_dir / "conf" / ".admin-args").exists()
        assert state.read_state(run_dir)["password"] == info["password"]
        _refuses_old_default(info["bolt_uri"], info["http_uri"], info["password"])
    finally:
        neo4j_server.stop_neo4j(run_dir, purge=True)


def test_neo4j_passwords_are_generated_per_run_dir(tmp_path: Path) -> None:
    first = neo4j_server._check_password(tmp_path / "a", {}, None)
    second = neo4j_server._check_password(tmp_path / "b", {}, None)
    assert first != second and len(first) >= 24 and OLD_DEFAULT not in (first, second)
    with pytest.raises(ServiceError, match="old published default"):
        neo4j_server._set_password(tmp_path, tmp_path, OLD_DEFAULT)


def test_argfile_quoting_survives_quotes_and_spaces() -> None:
    assert neo4j_server._argfile_quote('a b"c\\d') == '"a b\\"c\\\\d"'


# ---- docker/compose.yaml ----------------------------------------------------------------------------------


def test_compose_takes_passwords_from_the_environment() -> None:
    text = (REPO / "docker" / "compose.yaml").read_text()
    doc = yaml.safe_load(text)
    neo4j_env = doc["services"]["neo4j"]["environment"]
    pg_env = doc["services"]["postgres"]["environment"]
    assert neo4j_env["NEO4J_AUTH"] == "neo4j/${GRAPHSTORE_NEO4J_PASSWORD:?set GRAPHSTORE_NEO4J_PASSWORD}"
    assert pg_env["POSTGRES_PASSWORD"].startswith("${GRAPHSTORE_POSTGRES_PASSWORD:?")
    assert OLD_DEFAULT not in text and "POSTGRES_PASSWORD: graphstore" not in text
    health = " ".join(doc["services"]["neo4j"]["healthcheck"]["test"])
    assert "$${NEO4J_AUTH#neo4j/}" in health  # read inside the container, not written into the file
    for service in doc["services"].values():
        assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    csp = neo4j_env["NEO4J_dbms_security_http__static__content__security__policy__header"]
    assert csp == browser_content.content_security_policy()  # the Browser fetches nothing from the internet


@pytest.mark.neo4j
def test_repeated_wrong_passwords_end_in_a_user_error_not_a_crash() -> None:
    from graphstore.errors import StoreUnavailable
    from graphstore.store.neo4j_store import Neo4jStore

    params = neo4j_params()
    messages = []
    try:
        for _ in range(5):  # Neo4j locks the user for a few seconds after 3 failures in a row
            with pytest.raises(StoreUnavailable) as info:
                Neo4jStore(params.uri, params.user, params.password + "-wrong")
            messages.append(str(info.value))
    finally:
        _until_accepted(params.uri, params.auth)
    assert any("too many failed logins" in m for m in messages), messages
    assert not any(params.password in m for m in messages)


def test_env_masks_secrets_only_for_a_terminal() -> None:
    from graphstore.cli.services_cmd import _shown

    url = "postgresql+psycopg://graphstore:pw-123@127.0.0.1:5/graphstore"
    assert (
        _shown("GRAPHSTORE_TEST_DATABASE_URL", url, hide=True)
        == "postgresql+psycopg://graphstore:****@127.0.0.1:5/graphstore"
    )
    assert _shown("GRAPHSTORE_NEO4J_PASSWORD", "pw-123", hide=True) == "****"
    assert _shown("GRAPHSTORE_TEST_NEO4J_URI", "bolt://127.0.0.1:1", hide=True) == "bolt://127.0.0.1:1"
    assert _shown("GRAPHSTORE_DATABASE_URL", url, hide=False) == url  # what `eval "$(...)"` receives
