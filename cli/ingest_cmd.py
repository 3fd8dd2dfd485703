"""`graphstore ingest` and `graphstore extract`: graphs from a checkpoint, into the store or into a file.

Both resolve the same plan: the checkpoint (a path, or --run/--epoch), the model it holds, the dataset (the
checkpoint's, or --dataset), and for each requested graph kind (graphstore.extract.registry) its parameter
dataclass filled from the common options (--split, --limit, --k, --layers, --device, --batch-size set the field
of that name in every kind that has it; an int field such as class-graph's k takes the smallest --k) and from
--opt KEY=VALUE / --opt KIND.KEY=VALUE. Everything is checked before the first extraction starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from graphstore.cli.context import console, err_console, settings_of
from graphstore.errors import GraphExists, GraphstoreError

DEFAULT_KINDS = "weights,coactivation,knn,class-graph"
COMMON = ("split", "limit", "k", "layers", "device", "batch_size")


class IngestError(GraphstoreError):
    """An ingest or extract request that cannot run as given."""


@dataclass
class Job:
    """One kind to extract: its registry entry, parameters, base graph id and the ids it will produce."""

    kind: Any
    params: Any
    base_id: str
    ids: list[str]


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
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inputs:
    """The loaded checkpoint, its model and the dataset (None when no kind needs data)."""

    path: Path
    checkpoint: Any
    model: Any
    data: Any


# ---- resolution ---------------------------------------------------------------------------------------

def resolve_checkpoint(data_dir: Path, checkpoint: str | None, run: str | None, epoch: int | None,
                       round: int | None) -> Path:
    """The checkpoint path: given directly, or found by run id (and epoch / round)."""
    from graphstore.nn.checkpoint import find_checkpoint

    if checkpoint and run:
        raise IngestError("Give a checkpoint path or --run, not both.", "Drop one of them.")
    if checkpoint:
        return Path(checkpoint)
    if run is None:
        raise IngestError("No checkpoint given.", "Pass a checkpoint path, or --run RUN_ID [--epoch K].")
    return find_checkpoint(data_dir, run, epoch, round)


def load_inputs(path: Path, data_dir: Path, needs_data: bool, dataset: str | None = None,
                data_opts: dict[str, str] | None = None) -> Inputs:
    """Checkpoint, its model (weights must fit the spec) and the dataset, checked against the model."""
    from graphstore.nn.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    model = ckpt.build_model()
    data = load_data(ckpt, data_dir, dataset, data_opts or {}) if needs_data else None
    return Inputs(path, ckpt, model, data)


def load_data(ckpt: Any, data_dir: Path, dataset: str | None, data_opts: dict[str, str]) -> Any:
    """The checkpoint's dataset (or the one named), refusing one the model cannot read or label."""
    from graphstore.nn.datasets import DatasetSpec, load_dataset

    spec = ckpt.dataset if dataset is None else DatasetSpec(dataset, {})
    params = {**(spec.params if dataset is None else {}), **data_opts}
    data = load_dataset(DatasetSpec(spec.name, params), data_dir)
    model_shape, model_classes = tuple(ckpt.model.input_shape), ckpt.model.num_classes
    if tuple(data.info.input_shape) != model_shape:
        raise IngestError(f"Dataset {data.info.name} gives inputs of shape {tuple(data.info.input_shape)}; the model "
                          f"was built for {model_shape}.",
                          "Use the dataset the model was trained on (leave out --dataset), or set --data-opt "
                          "(e.g. size=...) to match.")
    if data.info.num_classes != model_classes:
        raise IngestError(f"Dataset {data.info.name} has {data.info.num_classes} classes; the model has "
                          f"{model_classes} outputs.",
                          "Use the dataset the model was trained on (leave out --dataset), or one with as many "
                          "classes as the model's outputs.")
    return data


def base_graph_id(ckpt: Any, path: Path, kind: str, prefix: str | None) -> str:
    """`<run>-<epoch>-<kind>` (`<run>-r<round>-<epoch>-<kind>` in pruning rounds), or `<prefix>-<kind>`."""
    if prefix:
        return f"{prefix}-{kind}"
    run = ckpt.run_id if ckpt.run_id is not None else path.stem
    stem = f"{run}-{ckpt.epoch}" if ckpt.round is None else f"{run}-r{ckpt.round}-{ckpt.epoch}"
    return f"{stem}-{kind}"


def parse_kinds(text: str) -> list[Any]:
    """Registry entries for a comma-separated list of kinds (unknown ones raise, listing the known)."""
    from graphstore.extract.registry import get_kind

    names = [t for t in (s.strip() for s in text.split(",")) if t]
    if not names:
        raise IngestError("No graph kinds given.", f"Example: --graphs {DEFAULT_KINDS}")
    entries = [get_kind(n) for n in names]
    return list({e.name: e for e in entries}.values())


def kind_values(entry: Any, common: dict[str, Any], opts: dict[str, str]) -> dict[str, Any]:
    """The parameter values one kind takes from the common options and --opt."""
    from graphstore.nn import params as P

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


def check_opts(entries: list[Any], opts: dict[str, str]) -> None:
    """Every --opt names a field of some requested kind."""
    for key in opts:
        kind, _, name = key.rpartition(".")
        targets = [e for e in entries if not kind or kind.replace("_", "-") == e.name]
        if not any(name in e.field_names() for e in targets):
            known = "; ".join(f"{e.name}: {', '.join(sorted(e.field_names()))}" for e in entries)
            raise IngestError(f"--opt {key}: no requested graph kind has a parameter {name!r}.",
                              f"Parameters: {known}.")


def plan(entries: list[Any], inputs: Inputs, common: dict[str, Any], opts: dict[str, str],
         prefix: str | None) -> list[Job]:
    """Parameters and graph ids for each kind; applicability and parameter checks before any extraction."""
    check_opts(entries, opts)
    for entry in entries:
        reason = entry.why_not(inputs.checkpoint, inputs.model)
        if reason:
            from graphstore.extract.registry import KindDoesNotApply

            usable = ", ".join(e.name for e in _all_kinds() if not e.why_not(inputs.checkpoint, inputs.model))
            raise KindDoesNotApply(f"Graph kind {entry.name!r} does not apply to {inputs.checkpoint.model.name}: "
                                   f"{reason}.", f"Kinds that apply to this model: {usable}.")
    jobs = []
    for entry in entries:
        params = entry.make_params(kind_values(entry, common, opts))
        if entry.check is not None:
            entry.check(inputs.checkpoint, inputs.model, inputs.data, params)
        base = base_graph_id(inputs.checkpoint, inputs.path, entry.name, prefix)
        jobs.append(Job(entry, params, base, entry.ids(params, base)))
    return jobs


def _all_kinds() -> list[Any]:
    from graphstore.extract.registry import kinds

    return kinds()


def extract_job(job: Job, inputs: Inputs) -> tuple[list[Any], float]:
    """Run one kind's extraction; annotate each graph with its provenance and timing."""
    start = time.perf_counter()
    result = job.kind.build(inputs.checkpoint, inputs.data, job.params, job.base_id)
    seconds = time.perf_counter() - start
    graphs = result if isinstance(result, list) else [result]
    ckpt = inputs.checkpoint
    for graph in graphs:
        graph.checkpoint = str(inputs.path.resolve())
        graph.run_id = ckpt.run_id if isinstance(ckpt.run_id, int) else None
        graph.params.update(model=ckpt.model.name, epoch=ckpt.epoch, round=ckpt.round, run=ckpt.run_id,
                            extract_seconds=round(seconds / len(graphs), 4))
        if inputs.data is not None and job.kind.needs_data:
            graph.params["dataset"] = inputs.data.spec.to_dict()
    return graphs, seconds


# ---- the store side ----------------------------------------------------------------------------------

def existing(settings: Any, ids: list[str]) -> dict[str, str]:
    """Status of the given graph ids already in the store."""
    from graphstore.store import open_store

    with open_store(settings) as store:
        infos = {i: store.graph_info(i) for i in ids}
    return {i: info.status for i, info in infos.items() if info is not None}


def checkpoint_record(settings: Any, inputs: Inputs) -> tuple[int | None, bool]:
    """(checkpoint id in the tracking DB or None, whether the run is tracked there)."""
    from graphstore.tracking import open_tracking

    run_id = inputs.checkpoint.run_id
    if not isinstance(run_id, int):
        return None, False
    with open_tracking(settings.tracking_url) as tracking:
        if tracking.get_run(run_id) is None:
            return None, False
        path = str(inputs.path.resolve())
        ids = [c.id for c in tracking.list_checkpoints(run_id) if str(Path(c.path).resolve()) == path]
    return (ids[0] if ids else None), True


def ingest(settings: Any, inputs: Inputs, jobs: list[Job], replace: bool = False, resume: bool = False,
           progress: bool = True) -> list[Outcome]:
    """Extract each planned graph and save it to the store with its tracking record."""
    from graphstore.persist import save_graph

    found = existing(settings, [i for job in jobs for i in job.ids])
    if found and not (replace or resume):
        raise GraphExists(f"Graphs already in the store: {', '.join(f'{i} ({s})' for i, s in found.items())}.",
                          "Pass --replace to overwrite, --resume to finish incomplete ones and skip complete ones, "
                          "or --graph-id-prefix to store new copies.")
    ckpt_id, tracked = checkpoint_record(settings, inputs)
    outcomes = []
    for job in jobs:
        if resume and not replace and all(found.get(i) == "complete" for i in job.ids):
            outcomes += [Outcome(job.kind.name, i, status="skipped (complete)") for i in job.ids]
            continue
        with _bar(f"extracting {job.kind.name}", progress):
            graphs, seconds = extract_job(job, inputs)
        for graph in graphs:
            if not tracked:
                graph.run_id = None
            with _write_bar(f"writing {graph.graph_id}", progress) as on_progress:
                report = save_graph(settings, graph, replace=replace, resume=resume and not replace,
                                    on_progress=on_progress, checkpoint_id=ckpt_id)
            outcomes.append(Outcome(job.kind.name, graph.graph_id, report.nodes, report.edges,
                                    seconds / len(graphs), report.seconds,
                                    "resumed" if report.resumed else "complete"))
    return outcomes


class _Quiet:
    """A no-op context for progress=False."""

    def __enter__(self) -> Any:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _bar(description: str, show: bool) -> Any:
    """An elapsed-time bar while an extraction runs."""
    if not show:
        return _Quiet()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    class _Run:
        def __enter__(self) -> None:
            self.p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                              console=err_console, transient=False)
            self.p.start()
            self.t = self.p.add_task(description, total=None)

        def __exit__(self, *exc: object) -> None:
            self.p.update(self.t, total=1, completed=1)
            self.p.stop()

    return _Run()


def _write_bar(description: str, show: bool) -> Any:
    """The store-write progress bar (graphstore.cli.progress), or a silent callback."""
    if show:
        from graphstore.cli.progress import write_progress

        return write_progress(description)

    class _None:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    return _None()


def print_outcomes(outcomes: list[Outcome], title: str) -> None:
    """The summary table."""
    table = Table(title=title)
    for column in ("kind", "graph id", "nodes", "edges", "extract s", "write s", "status"):
        table.add_column(column, justify="right" if column in ("nodes", "edges", "extract s", "write s") else "left")
    for o in outcomes:
        table.add_row(o.kind, o.graph_id, str(o.nodes), str(o.edges), f"{o.extract_s:.2f}", f"{o.write_s:.2f}",
                      o.status)
    console.print(table)


def list_kinds() -> None:
    """Every graph kind with its parameters."""
    from graphstore.nn import params as P

    table = Table(title="graph kinds (--graphs; parameters via common options or --opt KIND.KEY=VALUE)")
    for column in ("kind", "description", "needs data", "parameters (default: help)"):
        table.add_column(column)
    for entry in _all_kinds():
        opts = "\n".join(f"{n}={d}: {h}" for n, d, h in P.describe(entry.params)) or "-"
        table.add_row(entry.name, entry.summary, "yes" if entry.needs_data else "no", opts)
    console.print(table)


# ---- the commands --------------------------------------------------------------------------------------

def _prepare(ctx: typer.Context, checkpoint: str | None, run: str | None, epoch: int | None, round_: int | None,
             kinds_text: str, dataset: str | None, data_opt: list[str], common: dict[str, Any], opt: list[str],
             prefix: str | None) -> tuple[Any, Inputs, list[Job]]:
    """Settings, inputs and the checked plan shared by ingest and extract."""
    from graphstore.nn import params as P

    settings = settings_of(ctx)
    entries = parse_kinds(kinds_text)
    path = resolve_checkpoint(Path(settings.data_dir), checkpoint, run, epoch, round_)
    with err_console.status(f"Loading {path.name} ..."):
        inputs = load_inputs(path, Path(settings.data_dir), any(e.needs_data for e in entries), dataset,
                             P.parse_assignments(data_opt, "--data-opt"))
    opts = P.parse_assignments(opt, "--opt")
    return settings, inputs, plan(entries, inputs, common, opts, prefix)


def _common(split: str | None, limit: int | None, k: str | None, layers: str | None, device: str | None,
            batch_size: int | None) -> dict[str, Any]:
    return {"split": split, "limit": limit, "k": k, "layers": layers, "device": device, "batch_size": batch_size}


CHECKPOINT_ARG = typer.Argument(None, help="Checkpoint file (.pt); or use --run/--epoch.")
RUN = typer.Option(None, "--run", help="Run id whose checkpoint to use (with --epoch; default the last).")
EPOCH = typer.Option(None, "--epoch", help="Epoch of the run's checkpoint.")
ROUND = typer.Option(None, "--round", help="Pruning round of the run's checkpoint.")
DATASET = typer.Option(None, "--dataset", "-d", help="Dataset to forward (default: the checkpoint's).")
DATA_OPT = typer.Option([], "--data-opt", help="Dataset parameter KEY=VALUE (repeatable).")
SPLIT = typer.Option(None, "--split", help="Split for data-driven kinds (default per kind: coactivation train, "
                                           "knn and class-graph test).")
LIMIT = typer.Option(None, "--limit", help="At most this many samples of the split (0 = all).")
K = typer.Option(None, "--k", help="kNN neighbours, e.g. 4,8,16 (knn: one graph per k; class-graph: the smallest).")
LAYERS = typer.Option(None, "--layers", help="Layers for coactivation, e.g. conv1,fc1,out (default all).")
DEVICE = typer.Option(None, "--device", help="Device for forward passes (cpu, cuda).")
BATCH = typer.Option(None, "--batch-size", help="Samples per forward batch.")
OPT = typer.Option([], "--opt", help="Kind parameter KEY=VALUE or KIND.KEY=VALUE (repeatable), e.g. "
                                     "coactivation.threshold=0.6 (see --list).")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")


def ingest_command(
    ctx: typer.Context,
    checkpoint: str | None = CHECKPOINT_ARG,
    graphs: str = typer.Option(DEFAULT_KINDS, "--graphs", "-g", help="Graph kinds, comma-separated (see --list)."),
    run: str | None = RUN, epoch: int | None = EPOCH, round_: int | None = ROUND,
    dataset: str | None = DATASET, data_opt: list[str] = DATA_OPT,
    split: str | None = SPLIT, limit: int | None = LIMIT, k: str | None = K, layers: str | None = LAYERS,
    device: str | None = DEVICE, batch_size: int | None = BATCH, opt: list[str] = OPT,
    graph_id_prefix: str | None = typer.Option(None, "--graph-id-prefix", help="Graph ids <prefix>-<kind> instead "
                                                                               "of <run>-<epoch>-<kind>."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite graphs with the same ids."),
    resume: bool = typer.Option(False, "--resume", help="Finish incomplete graphs; skip complete ones."),
    progress: bool = PROGRESS,
    list_all: bool = typer.Option(False, "--list", help="List graph kinds and their parameters, then exit."),
) -> None:
    """Extract graphs from a checkpoint and store them (graph store + tracking DB), with a summary table.

    Example: graphstore ingest --run 3 --epoch 10 --graphs weights,coactivation,knn,class-graph --k 4,8,16
    """
    if list_all:
        list_kinds()
        return
    settings, inputs, jobs = _prepare(ctx, checkpoint, run, epoch, round_, graphs, dataset, data_opt,
                                      _common(split, limit, k, layers, device, batch_size), opt, graph_id_prefix)
    outcomes = ingest(settings, inputs, jobs, replace=replace, resume=resume, progress=progress)
    print_outcomes(outcomes, f"ingested {inputs.path.name} into {settings.graph_store_uri}")


def extract_command(
    ctx: typer.Context,
    checkpoint: str | None = CHECKPOINT_ARG,
    graph: str = typer.Option(..., "--graph", help="Graph kind (see graphstore ingest --list)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .parquet (directory), .zip, .graphml, .gexf."),
    run: str | None = RUN, epoch: int | None = EPOCH, round_: int | None = ROUND,
    dataset: str | None = DATASET, data_opt: list[str] = DATA_OPT,
    split: str | None = SPLIT, limit: int | None = LIMIT, k: str | None = K, layers: str | None = LAYERS,
    device: str | None = DEVICE, batch_size: int | None = BATCH, opt: list[str] = OPT,
    graph_id: str | None = typer.Option(None, "--graph-id", help="Graph id written into the file."),
) -> None:
    """Extract one graph from a checkpoint and write it to a file, without a store.

    Example: graphstore extract runs/1/epoch_5.pt --graph coactivation --out coact.graphml
    """
    from graphstore.extract.files import FORMATS, write_graph_file

    if out.suffix not in FORMATS:
        raise IngestError(f"Unknown output format {out.suffix or '(none)'} for {out}.",
                          f"End --out with one of {', '.join(FORMATS)}.")
    _, inputs, jobs = _prepare(ctx, checkpoint, run, epoch, round_, graph, dataset, data_opt,
                               _common(split, limit, k, layers, device, batch_size), opt, graph_id)
    if len(jobs) != 1:
        raise IngestError("extract writes one graph kind at a time.", "Pass a single --graph KIND.")
    if graph_id:
        jobs[0].base_id = graph_id
    with err_console.status(f"extracting {jobs[0].kind.name} ..."):
        graphs, seconds = extract_job(jobs[0], inputs)
    outcomes = []
    for g in graphs:
        suffix = g.graph_id[len(jobs[0].base_id):]
        target = out if len(graphs) == 1 else out.with_name(f"{out.stem}{suffix}{out.suffix}")
        write_graph_file(g, target)
        outcomes.append(Outcome(jobs[0].kind.name, g.graph_id, g.node_count, g.edge_count, seconds / len(graphs),
                                status=str(target)))
    print_outcomes(outcomes, f"extracted from {inputs.path.name}")


def register(root: typer.Typer) -> None:
    """Add `graphstore ingest` and `graphstore extract` to the root app."""
    root.command("ingest")(ingest_command)
    root.command("extract")(extract_command)


__all__ = ["Inputs", "Job", "Outcome", "extract_job", "ingest", "load_inputs", "parse_kinds", "plan",
           "resolve_checkpoint"]
