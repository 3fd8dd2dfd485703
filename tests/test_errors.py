"""Bad input gets a clear error that names the fix, and nothing is lost (issue: foundation)."""

from __future__ import annotations

import socket

import pytest

from graphstore.config import Settings
from graphstore.errors import ConfigError, GraphExists, QueryError, StoreUnavailable, TrackingError
from graphstore.persist import save_graph
from graphstore.store import open_store
from graphstore.store.queries import get_query
from graphstore.tracking import open_tracking
from tests.conftest import small_graph


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_neo4j_unreachable_names_uri_and_how_to_start():
    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(StoreUnavailable) as info:
        open_store(Settings(graph_store=uri, neo4j_password="x"))
    assert uri in info.value.message
    assert "graphstore services start" in info.value.hint and "docker compose" in info.value.hint


@pytest.mark.neo4j
def test_neo4j_wrong_credentials():
    from tests.servers import neo4j_params

    params = neo4j_params()
    with pytest.raises(StoreUnavailable, match="refused the credentials") as info:
        open_store(Settings(graph_store=params.uri, neo4j_user=params.user, neo4j_password="wrong-password"))
    assert "GRAPHSTORE_NEO4J_PASSWORD" in info.value.hint


def test_unknown_query_lists_known_ones():
    with pytest.raises(QueryError, match="Unknown query 'hub'") as info:
        get_query("hub")
    assert "hubs" in info.value.hint and "graph_summary" in info.value.hint


def test_missing_query_parameter():
    with pytest.raises(QueryError, match="needs parameter graph_id") as info:
        get_query("hubs").bind({"limit": "3"})
    assert "--param graph_id=" in info.value.hint


def test_database_url_that_does_not_parse():
    with pytest.raises(ConfigError) as info:
        open_tracking("postgres ql://nope")
    assert "postgresql+psycopg://" in str(info.value)


def test_database_newer_than_code(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    with open_tracking(url) as tracking:
        tracking.engine.dispose()
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    engine.dispose()
    with pytest.raises(TrackingError, match="newer"):
        open_tracking(url)


def test_graph_id_conflict_refused_and_nothing_lost(tmp_path):
    settings = Settings(data_dir=tmp_path)
    save_graph(settings, small_graph("dup"))
    with pytest.raises(GraphExists) as info:
        save_graph(settings, small_graph("dup"))
    assert "--replace" in info.value.hint
    with open_store(settings) as store:
        assert store.graph_info("dup").node_count == 9
    with open_tracking(settings.tracking_url) as tracking:
        assert tracking.get_graph("dup").status == "complete"


def test_interrupted_save_marks_both_places_incomplete(tmp_path):
    settings = Settings(data_dir=tmp_path)

    def interrupt(step: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_graph(settings, small_graph("cut"), on_progress=interrupt)
    with open_store(settings) as store:
        assert store.graph_info("cut").status == "incomplete"
    with open_tracking(settings.tracking_url) as tracking:
        record = tracking.get_graph("cut")
        assert record.status == "incomplete" and "KeyboardInterrupt" in record.error
    save_graph(settings, small_graph("cut"), resume=True)
    with open_tracking(settings.tracking_url) as tracking:
        assert tracking.get_graph("cut").status == "complete"
