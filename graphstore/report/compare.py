"""`graphstore report compare ID ID ...`: tracked runs side by side (any kind, experiment runs included).

Per-epoch metrics of the runs that train are overlaid, one figure per metric (`split/name`) with one line per run;
pruning runs (they log `sparsity` per round) are overlaid against round and against sparsity. The parameters that
differ between the runs are tabled (nested keys flattened as `train.lr`; a key a run lacks shows as a dash), then
each metric's last value per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphstore.jobs.base import JobContext, JobSpec
from graphstore.report.document import Report, Table, Text, fmt, slug
from graphstore.report.figures import Series, line_chart
from graphstore.report.job import OUT_HELP, Written, output_folder, write_report
from graphstore.report.lookup import ReportError, not_found
from graphstore.report.runs import PRUNING_CURVES, Curves, curves_of, flatten
from graphstore.tracking import RunRecord, Tracking

MISSING = object()  # a parameter one run lacks
LABEL_KEYS = 2  # differing parameters named in each run's legend label


@dataclass(frozen=True)
class CompareReportParams:
    """Compare tracked runs side by side: overlaid curves, the parameters that differ, final metrics."""

    ids: tuple[str, ...] = field(
        metadata={"help": "Two or more run ids (see `graphstore runs list`).", "argument": True, "repeat": True}
    )
    out: str = field(default="", metadata={"help": OUT_HELP})


@dataclass(frozen=True)
class Compared:
    """One run of a comparison: its record, its metrics by `split/name` and step, and its legend label."""

    run: RunRecord
    curves: Curves
    label: str

    @property
    def pruning(self) -> bool:
        return "sparsity" in self.curves


def runs_to_compare(tracking: Tracking, ids: tuple[str, ...]) -> list[RunRecord]:
    """The runs named, in order; fewer than two, a repeated or an unknown id is a ReportError."""
    if len(ids) < 2:
        raise ReportError(
            f"A comparison needs at least two runs; got {len(ids)}.", "Give two or more run ids: report compare 1 2."
        )
    if len(set(ids)) < len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ReportError(f"Run {', '.join(twice)} is named twice.", "Give each run id once.")
    known = [str(r.id) for r in tracking.list_runs(limit=None)]
    runs = []
    for wanted in ids:
        run = tracking.get_run(int(wanted)) if wanted.isdigit() else None
        if run is None:
            raise not_found("run", wanted, known, "graphstore runs list", numeric=True)
        runs.append(run)
    return runs


def param_diff(runs: list[RunRecord]) -> list[tuple[str, list[Any]]]:
    """(dotted key, value per run) for every parameter whose value is not the same in all runs."""
    flat = [{key: value for key, value in flatten(r.params)} for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    rows = [(k, [f.get(k, MISSING) for f in flat]) for k in keys]
    return [(k, values) for k, values in rows if any(v != values[0] for v in values)]


def labels(runs: list[RunRecord], diff: list[tuple[str, list[Any]]]) -> list[str]:
    """A legend label per run: `run 3 (lr=0.01)`, naming the first differing parameters by their last key part."""
    named = diff[:LABEL_KEYS]
    out = []
    for i, run in enumerate(runs):
        parts = [f"{key.rsplit('.', 1)[-1]}={fmt(values[i])}" for key, values in named if values[i] is not MISSING]
        out.append(f"run {run.id}" + (f" ({', '.join(parts)})" if parts else f" ({run.name})"))
    return out


def build_compare_report(tracking: Tracking, ids: tuple[str, ...]) -> Report:
    """Every section of the comparison of the runs named."""
    runs = runs_to_compare(tracking, ids)
    diff = param_diff(runs)
    named = zip(runs, labels(runs, diff), strict=True)
    compared = [Compared(r, curves_of(tracking.list_metrics(r.id)), label) for r, label in named]
    what = ", ".join(str(r.id) for r in runs)
    report = Report("compare", "-".join(str(r.id) for r in runs), f"Runs {what} compared", _summary(runs))
    report.section("Runs").add(
        Table(["run", "kind", "name", "status", "seed", "started (UTC)"], [_row(r) for r in runs])
    )
    _training(report, [c for c in compared if not c.pruning])
    _pruning(report, [c for c in compared if c.pruning])
    _diff(report, runs, diff)
    _final(report, compared)
    return report


def _summary(runs: list[RunRecord]) -> str:
    kinds = sorted({r.kind for r in runs})
    return f"{len(runs)} runs ({', '.join(kinds)}) side by side."


def _row(run: RunRecord) -> list[Any]:
    return [run.id, run.kind, run.name, run.status, run.seed, f"{run.created_at:%Y-%m-%d %H:%M:%S}"]


def _per_step(curves: Curves, key: str) -> tuple[list[int], list[float]]:
    steps = sorted(curves.get(key, {}))
    return steps, [curves[key][s] for s in steps]


def _training(report: Report, runs: list[Compared]) -> None:
    """One figure per metric logged at two or more epochs by some run, each run a line."""
    title = "Training curves"
    keys = sorted({k for c in runs for k, v in c.curves.items() if len(v) > 1})
    if not keys:
        report.omit(title, "none of these runs logged a metric at two or more epochs.")
        return
    section = report.section(title)
    section.add(Text("Each metric per epoch, one line per run; one-step metrics are in the final metrics table."))
    for key in keys:
        series = [Series(c.label, *_per_step(c.curves, key)) for c in runs if key in c.curves]
        name = slug(f"compare-{report.id}-{key}")
        caption = f"{key} per epoch: {_names(series)}"
        section.add(line_chart(name, caption, series, "epoch", _unit(key)))


def _names(series: list[Series]) -> str:
    """The runs a figure draws, for its caption (the SVG's legend text is drawn as paths)."""
    return ", ".join(s.label for s in series)


def _unit(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    units = {"loss": "loss (cross-entropy, nats)", "acc": "accuracy (fraction)", "lr": "learning rate"}
    return units.get(name, "seconds" if name == "seconds" else f"{key} (as logged)")


def _pruning(report: Report, runs: list[Compared]) -> None:
    """Pruning runs' per-round metrics against sparsity, and test accuracy against round, one line per run."""
    title = "Pruning curves"
    if not runs:
        report.omit(title, "none of these runs pruned (no sparsity logged per round).")
        return
    section = report.section(title)
    acc = [Series(c.label, *_per_step(c.curves, _acc_key(c.curves))) for c in runs if _acc_key(c.curves) in c.curves]
    if acc:
        name = slug(f"compare-{report.id}-acc-vs-round")
        caption = f"Test accuracy per round: {_names(acc)}"
        section.add(line_chart(name, caption, acc, "round", "test accuracy (fraction correct)"))
    for metric, ylabel, caption in PRUNING_CURVES:
        series = []
        for c in runs:
            values = c.curves.get(f"test/{metric}", c.curves.get(metric, {}))
            steps = sorted(s for s in values if s in c.curves["sparsity"])
            if steps:
                series.append(Series(c.label, [c.curves["sparsity"][s] for s in steps], [values[s] for s in steps]))
        if series:
            name = slug(f"compare-{report.id}-{metric}-vs-sparsity")
            section.add(line_chart(name, f"{caption}: {_names(series)}", series, "sparsity (fraction pruned)", ylabel))


def _acc_key(curves: Curves) -> str:
    return "test/acc" if "test/acc" in curves else "acc"


def _diff(report: Report, runs: list[RunRecord], diff: list[tuple[str, list[Any]]]) -> None:
    title = "Parameters that differ"
    if not diff:
        report.omit(title, "every parameter is the same in these runs.")
        return
    columns = ["parameter", *(f"run {r.id}" for r in runs)]
    rows = [[key, *(None if v is MISSING else v for v in values)] for key, values in diff]
    report.section(title).add(Table(columns, rows, "Only the keys whose values differ; a dash: the run lacks it."))


def _final(report: Report, compared: list[Compared]) -> None:
    title = "Final metrics"
    keys = sorted({k for c in compared for k in c.curves})
    if not keys:
        report.omit(title, "none of these runs logged a metric.")
        return
    rows = [[key, *(c.curves[key][max(c.curves[key])] if key in c.curves else None for c in compared)] for key in keys]
    columns = ["metric (split/name)", *(f"run {c.run.id}" for c in compared)]
    report.section(title).add(Table(columns, rows, "Each metric's value at the last step the run logged it."))


def run_compare_report(context: JobContext, params: CompareReportParams) -> Written:
    """Write the comparison of the runs named."""
    folder = output_folder(context, params.out)
    with context.open_tracking() as tracking:
        report = build_compare_report(tracking, params.ids)
    return write_report(report, folder, lambda kind, id: None)


COMPARE_REPORT = JobSpec(
    "compare",
    CompareReportParams.__doc__ or "",
    CompareReportParams,
    run_compare_report,
    "graphstore report compare 3 4",
)
