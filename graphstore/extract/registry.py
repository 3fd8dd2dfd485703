"""The registry of graph kinds: name -> parameter dataclass + extraction function + where it applies.

Contract (how a kind plugs in - `graphstore ingest` and `graphstore extract` need nothing else):

1. Add one module under graphstore/extract/ (or in a plugin module named in GRAPHSTORE_PLUGINS). KINDS (a
   graphstore.registry.Registry) imports, on first use, the modules of the package that call `KINDS.register(`, so
   the module registers itself at import time, like the model, dataset and analysis registries do.
2. In it, define a parameter dataclass: one field per option, `metadata={"help": ...}` (optionally
   `"choices"`); defaults are the docs/METHODS.md defaults. Field names shared with ingest's common options are set
   by those options: `split` (--split), `limit` (--limit), `k` (--k), `layers` (--layers), `device` (--device),
   `batch_size` (--batch-size). Any other field is set with `--opt KEY=VALUE` or `--opt KIND.KEY=VALUE`.
3. Define the extraction function and register it:

       def multilayer_graph(checkpoint: Checkpoint, data: LoadedDataset | None, params: MultilayerParams,
                            graph_id: str) -> Graph: ...

       KINDS.register(GraphKind("multilayer", MultilayerParams, multilayer_graph, applies=requires_conv,
                                check=check_multilayer, report="multilayer"))

   - `checkpoint`: graphstore.nn.checkpoint.Checkpoint (`checkpoint.build_model()` gives the trained model with
     masks applied, in eval mode; `checkpoint.masks` is keyed by parameter name, "conv1.weight", True = keep).
   - `data`: the LoadedDataset (the checkpoint's dataset unless the user chose another, already checked to match
     the model's input shape and class count) when `needs_data=True`, else None.
   - returns one Graph whose id is `graph_id` (kind = the registered name), or a list of Graphs when one run
     yields several (their ids must then be what `ids(params, graph_id)` announces, e.g. knn's `<id>-k4`).
     Put every parameter that shaped the graph in `graph.params` (`dataclasses.asdict(params)` plus counts
     worth keeping, e.g. dropped units); ingest adds the checkpoint, dataset and timing.
   - raise graphstore.errors.GraphstoreError (message + hint naming the fix) for bad input.
4. Optional hooks: `applies(checkpoint, model) -> str | None` returns why the kind does not apply to this
   model (None = it applies; helpers below: any_model, requires_conv, requires_multiclass);
   `check(checkpoint, model, data, params) -> None` validates parameters before any extraction starts (layer
   names, k against the sample count), so ingest fails fast; `ids(params, graph_id) -> list[str]` names the
   graphs one call produces (default: [graph_id]); `report` names the section of a graph report that draws this
   kind (graphstore.report.graphs registers a drawer per section name; empty: only the common sections).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphstore import params as P
from graphstore.errors import GraphstoreError
from graphstore.registry import Registry, UnknownName, canonical_name

if TYPE_CHECKING:
    from torch import nn

    from graphstore.graph import Graph
    from graphstore.nn.checkpoint import Checkpoint
    from graphstore.nn.datasets.base import LoadedDataset

Build = Callable[..., "Graph | list[Graph]"]
Applies = Callable[["Checkpoint", "nn.Module"], "str | None"]
Check = Callable[["Checkpoint", "nn.Module", "LoadedDataset | None", Any], None]
Ids = Callable[[Any, str], list[str]]


class UnknownGraphKind(UnknownName):
    """A graph kind is not registered."""


class KindDoesNotApply(GraphstoreError):
    """A graph kind cannot be extracted from this model (e.g. multilayer from an MLP)."""


def any_model(checkpoint: Checkpoint, model: nn.Module) -> str | None:
    """Every model qualifies."""
    return None


def requires_conv(checkpoint: Checkpoint, model: nn.Module) -> str | None:
    """Kinds built on convolutional feature maps need at least one Conv2d layer."""
    from torch import nn  # deferred: the kind registry is read without torch; only this check needs it

    if any(isinstance(m, nn.Conv2d) for _, m in model.prunable_layers()):  # type: ignore[attr-defined,operator]
        return None
    return f"it needs convolutional layers and {checkpoint.model.name} has none"


def requires_multiclass(checkpoint: Checkpoint, model: nn.Module) -> str | None:
    """Kinds that group samples by class need one integer label per sample."""
    task = checkpoint.data_info.task
    return None if task == "multiclass" else f"it needs single-label classes and the data is {task}"


def single_id(params: Any, graph_id: str) -> list[str]:
    """The default: one graph, with the id it was given."""
    return [graph_id]


@dataclass(frozen=True)
class GraphKind:
    """One registered kind of graph: name, parameter dataclass, extraction function and where it applies."""

    name: str
    params: type
    build: Build
    needs_data: bool = True
    applies: Applies = any_model
    check: Check | None = None
    ids: Ids = single_id
    summary: str = ""  # default: the first line of the function's (or the dataclass's) docstring
    report: str = ""  # the graph report section that draws this kind

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", normalise(self.name))
        doc = (self.build.__doc__ or self.params.__doc__ or "").strip().splitlines()
        object.__setattr__(self, "summary", self.summary or (doc[0] if doc else ""))

    def make_params(self, values: dict[str, Any] | None = None) -> Any:
        """The parameter dataclass from a mapping of text or typed values (unknown keys are an error)."""
        return P.from_mapping(self.params, values, f"graph kind {self.name!r}")

    def field_names(self) -> set[str]:
        """Names of the parameter fields."""
        return {f.name for f in dataclasses.fields(self.params)}

    def why_not(self, checkpoint: Checkpoint, model: nn.Module) -> str | None:
        """None when the kind applies to this model, else the reason."""
        return self.applies(checkpoint, model)


def normalise(name: str) -> str:
    """'class_graph', 'Class-Graph' -> 'class-graph'."""
    return canonical_name(name)


KINDS: Registry[GraphKind] = Registry(
    "graph kind",
    "graphstore.extract",
    handle="KINDS",
    error=UnknownGraphKind,
    hint="See `graphstore ingest --list`.",
)


def kinds() -> list[GraphKind]:
    """Every registered kind, sorted by name."""
    return KINDS.entries()


def get_kind(name: str) -> GraphKind:
    """The kind registered as `name`; an unknown one names close matches and lists the known ones."""
    return KINDS.get(name)
