"""Planning an extraction: which graph kinds, with which parameters and graph ids, checked before any work starts.

The ingest and extract jobs (and the Python API) resolve the same plan: for each requested kind
(graphstore.extract.registry) its parameter dataclass is filled from the common options (split, limit, k, layers,
device, batch_size set the field of that name in every kind that has it; an int field such as class-graph's k
takes the smallest k) and from KEY=VALUE / KIND.KEY=VALUE options; a kind that does not apply to the model is
refused naming the kinds that do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphstore import params as P
from graphstore.errors import IngestError
from graphstore.extract.registry import GraphKind, KindDoesNotApply, get_kind, kinds
from graphstore.graph import Graph

if TYPE_CHECKING:
    from torch import nn

    from graphstore.nn.checkpoint import Checkpoint
    from graphstore.nn.datasets.base import LoadedDataset

DEFAULT_KINDS = "weights,coactivation,knn,class-graph"


@dataclass
class Planned:
    """One kind to extract: its registry entry, parameters, base graph id and the ids it will produce."""

    kind: GraphKind
    params: Any  # the kind's own parameter dataclass
    base_id: str
    ids: list[str]


@dataclass
class Inputs:
    """The loaded checkpoint, its model, the dataset (None when no kind needs data) and the file's digest."""

    path: Path
    checkpoint: Checkpoint
    model: nn.Module
    data: LoadedDataset | None
    digest: str = ""


def base_graph_id(ckpt: Checkpoint, path: Path, kind: str, prefix: str | None) -> str:
    """`<run>-<epoch>-<kind>` (`<run>-r<round>-<epoch>-<kind>` in pruning rounds), or `<prefix>-<kind>`."""
    if prefix:
        return f"{prefix}-{kind}"
    run = ckpt.run_id if ckpt.run_id is not None else path.stem
    stem = f"{run}-{ckpt.epoch}" if ckpt.round is None else f"{run}-r{ckpt.round}-{ckpt.epoch}"
    return f"{stem}-{kind}"


def parse_kinds(text: str) -> list[GraphKind]:
    """Registry entries for a comma-separated list of kinds (unknown ones raise, listing the known)."""
    names = [t for t in (s.strip() for s in text.split(",")) if t]
    if not names:
        raise IngestError("No graph kinds given.", f"Example: --graphs {DEFAULT_KINDS}")
    entries = [get_kind(n) for n in names]
    return list({e.name: e for e in entries}.values())


def kind_values(entry: GraphKind, common: dict[str, Any], opts: dict[str, str]) -> dict[str, Any]:
    """The parameter values one kind takes from the common options and --opt."""
    names, hints = entry.field_names(), P.field_types(entry.params)
    values: dict[str, Any] = {}
    for key, value in common.items():
        if value is None or key not in names:
            continue
        if key == "k" and hints["k"] is int:
            value = min(int(v) for v in str(value).split(","))
        values[key] = value
    for key, value in opts.items():
        kind, _, name = key.rpartition(".")
        if (not kind or kind.replace("_", "-") == entry.name) and name in names:
            values[name] = value
    return values


def check_opts(entries: list[GraphKind], opts: dict[str, str]) -> None:
    """Every --opt names a field of some requested kind."""
    for key in opts:
        kind, _, name = key.rpartition(".")
        targets = [e for e in entries if not kind or kind.replace("_", "-") == e.name]
        if not any(name in e.field_names() for e in targets):
            known = "; ".join(f"{e.name}: {', '.join(sorted(e.field_names()))}" for e in entries)
            raise IngestError(
                f"--opt {key}: no requested graph kind has a parameter {name!r}.", f"Parameters: {known}."
            )


def plan(
    entries: list[GraphKind], inputs: Inputs, common: dict[str, Any], opts: dict[str, str], prefix: str | None
) -> list[Planned]:
    """Parameters and graph ids for each kind; applicability and parameter checks before any extraction."""
    check_opts(entries, opts)
    for entry in entries:
        reason = entry.why_not(inputs.checkpoint, inputs.model)
        if reason:
            usable = ", ".join(e.name for e in kinds() if not e.why_not(inputs.checkpoint, inputs.model))
            raise KindDoesNotApply(
                f"Graph kind {entry.name!r} does not apply to {inputs.checkpoint.model.name}: {reason}.",
                f"Kinds that apply to this model: {usable}.",
            )
    planned = []
    for entry in entries:
        params = entry.make_params(kind_values(entry, common, opts))
        if entry.check is not None:
            entry.check(inputs.checkpoint, inputs.model, inputs.data, params)
        base = base_graph_id(inputs.checkpoint, inputs.path, entry.name, prefix)
        planned.append(Planned(entry, params, base, entry.ids(params, base)))
    return planned


def fingerprint(item: Planned, inputs: Inputs) -> dict[str, Any]:
    """What makes two extractions the same graph: the checkpoint's bytes, the kind's parameters, the data."""
    data = inputs.data.spec.to_dict() if inputs.data is not None and item.kind.needs_data else None
    return {
        "checkpoint_sha256": inputs.digest,
        "kind": item.kind.name,
        "params": P.to_dict(item.params),
        "dataset": data,
    }


def extract_planned(item: Planned, inputs: Inputs) -> tuple[list[Graph], float]:
    """Run one kind's extraction; annotate each graph with its provenance, fingerprint and timing."""
    start = time.perf_counter()
    result = item.kind.build(inputs.checkpoint, inputs.data, item.params, item.base_id)
    seconds = time.perf_counter() - start
    graphs = result if isinstance(result, list) else [result]
    ckpt = inputs.checkpoint
    for graph in graphs:
        graph.checkpoint = str(inputs.path.resolve())
        graph.run_id = ckpt.run_id if isinstance(ckpt.run_id, int) else None
        graph.params.update(
            model=ckpt.model.name,
            epoch=ckpt.epoch,
            round=ckpt.round,
            run=ckpt.run_id,
            extract_seconds=round(seconds / len(graphs), 4),
            extraction=fingerprint(item, inputs),
        )
        if inputs.data is not None and item.kind.needs_data:
            graph.params["dataset"] = inputs.data.spec.to_dict()
    return graphs, seconds
