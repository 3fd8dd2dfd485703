"""torch.fx tracing for the data-flow unit maps (docs/METHODS.md C1a) and the choice of unit layers by name or glob.

Unit layers (Linear, Conv1d/2d/3d), nn.MultiheadAttention and childless torch.nn modules are leaves. With `layers=`
chosen, a module torch.fx cannot trace that holds no chosen layer is retried as one opaque leaf.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from graphstore.errors import GraphstoreError

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
UNIT_MODULES = (nn.Linear, *CONV)


class UntraceableModel(GraphstoreError):
    """torch.fx cannot follow the model's forward (data-dependent control flow or an unsupported operation)."""


class LayerPatternError(GraphstoreError):
    """A `layers=` name or pattern matches no unit layer of the model."""


class LeafTracer(fx.Tracer):
    """Keeps unit layers, attention and childless torch.nn modules as leaves; remembers where tracing failed."""

    def __init__(self, opaque: set[str]) -> None:
        super().__init__()
        self.opaque = opaque
        self.failed_in: str | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, (*UNIT_MODULES, nn.MultiheadAttention)) or module_qualified_name in self.opaque:
            return True
        return m.__module__.startswith("torch.nn") and not any(True for _ in m.children())

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = self.path_of_module(m)
            raise


class TraceFailed(Exception):
    """torch.fx stopped inside module `path` (the root is "")."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(detail)
        self.path = path
        self.detail = detail


@contextmanager
def reference_attention() -> Iterator[None]:
    """MHA's fused fast path off: encoder layers run their reference path, which fx traces and hooks observe."""
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)


def trace(model: nn.Module, opaque: set[str]) -> fx.GraphModule:
    """Trace with torch.fx (under reference_attention, so encoder layers take their traceable reference path)."""
    tracer = LeafTracer(opaque)
    try:
        with reference_attention():
            graph = tracer.trace(model)
    except Exception as exc:
        raise TraceFailed(tracer.failed_in or "", f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
    return fx.GraphModule(model, graph)


def unit_modules_under(model: nn.Module, path: str) -> list[str]:
    """Names of the unit layers (and attention modules) inside module `path`."""
    prefix = f"{path}." if path else ""
    return [
        n
        for n, m in model.named_modules()
        if (n == path or n.startswith(prefix)) and isinstance(m, (*UNIT_MODULES, nn.MultiheadAttention))
    ]


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether a unit layer name matches a name or glob pattern (or lies inside a module so named)."""
    return any(fnmatch.fnmatchcase(name, p) or name.startswith(f"{p}.") for p in patterns)


def traced(model: nn.Module, layers: Sequence[str] | None) -> tuple[fx.GraphModule, set[str]]:
    """Trace; with layers= chosen, a module that fails and holds no chosen layer is retried as one opaque step."""
    opaque: set[str] = set()
    while True:
        try:
            return trace(model, opaque), opaque
        except TraceFailed as exc:
            inside = unit_modules_under(model, exc.path)
            blocked = not layers or not exc.path or exc.path in opaque or any(matches(n, layers) for n in inside)
            if blocked:
                where = exc.path or type(model).__name__
                raise UntraceableModel(
                    f"torch.fx cannot trace module {where} ({type(model.get_submodule(exc.path)).__name__}): "
                    f"{exc.detail}",
                    f"Pass layers= naming unit layers outside {where} (it is then kept as one opaque step), or "
                    "remove data-dependent control flow from its forward.",
                ) from exc
            opaque.add(exc.path)


def choose_layers(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    """The unit layers matching names or glob patterns, in forward order; a pattern matching none is an error."""
    if not patterns:
        return list(names)
    missing = [p for p in patterns if not any(matches(n, [p]) for n in names)]
    if missing:
        close = sorted({c for p in missing for c in difflib.get_close_matches(p, names, n=5, cutoff=0.5)})
        raise LayerPatternError(
            f"No unit layer matches {', '.join(repr(p) for p in missing)}.",
            f"Close names: {', '.join(close)}."
            if close
            else f"Unit layers: {', '.join(names[:12])}" + (", ..." if len(names) > 12 else "."),
        )
    return [n for n in names if matches(n, patterns)]
