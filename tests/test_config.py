"""Settings precedence (flags > env > file > defaults), masking, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphstore.config import load_settings, mask_url, resolve_settings
from graphstore.errors import ConfigError
from graphstore.safe_fs import UnsafePath


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in (
        "GRAPHSTORE_CONFIG",
        "GRAPHSTORE_DATA_DIR",
        "GRAPHSTORE_GRAPH_STORE",
        "GRAPHSTORE_DATABASE_URL",
        "GRAPHSTORE_NEO4J_PASSWORD",
        "GRAPHSTORE_NEO4J_USER",
        "GRAPHSTORE_BATCH_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def test_defaults_are_embedded():
    s = load_settings()
    assert s.data_dir == Path(s.data_dir) and str(s.data_dir).endswith("xdg/graphstore")
    assert not s.is_neo4j and s.graph_store_uri.endswith("graphs.lbdb")
    assert s.tracking_url.startswith("sqlite:///") and s.tracking_url.endswith("tracking.db")


def test_precedence(monkeypatch, tmp_path):
    cfg = tmp_path / "graphstore.toml"
    cfg.write_text('graph_store = "bolt://file:7687"\nneo4j_user = "fromfile"\nbatch_size = 5\n')
    s = load_settings()
    assert (s.graph_store, s.neo4j_user, s.batch_size) == ("bolt://file:7687", "fromfile", 5)
    monkeypatch.setenv("GRAPHSTORE_GRAPH_STORE", "neo4j://env:7687")
    s = load_settings()
    assert s.graph_store == "neo4j://env:7687" and s.neo4j_user == "fromfile" and s.is_neo4j
    s = load_settings({"graph_store": "/tmp/flag.lbdb", "neo4j_user": None})
    assert s.graph_store == "/tmp/flag.lbdb" and s.neo4j_user == "fromfile" and not s.is_neo4j


def test_explicit_config_and_section(tmp_path):
    cfg = tmp_path / "other.toml"
    cfg.write_text('[graphstore]\ndatabase_url = "postgresql+psycopg://u:secret@h/db"\n')
    s = load_settings(config=cfg)
    assert s.database_url.endswith("@h/db")
    assert "secret" not in str(s.masked()) and s.masked()["database_url"] == "postgresql+psycopg://u:****@h/db"


def test_password_masked(monkeypatch):
    monkeypatch.setenv("GRAPHSTORE_NEO4J_PASSWORD", "hunter22")
    masked = load_settings().masked()
    assert masked["neo4j_password"] == "****" and "hunter22" not in str(masked)
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_every_uri_setting_is_masked(monkeypatch):
    monkeypatch.setenv("GRAPHSTORE_GRAPH_STORE", "neo4j://neo4j:pw-store@h:7687?token=tok-store")
    monkeypatch.setenv("GRAPHSTORE_DATABASE_URL", "postgresql://u@h/db?password=pw-query&sslpassword=pw-ssl")
    masked = load_settings().masked()
    assert not any(secret in str(masked) for secret in ("pw-store", "tok-store", "pw-query", "pw-ssl"))
    assert masked["graph_store (effective)"] == "neo4j://neo4j:****@h:7687?token=****"
    assert masked["database_url"] == "postgresql://u@h/db?password=****&sslpassword=****"


def test_bad_inputs(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("graph_store = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config=bad)
    bad.write_text('graph_stor = "x"\n')
    with pytest.raises(ConfigError, match="Unknown settings.*graph_stor"):
        load_settings(config=bad)
    monkeypatch.setenv("GRAPHSTORE_BATCH_SIZE", "many")
    with pytest.raises(ConfigError, match="batch_size"):
        load_settings()


def test_each_setting_names_where_it_came_from(monkeypatch, tmp_path):
    """The file, a GRAPHSTORE_* variable, a flag and the default are told apart, per setting."""
    (tmp_path / "graphstore.toml").write_text('graph_store = "bolt://file:7687"\nneo4j_user = "u"\nbatch_size = 5\n')
    monkeypatch.setenv("GRAPHSTORE_NEO4J_USER", "env-user")
    resolved = resolve_settings({"batch_size": 7, "data_dir": None})
    assert resolved.config_file is not None and resolved.config_file.in_cwd
    assert resolved.config_file.label == "./graphstore.toml"
    assert resolved.origin("graph_store") == "./graphstore.toml"
    assert resolved.origin("neo4j_user") == "$GRAPHSTORE_NEO4J_USER"
    assert resolved.origin("batch_size") == "--batch-size" and resolved.settings.batch_size == 7
    assert resolved.origin("data_dir") == "default"
    assert resolved.from_file() == ["graph_store"]


@pytest.mark.parametrize("where", ["cwd", "explicit", "env", "home"])
def test_a_config_file_others_can_write_is_refused_wherever_it_is_found(monkeypatch, tmp_path, where):
    """Mode 666 is refused from every place a config file is read, before any setting of it is used."""
    folder = {"cwd": tmp_path, "home": tmp_path / ".config" / "graphstore"}.get(where, tmp_path / "elsewhere")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / ("config.toml" if where == "home" else "graphstore.toml")
    config.write_text('graph_store = "bolt://127.0.0.1:9"\n')
    config.chmod(0o666)
    if where == "env":
        monkeypatch.setenv("GRAPHSTORE_CONFIG", str(config))
    with pytest.raises(UnsafePath, match="writable by other users") as caught:
        load_settings(config=config if where == "explicit" else None)
    assert str(config.absolute()) in caught.value.message
    assert ("from the folder it runs in" in (caught.value.hint or "")) == (where == "cwd")
    config.chmod(0o600)
    assert load_settings(config=config if where == "explicit" else None).graph_store == "bolt://127.0.0.1:9"


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('neo4j_user = "r\xe9my"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(config=bad)
