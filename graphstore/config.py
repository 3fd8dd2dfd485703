"""One Settings object, resolved from flags > environment (GRAPHSTORE_*) > config file (TOML) > defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from graphstore.errors import ConfigError
from graphstore.masking import mask_text, mask_url

__all__ = ["Settings", "config_file_path", "default_data_dir", "load_settings", "mask_text", "mask_url"]

ENV_PREFIX = "GRAPHSTORE_"
SECRET_FIELDS = frozenset({"neo4j_password"})
NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


def default_data_dir() -> Path:
    """XDG data home, so the embedded store and SQLite DB survive across working directories."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "graphstore"


@dataclass(frozen=True)
class Settings:
    """Where graphstore keeps graphs and runs, and how it reaches servers."""

    data_dir: Path = field(default_factory=default_data_dir, metadata={"help": "Directory for embedded data."})
    graph_store: str = field(
        default="",
        metadata={"help": "Graph store URI: a path (embedded Ladybug) or bolt:// / neo4j:// / neo4j+s:// (Neo4j)."},
    )
    neo4j_user: str = field(default="neo4j", metadata={"help": "Neo4j user name."})
    neo4j_password: str = field(default="", metadata={"help": "Neo4j password (empty when auth is disabled)."})
    neo4j_database: str = field(default="neo4j", metadata={"help": "Neo4j database name."})
    database_url: str = field(
        default="",
        metadata={"help": "Tracking DB URL (SQLAlchemy), e.g. postgresql+psycopg://user@host/db; SQLite by default."},
    )
    batch_size: int = field(default=20_000, metadata={"help": "Rows per write batch to the graph store."})
    neo4j_writers: int = field(
        default=2, metadata={"help": "Parallel Neo4j transactions writing relationships (node-disjoint lanes)."}
    )

    def __post_init__(self) -> None:
        """Refuse settings no command could use (a batch of zero rows would write nothing and report success)."""
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(
                f"Setting batch_size={self.batch_size!r} must be a positive number of rows.",
                "Fix batch_size in the config file, GRAPHSTORE_BATCH_SIZE or --batch-size (e.g. 20000).",
            )
        if isinstance(self.neo4j_writers, bool) or not isinstance(self.neo4j_writers, int) or self.neo4j_writers < 1:
            raise ConfigError(
                f"Setting neo4j_writers={self.neo4j_writers!r} must be a positive number of writers.",
                "Fix neo4j_writers in the config file or GRAPHSTORE_NEO4J_WRITERS (e.g. 2, one per server core).",
            )

    @property
    def graph_store_uri(self) -> str:
        """The effective graph store URI (embedded path under the data dir by default)."""
        return self.graph_store or str(Path(self.data_dir) / "graphs.lbdb")

    @property
    def is_neo4j(self) -> bool:
        return self.graph_store_uri.startswith(NEO4J_SCHEMES)

    @property
    def tracking_url(self) -> str:
        """The effective tracking DB URL (SQLite in the data dir by default)."""
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'tracking.db'}"

    def masked(self) -> dict[str, str]:
        """Every setting as text, secrets masked, plus the derived effective URIs."""
        out = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        for name in SECRET_FIELDS:
            out[name] = "****" if out[name] else "(empty)"
        out["graph_store (effective)"] = self.graph_store_uri
        out["database_url (effective)"] = self.tracking_url
        return {key: mask_text(value) for key, value in out.items()}


def config_file_path(explicit: str | os.PathLike | None = None) -> Path | None:
    """The config file in effect: --config, $GRAPHSTORE_CONFIG, ./graphstore.toml, ~/.config/graphstore/config.toml."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist.", "Pass an existing TOML file to --config.")
        return path
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    if env:
        return config_file_path(env)
    for candidate in (Path("graphstore.toml"), Path.home() / ".config" / "graphstore" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def _coerce(name: str, raw: Any) -> Any:
    """Turn a raw value from env/file/flag into the field's type, with an error that names the setting."""
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind in ("int", int):
            return int(raw)
        if kind in ("Path", Path):
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Setting {name}={raw!r} is not a valid {kind}.") from exc


def _from_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from exc
    data = data.get("graphstore", data)
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown settings in {path}: {', '.join(unknown)}", f"Known: {', '.join(sorted(known))}")
    return data


def _from_env() -> dict[str, Any]:
    out = {}
    for f in fields(Settings):
        value = os.environ.get(ENV_PREFIX + f.name.upper())
        if value is not None and value != "":
            out[f.name] = value
    return out


def load_settings(flags: dict[str, Any] | None = None, config: str | os.PathLike | None = None) -> Settings:
    """Resolve settings: flags (non-None) override env, env overrides the file, the file overrides defaults."""
    merged: dict[str, Any] = {}
    merged.update(_from_file(config_file_path(config)))
    merged.update(_from_env())
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    return replace(Settings(), **{k: _coerce(k, v) for k, v in merged.items()})
