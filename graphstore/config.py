"""One Settings object, resolved from flags > environment (GRAPHSTORE_*) > config file (TOML) > defaults.

A config file decides where graphs and passwords go, so it is trusted only when it belongs to the user (or root) and
no other user can write it (graphstore.safe_fs); otherwise it is refused. Each setting remembers where it came from
(`Resolved.origins`), so `config show` and connection messages can name the file that set a server address.

Which graph store a URI means is the scheme's: STORE_BACKENDS maps URI schemes to backends (a path or `file:` is the
embedded store). The backends themselves live in the store layer (graphstore/store/backends/, one module each, or a
GRAPHSTORE_PLUGINS module) and register here on first lookup, so this module never imports a driver.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from graphstore.errors import ConfigError
from graphstore.masking import mask_text, mask_url
from graphstore.registry import Registry, UnknownName
from graphstore.safe_fs import UnsafePath, read_trusted_bytes

__all__ = [
    "ConfigFile",
    "Resolved",
    "STORE_BACKENDS",
    "Settings",
    "StoreBackend",
    "config_file_path",
    "default_data_dir",
    "find_config_file",
    "load_settings",
    "mask_text",
    "mask_url",
    "resolve_settings",
    "store_scheme",
]

ENV_PREFIX = "GRAPHSTORE_"
SECRET_FIELDS = frozenset({"neo4j_password"})
URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
FILE_SCHEME = "file"


class UnknownStoreScheme(UnknownName, ConfigError):
    """A graph store URI names a scheme no backend registered."""


@dataclass(frozen=True)
class StoreBackend:
    """A graph store backend: its name, the URI schemes that select it, and `open(settings)`, which returns a
    graphstore.store.base.GraphStore. `shared`: several processes may open it at once (a server), not just one."""

    name: str
    schemes: tuple[str, ...]
    open: Callable[[Settings], Any]
    summary: str = ""
    shared: bool = False


STORE_BACKENDS: Registry[StoreBackend] = Registry(
    "graph store scheme",
    "graphstore.store.backends",
    handle="STORE_BACKENDS",
    keys=lambda backend: backend.schemes,
    normalise=lambda scheme: scheme.strip().lower(),
    error=UnknownStoreScheme,
    hint="A path (or file:PATH) is the embedded store; set graph_store, GRAPHSTORE_GRAPH_STORE or --graph-store.",
)


def store_scheme(uri: str) -> str:
    """The scheme that picks a URI's backend: `bolt` for bolt://host, `file` for a path or a file: URI."""
    match = URI_SCHEME.match(uri)
    if match:
        return match.group(1).lower()
    return FILE_SCHEME


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
    def store_backend(self) -> StoreBackend:
        """The backend the graph store URI's scheme selects (STORE_BACKENDS); an unknown scheme lists the known."""
        return STORE_BACKENDS.get(store_scheme(self.graph_store_uri))

    @property
    def is_neo4j(self) -> bool:
        """Whether the graph store is a Neo4j server (the backend registered for the URI's scheme is `neo4j`)."""
        return self.store_backend.name == "neo4j"

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


CWD_CONFIG = Path("graphstore.toml")
CWD_CHOICE = "found in the current folder"
CWD_HINT = (
    "graphstore reads ./graphstore.toml from the folder it runs in: remove the file if you did not write it, run "
    "graphstore from another folder (or pass --config), or make it yours and not writable by others (chmod go-w)."
)


@dataclass(frozen=True)
class ConfigFile:
    """The config file in effect and how it was chosen (--config, $GRAPHSTORE_CONFIG, current folder, home)."""

    path: Path
    chosen_by: str

    @property
    def in_cwd(self) -> bool:
        """Whether it is ./graphstore.toml, picked up only because of the folder the command runs in."""
        return self.chosen_by == CWD_CHOICE

    @property
    def label(self) -> str:
        """How messages name it: ./graphstore.toml for the current folder's file, else its path."""
        return f"./{CWD_CONFIG}" if self.in_cwd else str(self.path.absolute())


def find_config_file(explicit: str | os.PathLike | None = None) -> ConfigFile | None:
    """The config file: --config, $GRAPHSTORE_CONFIG, ./graphstore.toml, ~/.config/graphstore/config.toml."""
    for option, given in (("--config", explicit), ("$GRAPHSTORE_CONFIG", os.environ.get(ENV_PREFIX + "CONFIG"))):
        if given:
            path = Path(given)
            if not path.is_file():
                raise ConfigError(
                    f"Config file {path} (from {option}) does not exist.", f"Pass an existing TOML file to {option}."
                )
            return ConfigFile(path, f"given by {option}")
    if CWD_CONFIG.is_file():
        return ConfigFile(CWD_CONFIG, CWD_CHOICE)
    home = Path.home() / ".config" / "graphstore" / "config.toml"
    return ConfigFile(home, "found in your home folder") if home.is_file() else None


def config_file_path(explicit: str | os.PathLike | None = None) -> Path | None:
    """The path of the config file in effect (see find_config_file), or None."""
    found = find_config_file(explicit)
    return found.path if found else None


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


def _from_file(found: ConfigFile | None) -> dict[str, Any]:
    """The settings a config file sets; a file another user owns or can write is refused (UnsafePath)."""
    if found is None:
        return {}
    path = found.path.absolute()
    try:
        raw = read_trusted_bytes(path, f"config file {found.chosen_by}")
    except UnsafePath as exc:
        raise UnsafePath(exc.message, CWD_HINT if found.in_cwd else exc.hint) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {path} is not UTF-8 text: {exc}", "Save it as UTF-8.") from exc
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


@dataclass(frozen=True)
class Resolved:
    """Settings and, per setting, where its value came from: a flag, a GRAPHSTORE_* variable, the file, a default."""

    settings: Settings
    origins: dict[str, str]
    config_file: ConfigFile | None

    def origin(self, name: str) -> str:
        """Where setting `name` came from, e.g. "./graphstore.toml", "$GRAPHSTORE_GRAPH_STORE" or "default"."""
        return self.origins.get(name, "default")

    def from_file(self) -> list[str]:
        """The settings the config file decided (not overridden by the environment or a flag)."""
        label = self.config_file.label if self.config_file else None
        return [name for name, origin in self.origins.items() if origin == label]


def resolve_settings(flags: dict[str, Any] | None = None, config: str | os.PathLike | None = None) -> Resolved:
    """Resolve settings: flags (non-None) override env, env overrides the file, the file overrides defaults."""
    found = find_config_file(config)
    layers = [
        (found.label if found else "", _from_file(found)),
        *((f"${ENV_PREFIX}{name.upper()}", {name: value}) for name, value in _from_env().items()),
        *((f"--{name.replace('_', '-')}", {name: v}) for name, v in (flags or {}).items() if v is not None),
    ]
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, values in layers:
        merged.update(values)
        origins.update(dict.fromkeys(values, origin))
    settings = replace(Settings(), **{k: _coerce(k, v) for k, v in merged.items()})
    return Resolved(settings, origins, found)


def load_settings(flags: dict[str, Any] | None = None, config: str | os.PathLike | None = None) -> Settings:
    """The resolved Settings (see resolve_settings)."""
    return resolve_settings(flags, config).settings
