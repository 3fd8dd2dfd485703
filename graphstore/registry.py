"""One registry for every pluggable name (models, datasets, graph kinds, analyses, named queries, ...).

A Registry maps names to entries. Entries register themselves at import time, by call or as a decorator:

    ANALYSES: Registry[AnalysisSpec] = Registry("analysis", package="graphstore.analysis", plural="analyses")
    ANALYSES.register("pagerank", spec)            # call
    @JOBS.register("train")                        # decorator: registers the decorated object
    def train_job(...): ...

With `package`, the first lookup imports every public module of that package (pkgutil), so adding an entry is
adding one file that registers itself. A `loader` fills the registry some other way (e.g. from data files).
An unknown name raises UnknownName (or the registry's subclass of it) with close matches and every known name.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar, overload

from graphstore.errors import GraphstoreError

T = TypeVar("T")
D = TypeVar("D")


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


def canonical_name(name: str) -> str:
    """The default key of a name: trimmed, lower case, '_' as '-' ('Small_CNN' -> 'small-cnn')."""
    return name.strip().lower().replace("_", "-")


class Registry(Generic[T]):
    """Name -> entry of type T, filled lazily by importing a package's modules (or by a loader) on first lookup."""

    def __init__(
        self,
        kind: str,
        package: str | None = None,
        *,
        plural: str | None = None,
        skip: Iterable[str] = (),
        loader: Callable[[Registry[T]], None] | None = None,
        normalise: Callable[[str], str] = canonical_name,
        error: type[UnknownName] = UnknownName,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.package = package
        self.skip = frozenset(skip)
        self.loader = loader
        self.normalise = normalise
        self.error = error
        self.hint = hint
        self._entries: dict[str, T] = {}
        self._state = "empty"  # empty -> loading -> loaded

    @overload
    def register(self, name: str) -> Callable[[D], D]: ...

    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name: str, entry: Any = None) -> Any:
        """Register `entry` under `name`; without an entry, a decorator registering the decorated object."""
        if entry is None:

            def decorate(obj: D) -> D:
                self._add(name, obj)  # type: ignore[arg-type]
                return obj

            return decorate
        return self._add(name, entry)

    def _add(self, name: str, entry: T) -> T:
        key = self.normalise(name)
        if not key:
            raise ValueError(f"A {self.kind} needs a name.")
        if key in self._entries and self._entries[key] is not entry and self._entries[key] != entry:
            raise ValueError(f"{self.kind} {key!r} is registered twice.")
        self._entries[key] = entry
        return entry

    def load(self) -> None:
        """Fill the registry once: import the package's public modules and/or run the loader."""
        if self._state != "empty":
            return
        self._state = "loading"
        try:
            if self.package is not None:
                package = importlib.import_module(self.package)
                for info in pkgutil.iter_modules(package.__path__):
                    if not info.name.startswith("_") and info.name not in self.skip:
                        importlib.import_module(f"{self.package}.{info.name}")
            if self.loader is not None:
                self.loader(self)
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
        """Registered names, sorted."""
        self.load()
        return sorted(self._entries)

    def entries(self) -> list[T]:
        """Registered entries, sorted by name."""
        return [self._entries[name] for name in self.names()]

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
