"""Neural-sculpting trials (002, docs/METHODS.md E): sculpt an MLP on a Boolean task, detect its modules, score them.

002's slides report success rates (36/36, 35/36, ...) over many trials per task: one trial = train a dense MLP,
prune units then edges (a tracked `prune-sculpt` run with its checkpoint), detect the modules of the sculpted net
(a tracked `analysis-modules` run), success = the detected structure matches the task's planted one. Trials
are independent, so an experiment runs one per cell; `run_sculpt_trials` runs a list in order and
`success_rates` counts successes per task.

    trial = SCULPT_TRIAL(context, SculptTrialParams(method=SculptConfig(task="reused", widths=(24, 24), seed=1)))
    rates = success_rates(run_sculpt_trials(context, [SculptConfig(task=t, seed=s) for t in tasks for s in seeds]))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphstore.analysis.modules import ModuleParams
from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.jobs.checkpoint_reports import MODULES, ModulesJobParams
from graphstore.jobs.prune import SCULPT, SculptJobParams
from graphstore.jobs.source import CheckpointSource
from graphstore.nn.datasets.boolean_modular import boolean_task
from graphstore.pruning.params import SculptConfig


@dataclass(frozen=True)
class SculptTrialParams:
    """One sculpting trial: sculpt an MLP on a Boolean task, detect its modules, score them against the task."""

    name: str | None = field(default=None, metadata={"help": "Name prefix of the two tracked runs."})
    method: SculptConfig = field(default_factory=SculptConfig)
    detection: ModuleParams = field(default_factory=ModuleParams)


@dataclass
class SculptTrial:
    """What one trial found: the sculpted network, its modules, the planted ones, and the verdict."""

    task: str
    planted_arch: list[int]
    widths: list[int]
    seed: int
    met: bool
    acc: float
    density: float
    arch: list[int]
    p_unit: float | None
    p_edge: float | None
    modules_per_level: list[int]
    ground_truth: list[int]
    first_level_inputs: list[list[int]]
    success: bool
    reasons: list[str]
    seconds: float
    sculpt_run_id: int | str
    modules_run_id: int | None
    checkpoint: Path

    def row(self) -> dict[str, Any]:
        """The trial as a result-table row (JSON scalars and lists)."""
        return {
            "planted_arch": self.planted_arch,
            "met": float(self.met),
            "acc": self.acc,
            "density": self.density,
            "arch": self.arch,
            "p_unit": self.p_unit,
            "p_edge": self.p_edge,
            "modules_per_level": self.modules_per_level,
            "ground_truth": self.ground_truth,
            "first_level_inputs": self.first_level_inputs,
            "success": float(self.success),
            "reason": "; ".join(self.reasons),
            "seconds": self.seconds,
        }


def run_sculpt_trial(context: JobContext, params: SculptTrialParams) -> SculptTrial:
    """Sculpt (tracked run + checkpoint), then detect and score modules on the kept network (tracked run).

    A dense network below the accuracy threshold is a failed trial: there is no sculpted network to read.
    """
    method = params.method
    task = boolean_task(method.task, method.outputs)
    label = params.name or f"trial-{task.name}-{'x'.join(map(str, method.widths))}-s{method.seed}"
    sculpted = SCULPT(context, SculptJobParams(name=f"{label}-sculpt", method=method))
    result = sculpted.result
    per_level: list[int] = []
    inputs: list[list[int]] = []
    reasons = [f"threshold not met: {result.message}"]
    modules_run_id, success = None, False
    if result.met:
        source = CheckpointSource(checkpoint=str(sculpted.checkpoint))
        found = MODULES(context, ModulesJobParams(source=source, name=f"{label}-modules", method=params.detection))
        per_level, reasons, modules_run_id = found.result.modules_per_level, found.result.reasons, found.run_id
        inputs = sorted(m.inputs for m in found.result.modules if m.level == 1)
        success = bool(found.result.success)
    return SculptTrial(
        task=task.name,
        planted_arch=list(task.arch),
        widths=list(method.widths),
        seed=method.seed,
        met=result.met,
        acc=result.state.acc,
        density=result.density,
        arch=result.arch,
        p_unit=result.p_unit,
        p_edge=result.p_edge,
        modules_per_level=per_level,
        ground_truth=list(task.modules_per_level),
        first_level_inputs=inputs,
        success=success,
        reasons=reasons,
        seconds=result.seconds,
        sculpt_run_id=sculpted.run_id,
        modules_run_id=modules_run_id,
        checkpoint=sculpted.checkpoint,
    )


def run_sculpt_trials(
    context: JobContext, methods: Iterable[SculptConfig], detection: ModuleParams | None = None
) -> list[SculptTrial]:
    """One trial per sculpting configuration, in order (progress per trial)."""
    todo = list(methods)
    trials, detection = [], detection or ModuleParams()
    for i, method in enumerate(todo):
        trials.append(run_sculpt_trial(context, SculptTrialParams(method=method, detection=detection)))
        context.progress("sculpting trials", i + 1, len(todo))
    return trials


def success_rates(trials: Iterable[SculptTrial]) -> dict[str, tuple[int, int]]:
    """(successes, trials) per task name."""
    rates: dict[str, tuple[int, int]] = {}
    for t in trials:
        won, n = rates.get(t.task, (0, 0))
        rates[t.task] = (won + int(t.success), n + 1)
    return rates


SCULPT_TRIAL = JobSpec(
    "sculpt-trial",
    "One neural-sculpting trial (002): sculpt an MLP on a Boolean task, detect its modules, score them.",
    SculptTrialParams,
    run_sculpt_trial,
    "graphstore experiment run sculpting-modules --scale smoke",
)
JOBS.register(SCULPT_TRIAL)
