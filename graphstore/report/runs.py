"""The report of one tracked run: what ran, its training and pruning curves, checkpoints and the graphs made from it.

Training curves are the per-epoch `loss` and `acc` of each split (graphstore.nn.run_log stores loss/acc under
"train", val_* under "val", test_* under "test"). Pruning curves are a pruning run's per-round metrics against its
`sparsity`; IMP and T-IMP runs that pruned the same parent are drawn on one plot, so their curves compare.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from graphstore.pruning.params import EPOCH_SPLIT, EPOCH_STEP
from graphstore.report.document import Link, Report, Table, Text, fmt
from graphstore.report.figures import Series, line_chart
from graphstore.tracking import MetricRecord, RunRecord, Tracking

PRUNING_KINDS = {"prune-imp": "IMP", "prune-topology": "T-IMP"}
# (metric name, y-axis label, caption) of the pruning curves, each against sparsity.
PRUNING_CURVES = (
    ("acc", "test accuracy (fraction correct)", "Test accuracy vs sparsity"),
    ("np", "NP (sum over layers, dimensionless)", "Neural persistence (NP) vs sparsity"),
    ("overlap", "MST overlap (fraction of edges)", "MST overlap with the previous round vs sparsity"),
    ("kappa", "kappa* (edges / MSF edges)", "Compression kappa* vs sparsity"),
)

Curves = dict[str, dict[int, float]]  # "split/name" -> step -> value


def curves_of(metrics: list[MetricRecord]) -> Curves:
    """Metrics by `split/name` (no split: just the name) and step; the last value logged at a step wins."""
    out: Curves = defaultdict(dict)
    for m in metrics:
        out[f"{m.split}/{m.name}" if m.split else m.name][m.step] = m.value
    return dict(out)


def flatten(params: Any, prefix: str = "") -> list[list[Any]]:
    """Nested parameters as (dotted key, value) rows."""
    if isinstance(params, dict):
        rows: list[list[Any]] = []
        for key, value in params.items():
            rows += flatten(value, f"{prefix}{key}.")
        return rows if rows or not prefix else [[prefix.rstrip("."), "{}"]]
    return [[prefix.rstrip("."), params]]


def build_run_report(tracking: Tracking, run: RunRecord) -> Report:
    """Every section of a run's report, from the tracking DB."""
    curves = curves_of(tracking.list_metrics(run.id))
    parent = "" if run.parent_run_id is None else str(run.parent_run_id)
    title = f"Run {run.id}: {run.name}"
    report = Report("run", str(run.id), title, run_summary(run, curves), group=run.kind, parent=parent)
    _overview(report, tracking, run)
    report.section("Parameters").add(Table(["parameter", "value"], flatten(run.params)))
    _training(report, run, curves)
    _pruning(report, tracking, run, curves)
    if "sparsity" in curves:
        _round_training(report, run, curves)
    _metrics_table(report, curves)
    _checkpoints(report, tracking, run)
    _graphs(report, tracking, run)
    return report


def article(word: str) -> str:
    """'An' before a word starting with a vowel letter (an experiment-cell run), else 'A'."""
    return "An" if word[:1].lower() in "aeiou" else "A"


def run_summary(run: RunRecord, curves: Curves) -> str:
    """One line: the kind, status and, where logged, the final test accuracy and sparsity."""
    finals = [
        f"{label} {fmt(values[max(values)])}"
        for key, label in (("test/acc", "test accuracy"), ("sparsity", "sparsity"))
        if (values := curves.get(key))
    ]
    return f"{article(run.kind)} {run.kind} run, {run.status}" + (f"; {', '.join(finals)}." if finals else ".")


def _overview(report: Report, tracking: Tracking, run: RunRecord) -> None:
    seconds = (run.finished_at - run.created_at).total_seconds() if run.finished_at else None
    rows: list[list[Any]] = [
        ["kind", run.kind],
        ["name", run.name],
        ["status", run.status],
        ["seed", run.seed],
        ["device", run.device],
        ["graphstore version", run.version],
        ["git commit", run.git_commit],
        ["started (UTC)", f"{run.created_at:%Y-%m-%d %H:%M:%S}"],
        ["duration (s)", None if seconds is None else round(seconds, 1)],
        ["error", run.error],
    ]
    section = report.section("Run").add(Table(["field", "value"], rows))
    if run.parent_run_id is not None:
        section.add(Link("run", str(run.parent_run_id), f"Parent: run {run.parent_run_id}"))
    for child in (r for r in tracking.list_runs(limit=None) if r.parent_run_id == run.id):
        section.add(Link("run", str(child.id), f"Child: run {child.id} ({child.kind}, {child.name}, {child.status})"))


def _training(report: Report, run: RunRecord, curves: Curves) -> None:
    title = "Training curves"
    if "sparsity" in curves:
        return  # a pruning run's retraining is drawn per round, after its pruning curves
    figures = []
    for name, label, unit in (
        ("loss", "Loss", "loss (cross-entropy, nats)"),
        ("acc", "Accuracy", "accuracy (fraction)"),
    ):
        series = [
            Series(split, sorted(curves[key]), [curves[key][s] for s in sorted(curves[key])])
            for split in ("train", "val", "test")
            if (key := f"{split}/{name}") in curves and len(curves[key]) > 0
        ]
        if series:
            figures.append(line_chart(f"run{run.id}-{name}", f"{label} per epoch", series, "epoch", unit))
    if not figures:
        report.omit(title, f"this {run.kind} run logged no per-epoch loss or accuracy.")
        return
    report.section(title).add(*figures)


def _round_training(report: Report, run: RunRecord, curves: Curves) -> None:
    """A pruning run's retraining per round: loss and accuracy per epoch of each split, one curve per round."""
    title = "Training curves per round"
    figures = []
    for split in ("train", "val"):
        for name, unit in (("loss", "loss (cross-entropy, nats)"), ("acc", "accuracy (fraction)")):
            steps = curves.get(f"{split}{EPOCH_SPLIT}/{name}", {})
            rounds = sorted({s // EPOCH_STEP for s in steps})
            series = [
                Series(f"round {r}", [s % EPOCH_STEP for s in sorted(steps) if s // EPOCH_STEP == r],
                       [steps[s] for s in sorted(steps) if s // EPOCH_STEP == r])
                for r in rounds
            ]  # fmt: skip
            if series:
                caption = f"{split} {name} per epoch of each round's retraining (rounds {fmt(rounds)})"
                figures.append(line_chart(f"run{run.id}-{split}-{name}-per-round", caption, series, "epoch", unit))
    if not figures:
        report.omit(title, "this pruning run logged no per-epoch metrics (runs made before they were logged).")
        return
    report.section(title).add(*figures)


def _siblings(tracking: Tracking, run: RunRecord) -> list[RunRecord]:
    """This pruning run and the IMP / T-IMP runs that pruned the same parent (newest of each kind, this one kept)."""
    if run.kind not in PRUNING_KINDS or run.parent_run_id is None:
        return [run]
    found = {run.kind: run}
    for other in tracking.list_runs(limit=None):
        if other.parent_run_id == run.parent_run_id and other.kind in PRUNING_KINDS and other.kind not in found:
            found[other.kind] = other
    return sorted(found.values(), key=lambda r: list(PRUNING_KINDS).index(r.kind))


def _series_label(run: RunRecord) -> str:
    return f"{PRUNING_KINDS.get(run.kind, run.kind)} (run {run.id})"


def _pruning(report: Report, tracking: Tracking, run: RunRecord, curves: Curves) -> None:
    title = "Pruning curves"
    if "sparsity" not in curves:
        report.omit(title, f"a {run.kind} run has no pruning rounds (no sparsity logged); prune runs have them.")
        return
    runs = _siblings(tracking, run)
    all_curves = {r.id: curves if r.id == run.id else curves_of(tracking.list_metrics(r.id)) for r in runs}
    section = report.section(title)
    if len(runs) > 1:
        section.add(Text("IMP and T-IMP runs that pruned the same parent run are drawn together."))
    missing = []
    for name, ylabel, caption in PRUNING_CURVES:
        series = []
        for r in runs:
            c = all_curves[r.id]
            values = c.get(f"test/{name}", c.get(name, {}))
            steps = sorted(s for s in values if s in c["sparsity"])
            if steps:
                series.append(Series(_series_label(r), [c["sparsity"][s] for s in steps], [values[s] for s in steps]))
        if series:
            section.add(
                line_chart(f"run{run.id}-{name}-vs-sparsity", caption, series, "sparsity (fraction pruned)", ylabel)
            )
        else:
            missing.append(name)
    if missing:
        section.add(Text(f"Not logged by these runs: {', '.join(missing)} (IMP logs them with --track-topology)."))
    rows = [
        [
            step,
            curves["sparsity"][step],
            *(curves.get(f"test/{n}", curves.get(n, {})).get(step) for n, *_ in PRUNING_CURVES),
        ]
        for step in sorted(curves["sparsity"])
    ]
    section.add(Table(["round", "sparsity", "test acc", "NP", "overlap", "kappa*"], rows, f"Rounds of run {run.id}"))


def _metrics_table(report: Report, curves: Curves) -> None:
    rows = [[key, len(values), max(values), values[max(values)]] for key, values in sorted(curves.items())]
    if rows:
        report.section("Metrics").add(Table(["metric (split/name)", "steps", "last step", "last value"], rows))
    else:
        report.omit("Metrics", "this run logged no metrics.")


def _checkpoints(report: Report, tracking: Tracking, run: RunRecord) -> None:
    checkpoints = tracking.list_checkpoints(run.id)
    if not checkpoints:
        report.omit("Checkpoints", "this run saved no checkpoints.")
        return
    rows = [[c.id, c.epoch, c.round, c.sparsity, fmt(c.metrics.get("test_acc")), c.path] for c in checkpoints]
    report.section("Checkpoints").add(Table(["id", "epoch", "round", "sparsity", "test acc", "path"], rows))


def _graphs(report: Report, tracking: Tracking, run: RunRecord) -> None:
    graphs = tracking.list_graphs(run_id=run.id)
    if not graphs:
        report.omit("Graphs", f"no graph was extracted from this run (`graphstore ingest --run {run.id}` makes some).")
        return
    rows = [[g.graph_id, g.kind, g.node_count, g.edge_count, g.status] for g in graphs]
    section = report.section("Graphs").add(Table(["graph id", "kind", "nodes", "edges", "status"], rows))
    section.add(*(Link("graph", g.graph_id, f"Graph report: {g.graph_id}") for g in graphs))
