"""The ingest and extract jobs: graphs from a checkpoint, into the store (tracked) or into a file.

Both resolve the same plan: the checkpoint (graphstore.jobs.source), the model it holds, the dataset (the
checkpoint's, or --dataset), and for each requested graph kind (graphstore.extract.registry) its parameter dataclass
filled from the common options (--split, --limit, --k, --layers, --device, --batch-size set the field of that name in
every kind that has it; an int field such as class-graph's k takes the smallest --k) and from --opt KEY=VALUE /
--opt KIND.KEY=VALUE. Everything is checked before the first extraction starts.

`ingest --model MODULE:CALLABLE --weights FILE --dataset D` takes any network instead of a checkpoint; it runs
graphstore.jobs.ingest_foreign, which stores what `gs.ingest` stores for the same model and data. `ingest --run ID
[--round R]` of a run that pruned such a network (`prune imp|topology --model MODULE:CALLABLE`) ingests its round
the same way, after checking the run's files (graphstore.jobs.ingest_pruned).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphstore import params as P
from graphstore.errors import GraphExists, IngestError
from graphstore.extract.files import FORMATS, write_graph_file
from graphstore.extract.plan import (
    DEFAULT_KINDS,
    Inputs,
    Planned,
    extract_planned,
    fingerprint,
    parse_kinds,
    plan,
)
from graphstore.graph import check_graph_id
from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.jobs.extract_options import ExtractOptions
from graphstore.jobs.ingest_foreign import ForeignRun, run_foreign_ingest
from graphstore.jobs.ingest_pruned import foreign_manifest, run_pruned_ingest
from graphstore.jobs.model_ingest import Written
from graphstore.jobs.source import CheckpointSource, ModelSource
from graphstore.nn.checkpoint import file_sha256, load_checkpoint
from graphstore.nn.datasets import DatasetSpec, load_dataset
from graphstore.nn.fit import check_data_fits
from graphstore.persist import save_graph
from graphstore.progress import ProgressCallback

__all__ = [
    "ExtractOptions",
    "IngestError",
    "load_inputs",
    "parse_kinds",
    "plan",
    "store_planned",
]  # re-exported for callers


@dataclass(frozen=True)
class IngestParams:
    """Extract graphs from a checkpoint and store them, tracked."""

    source: CheckpointSource = field(default_factory=CheckpointSource)
    foreign: ModelSource = field(default_factory=ModelSource)
    graphs: str = field(
        default=DEFAULT_KINDS,
        metadata={"help": "Graph kinds, comma-separated (see --list).", "flags": ("--graphs", "-g")},
    )
    options: ExtractOptions = field(default_factory=ExtractOptions)
    graph_id_prefix: str | None = field(
        default=None, metadata={"help": "Graph ids <prefix>-<kind> instead of <run>-<epoch>-<kind>."}
    )
    replace: bool = field(default=False, metadata={"help": "Overwrite graphs with the same ids."})
    resume: bool = field(
        default=False,
        metadata={"help": "Finish incomplete graphs (same checkpoint and parameters only); skip complete ones."},
    )

    def __post_init__(self) -> None:
        if self.graph_id_prefix is not None:
            try:
                check_graph_id(self.graph_id_prefix)
            except ValueError:
                raise ValueError(
                    f"--graph-id-prefix {self.graph_id_prefix!r} is not a valid graph id prefix: use "
                    "letters, digits, '_', '-' or '.', starting with a letter or digit"
                ) from None


@dataclass(frozen=True)
class ExtractParams:
    """Extract one graph kind from a checkpoint into a file, without a store."""

    graph: str = field(metadata={"help": "Graph kind (see graphstore ingest --list)."})
    out: str = field(
        metadata={"help": "Output file: .parquet (directory), .zip, .graphml, .gexf.", "flags": ("--out", "-o")}
    )
    source: CheckpointSource = field(default_factory=CheckpointSource)
    options: ExtractOptions = field(default_factory=ExtractOptions)
    graph_id: str | None = field(default=None, metadata={"help": "Graph id written into the file."})


@dataclass
class Outcome:
    """What happened to one graph."""

    kind: str
    graph_id: str
    nodes: int = 0
    edges: int = 0
    extract_s: float = 0.0
    write_s: float = 0.0
    status: str = "complete"


@dataclass
class IngestResult:
    """Every graph the job produced or skipped, and where."""

    checkpoint: Path
    target: str
    outcomes: list[Outcome]


# ---- resolution ---------------------------------------------------------------------------------------


def load_inputs(
    path: Path, data_dir: Path, needs_data: bool, dataset: str | None = None, data_opts: dict[str, str] | None = None
) -> Inputs:
    """Checkpoint, its model (weights must fit the spec) and the dataset, checked against the model."""
    ckpt = load_checkpoint(path)
    model = ckpt.build_model()
    data = load_data(ckpt, data_dir, dataset, data_opts or {}) if needs_data else None
    return Inputs(path, ckpt, model, data, ckpt.sha256 or file_sha256(path))


def load_data(ckpt: Any, data_dir: Path, dataset: str | None, data_opts: dict[str, str]) -> Any:
    """The checkpoint's dataset (or the one named), refusing one the model cannot read or label."""
    spec = ckpt.dataset if dataset is None else DatasetSpec(dataset, {})
    params = {**(spec.params if dataset is None else {}), **data_opts}
    data = load_dataset(DatasetSpec(spec.name, params), data_dir)
    check_data_fits(ckpt.model, data.info)
    return data


def prepare(
    context: JobContext, source: CheckpointSource, kinds_text: str, options: ExtractOptions, prefix: str | None
) -> tuple[Inputs, list[Planned]]:
    """The inputs and the checked plan shared by ingest and extract."""
    entries = parse_kinds(kinds_text)
    data_dir = Path(context.settings.data_dir)
    path = source.resolve(data_dir)
    context.status(f"Loading {path.name} ...")
    inputs = load_inputs(
        path,
        data_dir,
        any(e.needs_data for e in entries),
        options.dataset,
        P.parse_assignments(options.data_opt, "--data-opt"),
    )
    opts = P.parse_assignments(options.opt, "--opt")
    return inputs, plan(entries, inputs, options.common(), opts, prefix)


# ---- the store side ----------------------------------------------------------------------------------


def existing(context: JobContext, ids: list[str]) -> dict[str, Any]:
    """GraphInfo of the given graph ids already in the store."""
    with context.open_store() as store:
        infos = {i: store.graph_info(i) for i in ids}
    return {i: info for i, info in infos.items() if info is not None}


def check_resumable(item: Planned, inputs: Inputs, found: dict[str, Any]) -> None:
    """Refuse to resume a graph that another checkpoint or other parameters started, naming the difference."""
    want = fingerprint(item, inputs)
    for graph_id in item.ids:
        info = found.get(graph_id)
        if info is None or info.status == "complete":
            continue
        have = (info.params or {}).get("extraction")
        if have is None:
            raise IngestError(
                f"Cannot resume {graph_id}: the stored graph does not record which checkpoint and "
                "parameters started it.",
                "Pass --replace to extract it again from scratch.",
            )
        diff = sorted(k for k in want if _normal(want[k]) != _normal(have.get(k)))
        if diff:
            detail = "; ".join(f"{k}: stored {have.get(k)!r}, now {want[k]!r}" for k in diff)
            raise IngestError(
                f"Cannot resume {graph_id}: it was started from a different extraction ({detail}).",
                "Resume with the same checkpoint and options, pass --replace to overwrite it, or "
                "use another --graph-id-prefix.",
            )


def _normal(value: Any) -> Any:
    """Compare JSON round-tripped values (tuples vs lists) alike."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def checkpoint_record(context: JobContext, inputs: Inputs) -> tuple[int | None, bool]:
    """(checkpoint id in the tracking DB or None, whether the run is tracked there)."""
    run_id = inputs.checkpoint.run_id
    if not isinstance(run_id, int):
        return None, False
    with context.open_tracking() as tracking:
        if tracking.get_run(run_id) is None:
            return None, False
        path = str(inputs.path.resolve())
        ids = [c.id for c in tracking.list_checkpoints(run_id) if str(Path(c.path).resolve()) == path]
    return (ids[0] if ids else None), True


def store_planned(
    context: JobContext, inputs: Inputs, planned: list[Planned], replace: bool = False, resume: bool = False
) -> list[Outcome]:
    """Extract each planned graph and save it to the store with its tracking record."""
    found = existing(context, [i for item in planned for i in item.ids])
    if found and not (replace or resume):
        raise GraphExists(
            f"Graphs already in the store: {', '.join(f'{i} ({s.status})' for i, s in found.items())}.",
            "Pass --replace to overwrite, --resume to finish incomplete ones and skip complete ones, "
            "or --graph-id-prefix to store new copies.",
        )
    if resume and not replace:
        for item in planned:
            check_resumable(item, inputs, found)
    ckpt_id, tracked = checkpoint_record(context, inputs)
    outcomes = []
    for item in planned:
        if resume and not replace and all(getattr(found.get(i), "status", None) == "complete" for i in item.ids):
            outcomes += [Outcome(item.kind.name, i, status="skipped (complete)") for i in item.ids]
            continue
        context.progress(f"extracting {item.kind.name}", 0, 0)
        graphs, seconds = extract_planned(item, inputs)
        context.progress(f"extracting {item.kind.name}", 1, 1)
        for graph in graphs:
            if not tracked:
                graph.run_id = None
            report = save_graph(
                context.connections,
                graph,
                replace=replace,
                resume=resume and not replace,
                on_progress=labelled(context.progress, f"writing {graph.graph_id}"),
                checkpoint_id=ckpt_id,
            )
            outcomes.append(
                Outcome(
                    item.kind.name,
                    graph.graph_id,
                    report.nodes,
                    report.edges,
                    seconds / len(graphs),
                    report.seconds,
                    "resumed" if report.resumed else "complete",
                )
            )
    return outcomes


def labelled(progress: ProgressCallback, label: str) -> ProgressCallback:
    """A progress callback that prefixes every step with `label` (one bar per graph written)."""

    def report(step: str, done: int, total: int) -> None:
        progress(f"{label}: {step}", done, total)

    return report


# ---- the jobs ------------------------------------------------------------------------------------------


def run_ingest(context: JobContext, params: IngestParams) -> IngestResult:
    """Plan, extract and store every requested graph; a resumed graph must come from the same extraction. With
    --model, a foreign network's graphs (graphstore.jobs.ingest_foreign); with --run of a run that pruned one, its
    round's graphs (graphstore.jobs.ingest_pruned)."""
    run = ForeignRun(
        params.foreign, params.source, params.graphs, params.graph_id_prefix, params.replace, params.resume
    )
    if params.foreign.given:
        weights, written = run_foreign_ingest(context, run, params.options)
        return IngestResult(weights, context.settings.graph_store_uri, [outcome_of(w) for w in written])
    run_id = params.source.run if params.source.checkpoint is None else None
    manifest = foreign_manifest(context, run_id) if run_id is not None else None
    if manifest is not None:
        weights, written = run_pruned_ingest(context, manifest, run, params.options)
        return IngestResult(weights, context.settings.graph_store_uri, [outcome_of(w) for w in written])
    inputs, planned = prepare(context, params.source, params.graphs, params.options, params.graph_id_prefix)
    outcomes = store_planned(context, inputs, planned, replace=params.replace, resume=params.resume)
    return IngestResult(inputs.path, context.settings.graph_store_uri, outcomes)


def outcome_of(written: Written) -> Outcome:
    """The summary row of one graph a foreign model's ingest stored."""
    info = written.info
    return Outcome(written.kind, info.graph_id, info.node_count, info.edge_count, written.extract_s, written.write_s)


def run_extract(context: JobContext, params: ExtractParams) -> IngestResult:
    """Extract one graph kind and write it (or one file per graph, for kinds that make several) to a file."""
    out = Path(params.out)
    if out.suffix not in FORMATS:
        raise IngestError(
            f"Unknown output format {out.suffix or '(none)'} for {out}.", f"End --out with one of {', '.join(FORMATS)}."
        )
    inputs, planned = prepare(context, params.source, params.graph, params.options, params.graph_id)
    if len(planned) != 1:
        raise IngestError("extract writes one graph kind at a time.", "Pass a single --graph KIND.")
    item = planned[0]
    if params.graph_id:
        item.base_id = params.graph_id
    context.progress(f"extracting {item.kind.name}", 0, 0)
    graphs, seconds = extract_planned(item, inputs)
    context.progress(f"extracting {item.kind.name}", 1, 1)
    outcomes = []
    for g in graphs:
        suffix = g.graph_id[len(item.base_id) :]
        target = out if len(graphs) == 1 else out.with_name(f"{out.stem}{suffix}{out.suffix}")
        write_graph_file(g, target)
        outcomes.append(
            Outcome(item.kind.name, g.graph_id, g.node_count, g.edge_count, seconds / len(graphs), status=str(target))
        )
    return IngestResult(inputs.path, str(out), outcomes)


INGEST = JobSpec(
    "ingest",
    "Extract graphs from a checkpoint and store them (graph store + tracking DB).",
    IngestParams,
    run_ingest,
    "graphstore ingest --run 3 --epoch 10 --graphs weights,coactivation,knn,class-graph --k 4,8,16\n\n"
    "or, for any network: graphstore ingest --model torchvision.models:resnet18 --model-opt num_classes=10 "
    "--weights resnet.pt "
    "--dataset CIFAR10 --data-opt root=~/data --graphs weights,coactivation,knn --limit 2000",
)
EXTRACT = JobSpec(
    "extract",
    "Extract one graph from a checkpoint and write it to a file, without a store.",
    ExtractParams,
    run_extract,
    "graphstore extract runs/1/epoch_5.pt --graph coactivation --out coact.graphml",
)
JOBS.register(INGEST)
JOBS.register(EXTRACT)
