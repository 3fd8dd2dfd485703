"""`graphstore ingest --run ID [--round R]` of a foreign pruning run (`prune imp|topology --model MODULE:CALLABLE`):
its rounds are state dicts of a network nobody here wrote, not graphstore checkpoints.

The run's folder manifest (graphstore.pruning.foreign_manifest) names the model spec and --model-opt values, the
--dataset spec and each round's file digests; it must agree with the run's tracking record, and the round's
weights and masks must be ours and match their digests, before anything is built. The model is rebuilt and loaded
as `ingest --model` does (graphstore.nn.foreign), the round's masks are applied, and the data is the run's dataset
split by the retraining rule (graphstore.pruning.foreign_data; --split, default test, or another --dataset), then
the graphs are stored by gs.ingest's code (graphstore.jobs.ingest_foreign.store_foreign) as `<run>-r<round>-<kind>`
unless --graph-id-prefix says otherwise. A run that cannot be ingested so says why, with the `ingest --model` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphstore.errors import IngestError
from graphstore.extract.model_data import Data
from graphstore.jobs.base import JobContext
from graphstore.jobs.extract_options import ExtractOptions
from graphstore.jobs.ingest_foreign import ForeignRun, foreign_data, planned_kinds, store_foreign
from graphstore.jobs.model_ingest import Written
from graphstore.jobs.source import SourceError
from graphstore.nn.checkpoint import run_dir
from graphstore.nn.datasets import DatasetSpec
from graphstore.nn.foreign import load_foreign_model, parse_options
from graphstore.pruning.foreign_data import split_data
from graphstore.pruning.foreign_manifest import Manifest, check_against_record, read_manifest
from graphstore.pruning.mask_files import apply_masks

FOREIGN_KINDS = ("prune-imp", "prune-topology")


def foreign_manifest(context: JobContext, run_id: int) -> Manifest | None:
    """The checked manifest of run `run_id` when it is a foreign pruning run, None for any other run."""
    folder = run_dir(context.settings.data_dir, run_id)
    with context.open_tracking() as tracking:
        record = tracking.get_run(run_id)
    params = record.params if record is not None else {}
    recorded = record is not None and record.kind in FOREIGN_KINDS and "source" in (params.get("model") or {})
    manifest = read_manifest(folder)
    if manifest is None and not recorded:
        return None
    if manifest is None:
        raise IngestError(
            f"Run {run_id} pruned a network of your own, but {folder} holds no manifest of its rounds' digests "
            "(the run predates it, or its files are on another machine), so its rounds cannot be checked.",
            f"Ingest a round by hand after checking its file: {by_hand(folder, params)}",
        )
    if record is None:
        raise IngestError(
            f"{folder} holds a pruning run of your own network, but the tracking DB has no run {run_id} to check "
            "it against.",
            f"Use the tracking DB the run was recorded in, or ingest a round by hand: {by_hand(folder, params)}",
        )
    check_against_record(manifest, run_id, params)
    return manifest


def by_hand(folder: Path, params: dict[str, Any]) -> str:
    """The `ingest --model` line that ingests a round's weights file by hand."""
    model = (params.get("model") or {}).get("source", "MODULE:CALLABLE")
    dataset = (params.get("dataset") or {}).get("name", "D")
    return (
        f"graphstore ingest --model {model} [--model-opt K=V] --weights {folder}/round_<r>_weights.pt "
        f"--dataset {dataset} [--data-opt K=V]"
    )


def run_pruned_ingest(
    context: JobContext, manifest: Manifest, run: ForeignRun, options: ExtractOptions
) -> tuple[Path, list[Written]]:
    """Ingest the chosen round (default the last) of a foreign pruning run, checked, into the store."""
    source = run.checkpoint
    if source.epoch is not None:
        raise SourceError(
            f"Run {source.run} pruned a network of your own: its rounds have no epoch checkpoints.",
            "Drop --epoch; choose a round with --round R (default: the last).",
        )
    planned = planned_kinds(run, options)
    files = manifest.round_files(source.round)
    context.status(f"Loading {manifest.model} with {files.weights.name} ...")
    loaded = load_foreign_model(manifest.model, parse_options(manifest.model_opt, "--model-opt"), files.weights)
    if loaded.weights.sha256 != manifest.rounds[files.round]["weights_sha256"]:
        raise IngestError(f"{files.weights} changed while it was read.", "Run the command again.")
    apply_masks(loaded.model, files.masks)
    data = run_data(context, manifest, options)
    prefix = run.prefix or f"{source.run}-r{files.round}"
    extra = {**loaded.record(), "pruning_run": source.run, "round": files.round}
    extra["masks"] = {"path": str(files.masks.resolve()), "sha256": manifest.rounds[files.round]["masks_sha256"]}
    chosen = ForeignRun(run.source, source, run.graphs, prefix, run.replace, run.resume)
    return files.weights, store_foreign(context, loaded, data, planned, chosen, extra)


def run_data(context: JobContext, manifest: Manifest, options: ExtractOptions) -> Data:
    """The run's dataset split as retraining split it (--split, default test), or the --dataset given instead."""
    if options.dataset:
        return foreign_data(context, options)
    if options.data_opt:
        raise SourceError(
            "--data-opt changes the run's dataset only with --dataset.",
            "Drop --data-opt (the run's own dataset options apply), or pass --dataset with it.",
        )
    spec = DatasetSpec.from_dict(manifest.dataset)
    return split_data(spec, options.split or "test", context.settings.data_dir)
