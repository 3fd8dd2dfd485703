"""A small plug-in registry: each module of a package registers entries at import; add one = add a file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphstore.nn import params as P
from graphstore.nn.errors import UnknownName

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One registered name: its parameter dataclass, its build function and a one-line summary."""

    name: str
    params: type
    build: F
    summary: str

    def make_params(self, values: dict[str, Any] | None = None) -> Any:
        """The parameter dataclass from a mapping of (text or typed) values."""
        return P.from_mapping(self.params, values, f"{self.kind_label} {self.name!r}")

    @property
    def kind_label(self) -> str:
        """'model' or 'dataset', from the build function's module."""
        return "dataset" if ".datasets." in self.build.__module__ else "model"


class Registry(Generic[F]):
    """Name -> Entry, filled by importing every public module of `package` on first use."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, Entry[F]] = {}
        self._loaded = False

    def register(self, name: str, params: type, summary: str = "") -> Callable[[F], F]:
        """Decorator registering `build` under `name` with parameter dataclass `params`."""

        def decorate(build: F) -> F:
            if name in self._entries and self._entries[name].build is not build:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            text = summary or (params.__doc__ or "").strip().splitlines()[0]
            self._entries[name] = Entry(name, params, build, text)
            return build

        return decorate

    def _load(self) -> None:
        """Import every module of the package (skipping private ones) so their registrations run."""
        if self._loaded:
            return
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_") and info.name not in ("base",):
                importlib.import_module(f"{self.package}.{info.name}")
        self._loaded = True

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Entry[F]:
        """The entry for `name`; an unknown name raises UnknownName listing the known ones."""
        self._load()
        key = name.strip().lower().replace("_", "-")
        if key not in self._entries:
            raise UnknownName(
                f"Unknown {self.kind} {name!r}. Known {self.kind}s: {', '.join(self.names())}.",
                f"Pick one of the known {self.kind}s; `graphstore train --list` shows their options.",
            )
        return self._entries[key]

    def entries(self) -> list[Entry[F]]:
        """All entries, sorted by name."""
        return [self._entries[n] for n in self.names()]
