"""One registry for every pluggable name (models, datasets, graph kinds, analyses, queries, pipelines, backends...).

A Registry maps names to entries. Every entry is a spec object that carries its own name, and registers itself at
import time with one call, the same for every registry:

    ANALYSES: Registry[AnalysisSpec] = Registry("analysis", "graphstore.analysis", handle="ANALYSES", ...)
    ANALYSES.register(AnalysisSpec("pagerank", PagerankParams, pagerank_client, ...))

Where entries come from (on the first lookup, so `--help` stays fast):

- `entries` (a package): its modules that register into this registry, i.e. whose source contains
  `<handle>.register(`. Only those are imported; helpers (base classes, runners, workers) never are, so no skip
  list is needed and adding an entry is adding one file that registers itself.
- `loader`: fills the registry some other way (e.g. named queries from their .cypher files).
- `GRAPHSTORE_PLUGINS`: a comma-separated list of modules (anything importable: a user's own package on
  PYTHONPATH) imported by every registry when it loads; a plugin module registers into whichever registries it
  likes, exactly as a built-in entry module does.

An unknown name raises UnknownName (or the registry's subclass of it) with close matches and every known name.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from graphstore.errors import GraphstoreError

T = TypeVar("T")

PLUGINS_ENV = "GRAPHSTORE_PLUGINS"


class UnknownName(GraphstoreError):
    """A name is not registered; the message offers close matches and the hint lists every known name."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        name: str = "",
        known: tuple[str, ...] = (),
        close: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, hint)
        self.name = name
        self.known = known
        self.close = close


class DuplicateName(GraphstoreError, ValueError):
    """Two different entries claim one name (e.g. a plugin registering a built-in model's name)."""


class PluginError(GraphstoreError):
    """A module named in GRAPHSTORE_PLUGINS cannot be imported."""


def canonical_name(name: str) -> str:
    """The default key of a name: trimmed, lower case, '_' as '-' ('Small_CNN' -> 'small-cnn')."""
    return name.strip().lower().replace("_", "-")


def name_of(entry: Any) -> tuple[str]:
    """The default keys of an entry: its `name` attribute."""
    return (entry.name,)


def plugin_modules() -> list[str]:
    """The modules GRAPHSTORE_PLUGINS names (comma-separated, blanks ignored)."""
    return [part.strip() for part in os.environ.get(PLUGINS_ENV, "").split(",") if part.strip()]


def import_plugins() -> None:
    """Import every plugin module (once per process: Python caches modules); a missing one is a PluginError."""
    for module in plugin_modules():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise PluginError(
                f"Cannot import plugin module {module!r} named in ${PLUGINS_ENV}: {type(exc).__name__}: {exc}.",
                f"Install the module or put its folder on PYTHONPATH, or remove it from ${PLUGINS_ENV}.",
            ) from exc


def registering_modules(package: str, marker: str) -> list[str]:
    """The modules of `package` whose source contains `marker` (read as text, not imported); a module without
    readable source (a .pyc-only install) is listed too, so nothing that might register is missed."""
    found = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name.startswith("_"):
            continue
        name = f"{package}.{info.name}"
        spec = info.module_finder.find_spec(name, None)  # type: ignore[call-arg]
        loader = getattr(spec, "loader", None)
        source = loader.get_source(name) if loader is not None and hasattr(loader, "get_source") else None
        if source is None or marker in source:
            found.append(name)
    return found


class Registry(Generic[T]):
    """Name -> entry of type T, filled on first lookup from the modules that register into it (see the module
    docstring), a loader, and GRAPHSTORE_PLUGINS."""

    def __init__(
        self,
        kind: str,
        entries: str | None = None,
        *,
        handle: str = "",
        plural: str | None = None,
        keys: Callable[[T], Iterable[str]] = name_of,
        loader: Callable[[Registry[T]], None] | None = None,
        normalise: Callable[[str], str] = canonical_name,
        error: type[UnknownName] = UnknownName,
        hint: str = "",
    ) -> None:
        if entries is not None and not handle:
            raise ValueError("A registry that finds its entries in a package needs the handle they register with.")
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.package = entries
        self.marker = f"{handle}.register("
        self.keys = keys
        self.loader = loader
        self.normalise = normalise
        self.error = error
        self.hint = hint
        self._entries: dict[str, T] = {}
        self._state = "empty"  # empty -> loading -> loaded

    def register(self, entry: T) -> T:
        """Register `entry` under its name (or its keys, e.g. a store backend's URI schemes); returns it."""
        for name in self.keys(entry):
            key = self.normalise(name)
            if not key:
                raise ValueError(f"A {self.kind} needs a name.")
            known = self._entries.get(key)
            if known is not None and known is not entry and known != entry:
                raise DuplicateName(
                    f"{self.kind} {key!r} is registered twice.",
                    f"Give one of them another name (a plugin cannot replace a built-in {self.kind}).",
                )
            self._entries[key] = entry
        return entry

    def load(self) -> None:
        """Fill the registry once: the package's registering modules, the loader, then the plugins."""
        if self._state != "empty":
            return
        self._state = "loading"
        try:
            if self.package is not None:
                for module in registering_modules(self.package, self.marker):
                    importlib.import_module(module)
            if self.loader is not None:
                self.loader(self)
            import_plugins()
        except BaseException:
            self._state = "empty"
            raise
        self._state = "loaded"

    def get(self, name: str) -> T:
        """The entry registered as `name`; an unknown name raises the registry's UnknownName."""
        self.load()
        key = self.normalise(name)
        if key not in self._entries:
            raise self.unknown(name)
        return self._entries[key]

    def unknown(self, name: str) -> UnknownName:
        """The error for an unknown name: close matches (difflib) in the message, every known name in the hint."""
        known = tuple(self.names())
        close = tuple(difflib.get_close_matches(self.normalise(name), known, n=3, cutoff=0.6))
        message = f"Unknown {self.kind} {name!r}."
        if close:
            message += f" Did you mean {' or '.join(close)}?"
        hint = f"Known {self.plural}: {', '.join(known) or '(none)'}."
        if self.hint:
            hint += f" {self.hint}"
        return self.error(message, hint, name=name, known=known, close=close)

    def names(self) -> list[str]:
        """Registered names (keys), sorted."""
        self.load()
        return sorted(self._entries)

    def entries(self) -> list[T]:
        """Registered entries, sorted by name; an entry under several keys is listed once."""
        return list({id(e): e for e in (self._entries[name] for name in self.names())}.values())

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, sorted by name."""
        return [(name, self._entries[name]) for name in self.names()]

    def __iter__(self) -> Iterator[str]:
        """Names, sorted (as iterating a dict gives its keys)."""
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        self.load()
        return isinstance(name, str) and self.normalise(name) in self._entries

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} registered)"
