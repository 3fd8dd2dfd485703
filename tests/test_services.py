"""The local servers: Neo4j (Browser, GDS, APOC, auth) and PostgreSQL, plus the services plumbing itself."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphstore.cli.services_cmd import _exports
from graphstore.errors import ServiceError
from graphstore.services import neo4j_dist, neo4j_server, postgres_server, state
from tests.servers import neo4j_http, neo4j_params, postgres_url


def _get(url: str, accept: str = "*/*") -> tuple[int, str, str]:
    """(status, content type, body) of a GET request."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    """A driver for the test Neo4j server."""
    import neo4j

    params = neo4j_params()
    with neo4j.GraphDatabase.driver(params.uri, auth=params.auth) as drv:
        yield drv


# ---- Neo4j server -----------------------------------------------------------------------------------------


@pytest.mark.neo4j
def test_browser_is_served() -> None:
    code, ctype, body = _get(neo4j_http() + "/browser/")
    assert code == 200
    assert "text/html" in ctype and "<html" in body.lower()


@pytest.mark.neo4j
def test_discovery_document_names_version() -> None:
    _, _, body = _get(neo4j_http() + "/", accept="application/json")
    doc = json.loads(body)
    assert doc["neo4j_version"].startswith("5.26")
    assert doc["bolt_direct"].startswith("bolt://")


@pytest.mark.neo4j
def test_gds_version(driver) -> None:
    assert driver.execute_query("RETURN gds.version() AS v").records[0]["v"].startswith("2.")


@pytest.mark.neo4j
def test_gds_pagerank_on_tiny_graph(driver) -> None:
    label, graph = f"GsSvc{uuid.uuid4().hex[:8]}", f"gs-svc-{uuid.uuid4().hex[:8]}"
    driver.execute_query(
        f"CREATE (a:{label} {{n:'a'}}), (b:{label} {{n:'b'}}), (c:{label} {{n:'c'}}), "
        f"(a)-[:{label}_R]->(c), (b)-[:{label}_R]->(c)"
    )
    try:
        driver.execute_query("CALL gds.graph.project($g, $l, $r)", g=graph, l=label, r=f"{label}_R")
        records = driver.execute_query(
            "CALL gds.pageRank.stream($g) YIELD nodeId, score RETURN gds.util.asNode(nodeId).n AS n, score "
            "ORDER BY score DESC",
            g=graph,
        ).records
        assert [r["n"] for r in records][0] == "c" and len(records) == 3
    finally:
        driver.execute_query("CALL gds.graph.drop($g, false) YIELD graphName RETURN graphName", g=graph)
        driver.execute_query(f"MATCH (n:{label}) DETACH DELETE n")


@pytest.mark.neo4j
def test_apoc_version(driver) -> None:
    assert driver.execute_query("RETURN apoc.version() AS v").records[0]["v"].startswith("5.26")


@pytest.mark.neo4j
def test_wrong_password_is_refused() -> None:
    import neo4j
    from neo4j.exceptions import AuthError

    params = neo4j_params()
    with (
        neo4j.GraphDatabase.driver(params.uri, auth=(params.user, params.password + "-wrong")) as drv,
        pytest.raises(AuthError),
    ):
        drv.verify_connectivity()


# ---- PostgreSQL server ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_accepts_connections() -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url())
    with engine.connect() as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
    engine.dispose()
    major = int(re.match(r"PostgreSQL (\d+)", version).group(1))
    assert major >= 15, version  # 15 from Debian locally; 16 in docker/compose.yaml


@pytest.mark.postgres
def test_postgres_allows_creating_databases() -> None:
    import sqlalchemy as sa

    name = f"gs_svc_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        conn.execute(sa.text(f'DROP DATABASE "{name}"'))
    engine.dispose()


# ---- plumbing (no servers needed) -------------------------------------------------------------------------


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = state.free_ports(3)
    assert len(set(ports)) == 3 and all(1024 < p < 65536 for p in ports)
    assert not any(state.port_open(p) for p in ports)


def test_state_roundtrip_is_private(tmp_path: Path) -> None:
    state.write_state(tmp_path, {"pid": 1, "password": "x"})
    assert state.read_state(tmp_path) == {"pid": 1, "password": "x"}
    assert (tmp_path / state.STATE_FILE).stat().st_mode & 0o077 == 0
    assert state.read_state(tmp_path / "missing") == {}


def test_pid_alive_rejects_dead_and_foreign_processes() -> None:
    import os

    assert state.pid_alive(os.getpid())
    assert not state.pid_alive(os.getpid(), marker="no-such-marker-in-cmdline")
    assert not state.pid_alive(None)


def test_pom_is_the_single_source_of_versions() -> None:
    props = neo4j_dist.pom_properties()
    assert props["neo4j.version"].startswith("5.26.")
    assert props["gds.version"].startswith("2.13.")
    assert neo4j_dist.dist_dir().name == f"neo4j-{props['neo4j.version']}"


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(neo4j_dist.CACHE_ENV, str(tmp_path))
    assert neo4j_dist.cache_root() == tmp_path
    assert not neo4j_dist.is_complete(neo4j_dist.dist_dir())


def test_neo4j_conf_is_loopback_with_plugins_unrestricted(tmp_path: Path) -> None:
    conf = neo4j_server.render_conf(tmp_path, tmp_path / "dist", 41001, 41002, neo4j_server.MEMORY)
    assert "server.bolt.listen_address=127.0.0.1:41001" in conf
    assert "server.http.advertised_address=127.0.0.1:41002" in conf
    assert "dbms.security.procedures.unrestricted=gds.*,apoc.*" in conf
    assert "dbms.security.auth_enabled=true" in conf
    assert "AlwaysPreTouch" not in conf and "--add-opens=java.base/java.nio=ALL-UNNAMED" in conf


def test_default_heap_is_a_quarter_of_memory_between_1_and_4_gb() -> None:
    gib = 2**30
    assert [neo4j_server.default_heap(r) for r in (0, 2 * gib, 6 * gib, 8 * gib, 24 * gib, 512 * gib)] == [
        "1024m",
        "1024m",
        "1536m",
        "2048m",
        "4096m",
        "4096m",
    ]
    assert neo4j_server.MEMORY["heap_initial"] == neo4j_server.MEMORY["heap_max"]
    conf = neo4j_server.render_conf(Path("/r"), Path("/d"), 1, 2, neo4j_server.MEMORY)
    assert f"server.memory.heap.max_size={neo4j_server.MEMORY['heap_max']}" in conf


def test_a_created_instance_keeps_its_password(tmp_path: Path) -> None:
    (tmp_path / "data" / "databases" / "system").mkdir(parents=True)
    assert neo4j_server._check_password(tmp_path, {"password": "first-pass"}, None) == "first-pass"
    with pytest.raises(ServiceError):
        neo4j_server._check_password(tmp_path, {"password": "first-pass"}, "other-pass")


def test_env_exports_only_running_services() -> None:
    neo = {
        "running": True,
        "bolt_uri": "bolt://127.0.0.1:1",
        "http_uri": "http://127.0.0.1:2",
        "user": "neo4j",
        "password": "pw",
    }
    pairs = dict(_exports({"neo4j": neo, "postgres": {"running": False}}, app_settings=True))
    assert pairs["GRAPHSTORE_TEST_NEO4J_HTTP"] == "http://127.0.0.1:2"
    assert pairs["GRAPHSTORE_GRAPH_STORE"] == "bolt://127.0.0.1:1"
    assert "GRAPHSTORE_TEST_DATABASE_URL" not in pairs


# ---- full lifecycle on throw-away run dirs (needs the binaries, not running servers) -----------------------


@pytest.fixture
def run_tmp() -> Iterator[Path]:
    """A mode-700 temp dir like `mktemp -d` (as root the postgres OS user cannot enter it)."""
    path = Path(tempfile.mkdtemp(prefix="gs-services-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_postgres_lifecycle(run_tmp: Path) -> None:
    try:
        postgres_server.pg_bindir()
    except ServiceError:
        pytest.skip("PostgreSQL binaries are not installed")
    info = postgres_server.start_postgres(run_tmp / "postgres")
    try:
        assert info["running"] and not info["already_running"]
        assert postgres_server.start_postgres(run_tmp / "postgres")["already_running"]
        assert info["url"].endswith(f":{info['port']}/graphstore")
    finally:
        assert postgres_server.stop_postgres(run_tmp / "postgres", purge=True)
    assert not state.pid_alive(info["pid"], info["pgdata"])
    assert not Path(info["cluster_dir"]).exists() and not (run_tmp / "postgres").exists()


@pytest.mark.slow
def test_neo4j_lifecycle(run_tmp: Path) -> None:
    if not neo4j_dist.is_complete(neo4j_dist.dist_dir()):
        pytest.skip("Neo4j jars are not cached yet (run `graphstore services start` once)")
    run_dir = run_tmp / "neo4j"
    info = neo4j_server.start_neo4j(
        run_dir, "lifecycle-pass", memory={"heap_max": "1g", "pagecache": "64m"}, warm_up=False
    )
    try:
        assert info["running"] and state.port_open(info["bolt_port"]) and state.port_open(info["http_port"])
        assert neo4j_server.start_neo4j(run_dir)["already_running"]
    finally:
        assert neo4j_server.stop_neo4j(run_dir, purge=True)
    assert not state.pid_alive(info["pid"])
    assert not state.port_open(info["bolt_port"]) and not run_dir.exists()
