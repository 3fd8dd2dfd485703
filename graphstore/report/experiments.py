"""The report of one experiment run: the verdict on each of the document's claims, its result tables summarised
(mean ± std, n), the figures its definition declares (each with the verdicts of the claims it concerns; a table with
no declared figure gets a chart per value when grouped by one numeric column), and each of the paper's reported
values beside ours with the difference (ours - paper).

Results are gathered by graphstore.experiments.show.experiment_report (the same as `graphstore experiment show`):
the run's rows per table, summarised by the definition's table specs, and compared with its paper values.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from graphstore.errors import GraphstoreError
from graphstore.experiments.claims import Verdict
from graphstore.experiments.results import PaperComparison, Stat, Summary
from graphstore.experiments.runner import EXPERIMENT_KIND
from graphstore.experiments.show import ExperimentNotFound, ExperimentReport, experiment_report
from graphstore.jobs.base import JobContext
from graphstore.report.class_trees import Trees, add_consensus, by_leaves, is_newick
from graphstore.report.document import Figure, Link, Report, Section, Table, Text
from graphstore.report.experiment_figures import draw
from graphstore.report.figures import Marks, Series, line_chart
from graphstore.report.lookup import not_found
from graphstore.report.runs import flatten
from graphstore.tracking import RunRecord, Tracking


def _number(value: Any) -> float | None:
    """A finite number as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def experiment_runs(tracking: Tracking) -> list[RunRecord]:
    """Every experiment run, oldest first."""
    return sorted(tracking.list_runs(kind=EXPERIMENT_KIND, limit=None), key=lambda r: r.id)


def build_experiment_report(context: JobContext, run_id: int) -> Report:
    """Every section of an experiment run's report."""
    try:
        found = experiment_report(context, run_id)
    except ExperimentNotFound as exc:
        with context.open_tracking() as tracking:
            known = [str(r.id) for r in experiment_runs(tracking)]
        raise not_found("experiment run", str(run_id), known, "graphstore experiment list", numeric=True) from exc
    run, definition = found.run, found.definition
    title = f"Experiment run {run.id}: {definition.title if definition else run.name}"
    scale = run.params.get("scale", "?")
    report = Report("experiment", str(run.id), title, f"{run.name} at the {scale} scale, {run.status}.")
    _overview(report, found)
    _claims_section(report, found)
    comparisons = found.comparisons
    for summary in found.summaries:
        _table_section(report, found, summary, [c for c in comparisons if c.paper.table == summary.spec.name])
    _trees_section(report, found)
    _paper_section(report, found)
    return report


def _tree_labels(found: ExperimentReport, table: str, rows: list[dict[str, Any]]) -> list[str]:
    """A label per row from the columns that tell the rows apart (grid axes, the table's groups, epoch...)."""
    specs = [s.spec for s in found.summaries if s.spec.name == table]
    wanted = [*found.run.params.get("grid", {}), *(specs[0].group if specs else ()), "epoch", "sparsity", "round"]
    varying = [c for c in dict.fromkeys(wanted) if len({str(r.get(c)) for r in rows}) > 1]
    labels = [", ".join(f"{c}={r.get(c)}" for c in varying) or f"row {i + 1}" for i, r in enumerate(rows)]
    return [f"{label} #{i + 1}" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def _trees_section(report: Report, found: ExperimentReport) -> None:
    """Tables whose rows carry a class tree (`tree`): the consensus per leaf set and the pairwise RF matrix."""
    tabled = {t: [r for r in rows if is_newick(r.get("tree"))] for t, rows in found.tables.items()}
    tabled = {t: rows for t, rows in tabled.items() if rows}
    if not tabled:
        return
    section = report.section("Class trees of the cells")
    for table, rows in tabled.items():
        try:
            _table_trees(section, table, by_leaves(_tree_labels(found, table, rows), [r["tree"] for r in rows]))
        except GraphstoreError as exc:  # a user's pipeline may record a `tree` column that is not Newick
            section.add(Text(f"Table {table}: its trees are not drawn: {exc.message}"))


def _table_trees(section: Section, table: str, groups: list[Trees]) -> None:
    """Per leaf set: the consensus and RF matrix of its trees, or why there is nothing to compare."""
    for n, trees in enumerate(groups):
        if len(trees.newicks) < 2:
            section.add(Text(f"Table {table}: one tree on its classes ({trees.labels[0]}), nothing to compare."))
            continue
        section.add(Text(f"Table {table}, {len(trees.newicks)} trees on the same classes:"))
        add_consensus(section, f"{table}-{n + 1}", trees, f"trees of table {table}")


def verdict_table(verdicts: list[Verdict], caption: str) -> Table:
    """One row per claim: id, verdict, the numbers behind it, the document's statement and where it says so."""
    rows = [
        [v.claim.id, v.status, v.detail, v.claim.statement, v.claim.source, v.claim.check.describe()] for v in verdicts
    ]
    return Table(["claim", "verdict", "numbers", "statement", "source", "check"], rows, caption)


def _claims_section(report: Report, found: ExperimentReport) -> None:
    title = "The document's claims"
    if found.definition is None or not found.definition.claims:
        report.omit(title, "the definition declares no [[claims]].")
        return
    counts = Counter(v.status for v in found.verdicts)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    section = report.section(title).add(Text(f"{len(found.verdicts)} claims: {summary}."))
    section.add(verdict_table(found.verdicts, "Each claim's verdict at this scale, with the numbers behind it"))


def _overview(report: Report, found: ExperimentReport) -> None:
    run, definition = found.run, found.definition
    section = report.section("Experiment")
    if definition is not None:
        section.add(Text(definition.description.strip()))
        section.add(
            Table(["field", "value"], [["document", definition.document], ["definition", str(definition.path)]])
        )
    if found.note:
        section.add(Text(f"Note: {found.note}."))
    section.add(Table(["parameter", "value"], flatten(run.params), "Run parameters"))
    rows = [[c.id, c.name, c.status, c.error] for c in found.cells]
    section.add(Table(["cell run", "name", "status", "error"], rows, f"{len(rows)} cells"))
    section.add(*(Link("run", str(c.id), f"Cell run {c.id}: {c.name}") for c in found.cells))


def _show(value: Any) -> Any:
    return value.show() if isinstance(value, Stat) else value


def _declared_figures(
    section: Section, found: ExperimentReport, summary: Summary, papers: list[PaperComparison]
) -> bool:
    """Each [[figures]] entry of this table, drawn, with the verdicts of the claims that name it; whether any."""
    specs = [f for f in found.definition.figures if f.table == summary.spec.name] if found.definition else []
    for spec in specs:
        drawn = draw(spec, summary, papers)
        if isinstance(drawn, str):
            section.add(Text(f"Figure {spec.id} ({spec.caption}) not drawn: {drawn}."))
        else:
            section.add(drawn)
        verdicts = [v for v in found.verdicts if v.claim.figure == spec.id]
        if verdicts:
            section.add(verdict_table(verdicts, f"Claims this figure concerns ({spec.id})"))
    return bool(specs)


def _table_section(
    report: Report, found: ExperimentReport, summary: Summary, comparisons: list[PaperComparison]
) -> None:
    spec = summary.spec
    title = spec.title or f"Table {spec.name}"
    if not summary.rows:
        report.omit(title, f"no cell recorded a row of table {spec.name!r} (did every cell fail?).")
        return
    columns = [*spec.group, *summary.value_columns]
    rows = [[_show(row.get(c)) for c in columns] for row in summary.rows]
    section = report.section(title).add(Table(columns, rows, f"{spec.name}: mean ± sample std (n) per group"))
    if not _declared_figures(section, found, summary, comparisons):
        section.add(*table_figures(summary, comparisons))
    if comparisons:
        section.add(comparison_table(comparisons, f"The paper's values for {spec.name}"))


def table_figures(summary: Summary, comparisons: list[PaperComparison]) -> list[Figure]:
    """One line chart per numeric value column against a single numeric group column, paper values as marks."""
    spec = summary.spec
    if len(spec.group) != 1:
        return []
    axis = spec.group[0]
    found = [_number(row.get(axis)) for row in summary.rows]
    xs = [x for x in found if x is not None]
    if len(xs) < len(found) or len(xs) < 2:
        return []
    figures = []
    for column in summary.value_columns:
        stats = [row.get(column) for row in summary.rows]
        means = [s.mean for s in stats if isinstance(s, Stat) and s.mean is not None]
        if len(means) < len(stats):
            continue
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        ours = Series("ours (mean ± std)", [xs[i] for i in order], [means[i] for i in order])
        errors = [float(getattr(stats[i], "std", None) or 0.0) for i in order]
        marks = [
            Marks(f"paper ({c.paper.source})", [float(c.paper.where[axis])], [c.paper.value])
            for c in comparisons
            if c.paper.column == column and _number(c.paper.where.get(axis)) is not None
        ]
        figures.append(
            line_chart(
                f"{spec.name}-{column}-vs-{axis}",
                f"{column} vs {axis} ({spec.name})",
                [ours],
                axis,
                f"{column} (as recorded)",
                errors=[errors],
                marks=marks,
            )
        )
    return figures


def comparison_table(comparisons: list[PaperComparison], caption: str) -> Table:
    """Paper value, ours, and the difference, per compared number."""
    rows = []
    for c in comparisons:
        where = ", ".join(f"{k}={v}" for k, v in c.paper.where.items()) or "(all)"
        difference = c.difference
        stated = "no matching row" if difference is None else f"{difference:+.4g}"
        rows.append(
            [c.paper.table, where, c.paper.column, c.paper.value, _show(c.ours), stated, c.paper.source, c.paper.note]
        )
    columns = ["table", "where", "column", "paper", "ours", "ours - paper", "source", "note"]
    return Table(columns, rows, caption)


def _paper_section(report: Report, found: ExperimentReport) -> None:
    title = "Paper values"
    if found.definition is None:
        report.omit(title, "the experiment's definition file is gone, so its paper values are unknown.")
        return
    if not found.definition.paper_values:
        report.omit(title, f"the definition {found.definition.name!r} lists no paper values.")
        return
    if not found.comparisons:
        scale = found.run.params.get("scale", "?")
        report.omit(title, f"the definition's paper values are all for another scale than {scale!r}.")
        return
    section = Section(title)
    section.add(comparison_table(found.comparisons, "Every paper value beside ours (ours - paper)"))
    report.sections.append(section)
