"""Model and dataset registries: each module of a package registers a parameter dataclass and a build function.

Both are graphstore.registry.Registry instances underneath (lazy discovery of the package's modules, one
UnknownName error with close matches); this module adds the (params, build, summary) entry they share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphstore import params as P
from graphstore.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One registered name: its parameter dataclass, its build function, a one-line summary and its kind."""

    name: str
    params: type
    build: F
    summary: str
    kind_label: str = "model"

    def make_params(self, values: Mapping[str, Any] | None = None) -> Any:
        """The parameter dataclass from a mapping of (text or typed) values."""
        return P.from_mapping(self.params, values, f"{self.kind_label} {self.name!r}")


class BuilderRegistry(Generic[F]):
    """Name -> Entry(params, build), filled by importing every public module of `package` on first use."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.registry: Registry[Entry[F]] = Registry(
            kind,
            package,
            skip=("base", "common"),
            hint=f"`graphstore train --list` shows the {kind}s and their options.",
        )

    def register(self, name: str, params: type, summary: str = "") -> Callable[[F], F]:
        """Decorator registering `build` under `name` with parameter dataclass `params`."""

        def decorate(build: F) -> F:
            text = summary or (params.__doc__ or "").strip().splitlines()[0]
            key = self.registry.normalise(name)
            self.registry.register(name, Entry(key, params, build, text, self.kind))
            return build

        return decorate

    def get(self, name: str) -> Entry[F]:
        """The entry for `name`; an unknown name raises UnknownName with close matches and the known names."""
        return self.registry.get(name)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return self.registry.names()

    def entries(self) -> list[Entry[F]]:
        """All entries, sorted by name."""
        return self.registry.entries()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.registry
