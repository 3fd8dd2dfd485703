"""Ingesting any PyTorch model: the one code path of `gs.ingest(model, data)` and `graphstore ingest --model`.

It plans the asked kinds (graphstore.extract.model_kinds) with their parameters and graph ids, checks everything it
can before the first write (kinds and parameters, ids already stored, one forward of the data's first input, the
model's fx trace and every `layers` pattern), then extracts and stores each kind inside a tracked run of kind
"ingest" whose parameters say exactly what was ingested: the model's class and source, its parameter count, the
SHA-256 of its state dict, the dataset and every kind's parameters. The graphs carry the run id and the digest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from graphstore.connections import Connections, borrowed_store, borrowed_tracking
from graphstore.errors import GraphExists, InvalidParams
from graphstore.extract.dataflow import chosen_units
from graphstore.extract.model_data import Data, example_input, qualified_name
from graphstore.extract.model_kinds import Kind, build, checked_forward, get_kind
from graphstore.graph import check_graph_id
from graphstore.names import slug
from graphstore.persist import save_graph
from graphstore.progress import ProgressCallback
from graphstore.store.base import GraphInfo

DEFAULT_KINDS = ("weights", "coactivation", "knn")
RUN_KIND = "ingest"
Planned = list[tuple[Kind, dict[str, Any]]]


def state_dict_sha256(model: nn.Module | Mapping[str, Any]) -> str:
    """SHA-256 over a state dict: per entry in sorted key order its name, dtype, shape and raw bytes (CPU,
    contiguous), so equal weights give equal digests whatever the device or the dict's order."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        digest.update(key.encode() + b"\0")
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def model_record(model: nn.Module, source: str | None = None) -> dict[str, Any]:
    """What the run records of a model: class, source (`module:callable` when given, else its class's), parameter
    counts and the state dict's digest."""
    params = list(model.parameters())
    return {
        "class": type(model).__qualname__,
        "source": source or qualified_name(type(model)),
        "parameters": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "sha256": state_dict_sha256(model),
    }


def graph_ids(kind: Kind, prefix: str, params: Mapping[str, Any]) -> list[str]:
    """The ids a kind's graphs get: <prefix>-<kind>, and <prefix>-knn-k<k> per k for knn."""
    if kind.name != "knn":
        return [check_graph_id(f"{prefix}-{kind.name}")]
    ks = params.get("k", (4, 8, 16))
    return [check_graph_id(f"{prefix}-knn-k{k}") for k in ((ks,) if isinstance(ks, int) else ks)]


def layer_list(value: Any) -> Any:
    """`layers` as a list: a comma-separated string ("layer1.*,fc") split into names or globs."""
    return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value


def plan(kinds: str | Iterable[str], options: Mapping[str, Any], per_kind: Mapping[str, Mapping[str, Any]]) -> Planned:
    """Each kind with its parameters: the common `options` it takes, then its own; unknown names refused."""
    names = [k.strip() for k in kinds.split(",")] if isinstance(kinds, str) else list(kinds)
    chosen = [get_kind(name) for name in names if name]
    if not chosen:
        raise InvalidParams("No graph kinds asked for.", "Pass kinds=('weights', 'coactivation', 'knn').")
    stray = sorted(set(per_kind) - {k.name for k in chosen})
    unused = sorted(set(options) - {p for k in chosen for p in k.params})
    if stray or unused:
        raise InvalidParams(
            f"Parameters for no asked kind: {', '.join(stray + unused)}.",
            "; ".join(f"{k.name}: {', '.join(k.params)}" for k in chosen),
        )
    planned = []
    for kind in chosen:
        params = {**{k: v for k, v in options.items() if k in kind.params}, **per_kind.get(kind.name, {})}
        kind.check(params)
        if "layers" in params:
            params["layers"] = layer_list(params["layers"])
        planned.append((kind, params))
    return planned


def default_prefix(model: nn.Module, digest: str) -> str:
    """<class name>-<first 8 hex digits of the state dict's digest>, e.g. resnet-1a2b3c4d."""
    return slug(f"{type(model).__name__.lower()}-{digest[:8]}")


def refuse_existing(connections: Connections, ids: Sequence[str]) -> None:
    """GraphExists naming the ids already stored."""
    with borrowed_store(connections) as store:
        stored = {info.graph_id for info in store.list_graphs()}
    taken = [i for i in ids if i in stored]
    if taken:
        raise GraphExists(
            f"Graphs already stored: {', '.join(taken)}.",
            "Pass replace=True (--replace), or choose another prefix= (--graph-id-prefix).",
        )


def check_inputs(model: nn.Module, data: Data, planned: Planned) -> None:
    """Before any write: the data's first (input, label) pair runs through the model, and the model traces with
    every kind's `layers` patterns (an untraceable module or a pattern matching nothing is named now)."""
    x = example_input(data)
    checked_forward(model, x)
    patterns = {tuple(p["layers"]) if p.get("layers") else None for kind, p in planned if "layers" in kind.params}
    for layers in patterns:
        chosen_units(model, x, list(layers) if layers else None)


@dataclass
class Written:
    """One stored graph: its kind, what the store says of it, and the seconds spent extracting and writing."""

    kind: str
    info: GraphInfo
    extract_s: float
    write_s: float


@dataclass
class ModelIngest:
    """One ingest of a model: the model, the data, where the graphs go, under which ids and run."""

    connections: Connections
    model: nn.Module
    data: Data
    prefix: str
    replace: bool
    record: dict[str, Any]
    progress: ProgressCallback | None = None
    run_id: int | None = None
    written: list[Written] = field(default_factory=list)

    def write(self, kind: Kind, params: dict[str, Any]) -> None:
        """One kind's graphs, extracted and stored with the run id and the model's digest."""
        if self.progress:
            self.progress(f"extracting {kind.name}", 0, 0)
        start = time.perf_counter()
        graphs = build(self.model, self.data, kind, f"{self.prefix}-{kind.name}", params)
        seconds = (time.perf_counter() - start) / len(graphs)
        for graph in graphs:
            graph.run_id = self.run_id
            graph.params["model_sha256"] = self.record["model"]["sha256"]
            start = time.perf_counter()
            save_graph(self.connections, graph, replace=self.replace)
            with borrowed_store(self.connections) as store:
                info = store.graph_info(graph.graph_id)
            assert info is not None  # just written
            self.written.append(Written(kind.name, info, seconds, time.perf_counter() - start))

    def run(self, planned: Planned, name: str | None, tracking: bool) -> list[Written]:
        """Extract and write each planned kind, inside a tracked run when `tracking`."""
        if not tracking:
            for kind, params in planned:
                self.write(kind, params)
            return self.written
        record = {**self.record, "kinds": {kind.name: jsonable(p) for kind, p in planned}, "prefix": self.prefix}
        with (
            borrowed_tracking(self.connections) as db,
            db.tracked_run(RUN_KIND, name or self.record["model"]["class"], record) as run_id,
        ):
            self.run_id = run_id
            for kind, params in planned:
                self.write(kind, params)
        return self.written


def ingest_model(
    connections: Connections,
    model: nn.Module,
    data: Data,
    planned: Planned,
    *,
    prefix: str | None = None,
    name: str | None = None,
    tracking: bool = True,
    replace: bool = False,
    source: str | None = None,
    extra: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> list[Written]:
    """Check, extract and store the planned kinds of `model` over `data` (ids <prefix>-<kind>), tracked; `source`
    names how the model was built, `extra` adds to the run record (e.g. the weights file)."""
    info = model_record(model, source)
    prefix = check_graph_id(prefix) if prefix else default_prefix(model, info["sha256"])
    ids = [i for kind, p in planned for i in graph_ids(kind, prefix, p)]
    record = {"model": info, "dataset": data.record, **(extra or {})}
    with connections.hold():
        if not replace:
            refuse_existing(connections, ids)
        check_inputs(model, data, planned)
        job = ModelIngest(connections, model, data, prefix, replace, record, progress)
        return job.run(planned, name, tracking)


def jsonable(value: Any) -> Any:
    """Parameters as the run records them (tensors, e.g. masks, by shape only)."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
