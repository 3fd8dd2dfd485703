"""What a model or dataset entry is: a name, a parameter dataclass and a build function (graphstore.registry holds
them: MODELS in graphstore.nn.models, DATASETS in graphstore.nn.datasets)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from graphstore import params as P
from graphstore.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])


def first_line(text: str | None) -> str:
    """The first line of a docstring (empty when there is none)."""
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


@dataclass(frozen=True)
class Builder(Generic[F]):
    """One registered name: its parameter dataclass, its build function and a one-line summary (default: the first
    line of the dataclass's docstring)."""

    what: ClassVar[str] = "entry"

    name: str
    params: type
    build: F
    summary: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", self.summary or first_line(self.params.__doc__))

    def make_params(self, values: Mapping[str, Any] | None = None) -> Any:
        """The parameter dataclass from a mapping of (text or typed) values."""
        return P.from_mapping(self.params, values, f"{self.what} {self.name!r}")


def builder_registry(kind: str, package: str, handle: str) -> Registry[Any]:
    """The registry of one kind of builder (model, dataset): found in `package`, listed by `graphstore train --list`."""
    return Registry(
        kind, package, handle=handle, hint=f"`graphstore train --list` shows the {kind}s and their options."
    )
