"""Jobs that read one checkpoint (or a pruning run's rounds) and record a tracked report: noise, topology, modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphstore.analysis.modules import ModuleParams, ModuleResult, analyse_checkpoint
from graphstore.analysis.noise import NoiseParams, NoiseRow, noise_sweep, track_noise
from graphstore.analysis.topology_report import (
    LAYER_COLUMNS,
    ROUND_COLUMNS,
    TopologyReportParams,
    checkpoint_topology,
    rounds_table,
    track_topology,
)
from graphstore.errors import GraphstoreError
from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.jobs.ingest import load_data
from graphstore.jobs.source import CheckpointSource
from graphstore.nn.checkpoint import load_checkpoint


@dataclass(frozen=True)
class NoiseJobParams:
    """Noise robustness of a checkpoint's latent kNN graph."""

    source: CheckpointSource = field(default_factory=CheckpointSource)
    method: NoiseParams = field(default_factory=NoiseParams)


@dataclass
class NoiseResult:
    """Rows per noise level and the tracked run that holds them."""

    checkpoint: Path
    params: NoiseParams
    rows: list[NoiseRow]
    run_id: int | None


def run_noise(context: JobContext, params: NoiseJobParams) -> NoiseResult:
    """Sweep the noise levels on the checkpoint's latents; record one step per level."""
    path = params.source.resolve(context.settings.data_dir)
    ckpt = load_checkpoint(path)
    context.status(f"noise sweep on {path.name} ...")
    data = load_data(ckpt, Path(context.settings.data_dir), None, {})
    rows = noise_sweep(ckpt.build_model(params.method.device), data, params.method)
    parent = ckpt.run_id if isinstance(ckpt.run_id, int) else None
    run_id = track_noise(context.connections.tracking, params.method, rows, f"noise-{path.stem}", parent)
    return NoiseResult(path, params.method, rows, run_id)


@dataclass(frozen=True)
class TopologyJobParams:
    """Zeroth-order topology of one checkpoint, or of every pruning round of a run."""

    source: CheckpointSource = field(default_factory=CheckpointSource)
    all_rounds: bool = field(default=False, metadata={"help": "Tabulate every pruning round of --run."})
    method: TopologyReportParams = field(default_factory=TopologyReportParams)


@dataclass
class TopologyResult:
    """Either one checkpoint's layer table and totals, or one row per pruning round."""

    title: str
    run_id: int | None
    layer_columns: tuple[str, ...] = ()
    layer_rows: list[list[Any]] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    round_rows: list[list[Any]] = field(default_factory=list)


def run_topology(context: JobContext, params: TopologyJobParams) -> TopologyResult:
    """NP, kappa* and MST overlap per layer (one checkpoint) or per round (--all-rounds --run)."""
    settings, source = context.settings, params.source
    if params.all_rounds:
        if source.checkpoint or source.run is None:
            raise GraphstoreError(
                "--all-rounds reads the checkpoints of a pruning run.",
                "Pass --all-rounds --run RUN_ID (no checkpoint path).",
            )
        rows = rounds_table(settings.data_dir, source.run, params.method)
        steps = [dict(zip(ROUND_COLUMNS, row, strict=True)) for row in rows]
        run_id = track_topology(
            context.connections.tracking, params.method, f"topology-run{source.run}-rounds", steps, source.run
        )
        return TopologyResult(f"topology of run {source.run} by pruning round (run {run_id})", run_id, round_rows=rows)
    path = source.resolve(settings.data_dir)
    ckpt = load_checkpoint(path)
    report = checkpoint_topology(ckpt, params.method)
    parent = ckpt.run_id if isinstance(ckpt.run_id, int) else None
    tracking = context.connections.tracking
    run_id = track_topology(tracking, params.method, f"topology-{path.stem}", [report.totals], parent)
    return TopologyResult(
        f"topology of {path.name} (run {run_id})",
        run_id,
        tuple(LAYER_COLUMNS),
        report.layer_rows(),
        dict(report.totals),
    )


@dataclass(frozen=True)
class ModulesJobParams:
    """Modules of a sculpted MLP checkpoint, scored against its Boolean task."""

    source: CheckpointSource = field(default_factory=CheckpointSource)
    name: str | None = field(default=None, metadata={"help": "Run name in the tracking DB."})
    method: ModuleParams = field(default_factory=ModuleParams)


@dataclass
class ModulesResult:
    """The detected modules and the tracked run."""

    checkpoint: Path
    result: ModuleResult
    run_id: int


def run_modules(context: JobContext, params: ModulesJobParams) -> ModulesResult:
    """Detect and score modules; record levels, module count and success as a tracked analysis run."""
    path = params.source.resolve(context.settings.data_dir)
    label = params.name or f"modules-{path.parent.name}-{path.stem}"
    with context.open_tracking() as tracking, tracking.tracked_run("analysis-modules", label, params.method) as run_id:
        result = analyse_checkpoint(path, params.method)
        metrics = {"levels": float(len(result.modules_per_level)), "modules": float(len(result.modules))}
        if result.success is not None:
            metrics["success"] = float(result.success)
        tracking.log_metrics(run_id, 0, metrics)
    return ModulesResult(path, result, run_id)


NOISE = JobSpec(
    "noise",
    "Noise robustness (003 eq. 4.1): Jaccard and CNS of the noisy latent kNN graph against "
    "p = 0, and the accuracy of the classifier head on the noisy latents, per noise level.",
    NoiseJobParams,
    run_noise,
    "graphstore noise --run 1 --epoch 5 --p 0,0.01,0.05,0.1,0.2,0.5,1 --k 8 --limit 1000",
)
TOPOLOGY = JobSpec(
    "topology",
    "Zeroth-order topology (METHODS F): per-layer NP, normalised NP, kappa* (measured, and kappa_004 in 004's "
    "count), MST overlap and its bounds; model totals, kappa_004 = 004's Final Compression; conv layers as channel "
    "or unrolled (Toeplitz) graphs; with --all-rounds, one row per pruning round of a run.",
    TopologyJobParams,
    run_topology,
    "graphstore topology --run 1 --conv-graph unrolled",
)
MODULES = JobSpec(
    "modules",
    "Detect modules per level in a sculpted MLP checkpoint; compare with the Boolean task's ground truth.",
    ModulesJobParams,
    run_modules,
    "graphstore modules --run 12 --merge-in 0.8",
)
JOBS.register(NOISE)
JOBS.register(TOPOLOGY)
JOBS.register(MODULES)
