"""graphstore: neural networks as graphs - train, prune, extract, store (Neo4j / embedded) and analyse.

`import graphstore as gs` gives the Python API (docs/API.md): gs.extract, gs.ingest, gs.connect, gs.prune, gs.Graph
and the errors they raise. Each name loads its module on first use (PEP 562), so importing the package costs almost
nothing.

`gs.extract` shares its name with the subpackage graphstore.extract (the graph kinds), which Python binds as this
package's attribute whenever it is imported. So the subpackage is made callable: `gs.extract(model, data, kind)`
calls graphstore.api.extract.extract, while `graphstore.extract.hooks` and every import of it work as before.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# public name -> the module of graphstore.api (or below) that defines it; nothing is imported before it is asked for
EXPORTS: dict[str, str] = {
    "extract": "graphstore.api.kinds",
    "KINDS": "graphstore.api.kinds",
    "UnknownKind": "graphstore.api.kinds",
    "ingest": "graphstore.api.ingestion",
    "state_dict_sha256": "graphstore.api.ingestion",
    "model_record": "graphstore.api.ingestion",
    "connect": "graphstore.api.session",
    "Session": "graphstore.api.session",
    "Graph": "graphstore.graph",
    "GraphstoreError": "graphstore.errors",
    "DataError": "graphstore.extract.hooks_data",
    "LayerPatternError": "graphstore.extract.dataflow_trace",
    "UntraceableModel": "graphstore.extract.dataflow_trace",
    "HookError": "graphstore.extract.hooks_taps",
    "KindDoesNotApply": "graphstore.extract.registry",
    "TableError": "graphstore.convert",
    "PruningError": "graphstore.pruning.common",
}
# public name -> a module of the API exposed whole (gs.prune.imp, gs.prune.apply_masks, ...)
MODULES: dict[str, str] = {"prune": "graphstore.api.prune"}
PUBLIC = tuple(sorted([*EXPORTS, *MODULES]))

__all__ = ["__version__", *PUBLIC]


class CallableExtract(types.ModuleType):
    """The graphstore.extract subpackage, callable as gs.extract (graphstore.api.extract.extract)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return importlib.import_module(EXPORTS["extract"]).extract(*args, **kwargs)


class Package(types.ModuleType):
    """This package's module type: binding the graphstore.extract subpackage makes it callable."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "extract" and type(value) is types.ModuleType:
            value.__class__ = CallableExtract
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    """gs.<name> from its module, loaded on first access (PEP 562); submodules import as usual."""
    if name == "extract":
        return importlib.import_module("graphstore.extract")  # binds itself, callable, through Package.__setattr__
    if name in MODULES:
        module = importlib.import_module(MODULES[name])
        globals()[name] = module
        return module
    if name in EXPORTS:
        value = getattr(importlib.import_module(EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *PUBLIC])


sys.modules[__name__].__class__ = Package
