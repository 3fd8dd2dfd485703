"""The index page of `report --all`, grouped: each experiment with its cells, runs by kind, graphs by kind.

Every entry is one line: a link to the report and its one-line summary (a run's kind, status and final test
accuracy / sparsity; a graph's kind, status and size). A run whose parent is an experiment run is listed under that
experiment (its cell) rather than with the runs of its kind.
"""

from __future__ import annotations

from collections import defaultdict

from graphstore.report.document import Link, Report, Table
from graphstore.report.written import Written


def entry(written: Written) -> Link:
    """One line of the index: a link to the report, its title and summary."""
    text = f"{written.title}: {written.summary}" if written.summary else written.title
    return Link(written.kind, written.id, text)


def by_group(written: list[Written]) -> dict[str, list[Written]]:
    """Reports by their group (a run's or a graph's kind), groups in name order, reports in the order written."""
    out: dict[str, list[Written]] = defaultdict(list)
    for w in written:
        out[w.group or "other"].append(w)
    return dict(sorted(out.items()))


def index_report(written: list[Written], failed: list[tuple[str, str, str]]) -> Report:
    """The grouped index page: experiments with their cells, runs by kind, graphs by kind, then the failures."""
    index = Report("index", "all", "graphstore reports", f"{len(written)} reports, {len(failed)} failed.")
    experiments = [w for w in written if w.kind == "experiment"]
    cells = {w.id for w in written if w.kind == "run" and w.parent in {e.id for e in experiments}}
    for experiment in experiments:
        mine = [w for w in written if w.kind == "run" and w.parent == experiment.id]
        section = index.section(f"Experiment {experiment.id}").add(entry(experiment))
        section.add(*(entry(w) for w in mine))
    if not experiments:
        index.omit("Experiments", "no experiment is recorded.")
    runs = [w for w in written if w.kind == "run" and w.id not in cells]
    _grouped(index, "Runs", runs, "run")
    _grouped(index, "Graphs", [w for w in written if w.kind == "graph"], "graph")
    if failed:
        index.section("Failed").add(Table(["kind", "id", "error"], [list(f) for f in failed]))
    return index


def _grouped(index: Report, title: str, written: list[Written], kind: str) -> None:
    """A section per group (`Runs: train (3)`), or one omitted section when there are none."""
    if not written:
        index.omit(title, f"no {kind} is recorded.")
        return
    for group, mine in by_group(written).items():
        index.section(f"{title}: {group} ({len(mine)})").add(*(entry(w) for w in mine))
