"""`gs.ingest(model, data, kinds=...)`: the one call at the end of anyone's training loop.

It extracts the asked kinds from the model, stores them, and (with `tracking=True`) records a run of kind "ingest"
whose parameters say exactly what was ingested: the model's class and source (`module:qualname`), its parameter
count, the SHA-256 of its state dict, the dataset (class, length, registry spec) and every kind's parameters. The
graphs carry the run id. Kinds, parameters and graph ids are checked before the first extraction, and an id already
stored is refused unless `replace=True`, so a mistake costs no forward pass and overwrites nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore.api.data import Data, qualified_name, resolve_data
from graphstore.api.kinds import Kind, build, check_model, get_kind
from graphstore.api.session import Session, connect
from graphstore.errors import GraphExists, InvalidParams
from graphstore.graph import check_graph_id
from graphstore.names import slug
from graphstore.store.base import GraphInfo

DEFAULT_KINDS = ("weights", "coactivation", "knn")
RUN_KIND = "ingest"


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


def model_record(model: nn.Module) -> dict[str, Any]:
    """What the run records of a model: class, source, parameter counts and the state dict's digest."""
    params = list(model.parameters())
    return {
        "class": type(model).__qualname__,
        "source": qualified_name(type(model)),
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


def plan(
    kinds: str | Iterable[str], options: Mapping[str, Any], per_kind: Mapping[str, Mapping[str, Any]]
) -> list[tuple[Kind, dict[str, Any]]]:
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
        planned.append((kind, params))
    return planned


def refuse_existing(session: Session, ids: Sequence[str]) -> None:
    """GraphExists naming the ids already stored."""
    stored = {info.graph_id for info in session.graphs()}
    taken = [i for i in ids if i in stored]
    if taken:
        raise GraphExists(
            f"Graphs already stored: {', '.join(taken)}.", "Pass replace=True, or choose another prefix=."
        )


def ingest(
    model: nn.Module,
    data: Any,
    kinds: str | Iterable[str] = DEFAULT_KINDS,
    prefix: str | None = None,
    name: str | None = None,
    tracking: bool = True,
    *,
    replace: bool = False,
    session: Session | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    split: str = "test",
    data_dir: str | Path | None = None,
    **options: Any,
) -> list[GraphInfo]:
    """Extract `kinds` of `model` over `data`, store them (ids <prefix>-<kind>) and record the run; returns the
    stored graphs' infos. `options` (layers=, latent=, limit=, k=, device=, ...) go to every kind that takes them,
    `params={kind: {...}}` to one kind; `session` defaults to gs.connect()."""
    check_model(model)
    planned = plan(kinds, options, params or {})
    info = model_record(model)
    prefix = check_graph_id(prefix) if prefix else slug(f"{type(model).__name__.lower()}-{info['sha256'][:8]}")
    ids = [i for kind, p in planned for i in graph_ids(kind, prefix, p)]
    source = resolve_data(data, split=split, data_dir=data_dir)
    own = session is None
    db = connect() if session is None else session
    try:
        with db.connections.hold():
            if not replace:
                refuse_existing(db, ids)
            job = Ingest(db, model, source, prefix, replace, info["sha256"])
            return stored(job, planned, name, tracking, info)
    finally:
        if own:
            db.close()


@dataclass
class Ingest:
    """One ingest call: the model, the data, where the graphs go and under which ids and run."""

    db: Session
    model: nn.Module
    data: Data
    prefix: str
    replace: bool
    digest: str
    run_id: int | None = None

    def write(self, kind: Kind, params: dict[str, Any]) -> list[GraphInfo]:
        """One kind's graphs, extracted and stored with the run id and the model's digest."""
        infos = []
        for graph in build(self.model, self.data, kind, f"{self.prefix}-{kind.name}", params):
            graph.run_id = self.run_id
            graph.params["model_sha256"] = self.digest
            infos.append(self.db.write(graph, replace=self.replace))
        return infos


def stored(
    job: Ingest, planned: list[tuple[Kind, dict[str, Any]]], name: str | None, tracking: bool, model: dict[str, Any]
) -> list[GraphInfo]:
    """Extract and write each planned kind, inside a tracked run when `tracking`."""
    if not tracking:
        return [i for kind, p in planned for i in job.write(kind, p)]
    record = {
        "model": model,
        "dataset": job.data.record,
        "kinds": {kind.name: _jsonable(p) for kind, p in planned},
        "prefix": job.prefix,
    }
    with job.db.connections.tracking.tracked_run(RUN_KIND, name or model["class"], record) as run_id:
        job.run_id = run_id
        return [i for kind, p in planned for i in job.write(kind, p)]


def _jsonable(value: Any) -> Any:
    """Parameters as the run records them (tensors, e.g. masks, by shape only)."""
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
