"""`graphstore ingest --model MODULE:CALLABLE --weights FILE --dataset D`: the ingest job's path for any network.

The model comes from graphstore.nn.foreign (imported callable, weights checked against it), the data from the
registry, a torchvision class by name or a MODULE:CALLABLE (graphstore.nn.datasets.foreign), and the work is
graphstore.jobs.model_ingest, the code `gs.ingest` runs: the command line and Python store the same graphs, and
the run records the model's source, options, parameter count, state-dict digest and the weights file's digest.
The command's options map onto gs.ingest's: --layers, --limit, --device, --batch-size go to every kind that takes
them, --k to knn (one graph per k) and class-graph (the smallest), --opt [KIND.]KEY=VALUE (Python literals) to
one kind or all; --split picks the split of a registry dataset, a torchvision class or a MODULE:CALLABLE that
takes train=/split= (default test, as gs.ingest's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphstore import params as P
from graphstore.errors import InvalidParams
from graphstore.extract.dataflow_trace import LayerPatternError, UntraceableModel
from graphstore.extract.model_data import Data, registry_data, resolve_data
from graphstore.extract.model_kinds import get_kind
from graphstore.jobs.base import JobContext
from graphstore.jobs.extract_options import ExtractOptions
from graphstore.jobs.model_ingest import Planned, Written, ingest_model, plan
from graphstore.jobs.source import CheckpointSource, ModelSource, SourceError
from graphstore.nn.datasets.foreign import is_foreign_dataset, load_foreign_dataset
from graphstore.nn.foreign import ForeignModel, literal, load_foreign_model, parse_options
from graphstore.registry import UnknownName


@dataclass
class ForeignRun:
    """What the command asked for beside the options: the sources, kinds, id prefix and overwrite flags."""

    source: ModelSource
    checkpoint: CheckpointSource
    graphs: str
    prefix: str | None
    replace: bool
    resume: bool


def kind_options(options: ExtractOptions, kinds: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """gs.ingest's (options, params per kind) from the command's options; common ones only where a kind takes them."""
    takes = {p for name in kinds for p in get_kind(name).params}
    common = {"limit": options.limit or None, "layers": options.layers, "device": options.device}
    common["batch_size"] = options.batch_size
    shared = {k: v for k, v in common.items() if v is not None and k in takes}
    per_kind: dict[str, dict[str, Any]] = {}
    if options.k:
        try:
            ks = tuple(int(v) for v in options.k.split(",") if v.strip())
        except ValueError:
            raise InvalidParams(f"--k {options.k!r} is not a list of integers.", "Example: --k 4,8,16") from None
        if "knn" in kinds:
            per_kind["knn"] = {"k": ks if len(ks) > 1 else ks[0]}
        if "class-graph" in kinds:
            per_kind["class-graph"] = {"k": min(ks)}
    for key, text in P.parse_assignments(options.opt, "--opt").items():
        kind, _, name = key.rpartition(".")
        target = per_kind.setdefault(kind.replace("_", "-"), {}) if kind else shared
        target[name] = literal(text)
    return shared, per_kind


def foreign_data(context: JobContext, options: ExtractOptions) -> Data:
    """The --dataset: a registry name, a torchvision class by name or MODULE:CALLABLE, with --data-opt values."""
    if not options.dataset:
        raise SourceError(
            "--model needs --dataset: the input shape and class names come from the data.",
            "Pass --dataset NAME (a registry dataset, a torchvision class such as MNIST with --data-opt root=DIR, "
            "or MODULE:CALLABLE returning a Dataset).",
        )
    opts = parse_options(options.data_opt, "--data-opt")
    split = options.split or "test"
    if not is_foreign_dataset(options.dataset):
        try:
            return registry_data(options.dataset, split, context.settings.data_dir, None, opts)
        except UnknownName as exc:
            raise UnknownName(
                exc.message,
                f"{exc.hint} Or a torchvision class by name (MNIST, CIFAR10, ... with --data-opt root=DIR), or "
                "MODULE:CALLABLE returning a Dataset.",
            ) from None
    made = load_foreign_dataset(options.dataset, opts, split)
    data = resolve_data(made.data)
    data.record.update(made.record)
    return data


def for_the_cli(exc: UntraceableModel | LayerPatternError) -> UntraceableModel | LayerPatternError:
    """The same error with its hint naming the command's --layers instead of the API's layers=."""
    return type(exc)(exc.message, (exc.hint or "").replace("layers=", "--layers "))


def planned_kinds(run: ForeignRun, options: ExtractOptions) -> Planned:
    """The asked kinds with their parameters; --resume refused (a foreign model's ingest stores whole graphs)."""
    if run.resume:
        raise SourceError(
            "--resume finishes graphs of a graphstore checkpoint; a foreign model's ingest stores whole graphs.",
            "Drop --resume; pass --replace to extract them again.",
        )
    names = [n.strip() for n in run.graphs.split(",") if n.strip()]
    return plan(names, *kind_options(options, [get_kind(n).name for n in names]))


def run_foreign_ingest(context: JobContext, run: ForeignRun, options: ExtractOptions) -> tuple[Path, list[Written]]:
    """Check the sources and options, load model and data, then ingest them as gs.ingest does."""
    model_spec, weights = run.source.check(run.checkpoint)
    planned = planned_kinds(run, options)
    context.status(f"Loading {model_spec} with {Path(weights).name} ...")
    loaded = load_foreign_model(model_spec, parse_options(run.source.model_opt, "--model-opt"), weights)
    data = foreign_data(context, options)
    return Path(weights), store_foreign(context, loaded, data, planned, run, loaded.record())


def store_foreign(
    context: JobContext, loaded: ForeignModel, data: Data, planned: Planned, run: ForeignRun, extra: dict[str, Any]
) -> list[Written]:
    """gs.ingest's extraction and writes of the loaded model over the data, tracked with `extra` in the record."""
    try:
        return ingest_model(
            context.connections,
            loaded.model,
            data,
            planned,
            prefix=run.prefix,
            replace=run.replace,
            source=loaded.source,
            extra=extra,
            progress=context.progress,
        )
    except (UntraceableModel, LayerPatternError) as exc:
        raise for_the_cli(exc) from None
