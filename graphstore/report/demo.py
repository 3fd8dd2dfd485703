"""The report `graphstore demo` ends with: what each step did (its command line and result, the pruning curve and
the class tree drawn), linked to the reports of the runs it trained and pruned and of the graphs it stored (degree
and weight distributions, communities, the class graph, hubness), all in one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphstore.jobs.base import JobContext
from graphstore.jobs.demo import DemoResult
from graphstore.report.document import Code, Link, Report, Table, Text
from graphstore.report.figures import Series, line_chart, tree_figure
from graphstore.report.job import BatchResult, Written, output_folder, write_batch


def demo_report(context: JobContext, done: DemoResult, out: str = "") -> BatchResult:
    """Reports of the demo's runs and graphs, and `index-demo.html` telling the day step by step."""
    folder = output_folder(context, out or str(Path(context.settings.data_dir) / "reports" / "demo"))
    runs = [r for r in (done.pruning.parent_run_id, done.pruning.run_id) if r is not None]
    graphs = [o.graph_id for o in done.ingest.outcomes if o.status == "complete"]
    todo = [("run", str(r)) for r in runs] + [("graph", g) for g in graphs]

    def index(written: list[Written], failed: list[tuple[str, str, str]]) -> Report:
        return demo_index(done, written, failed)

    return write_batch(context, folder, todo, index)


def demo_index(done: DemoResult, written: list[Written], failed: list[tuple[str, str, str]]) -> Report:
    """The demo's page: one section per step, with its command and links to what it made."""
    report = Report("index", "demo", "What graphstore demo did", f"Graphs are in {done.store}.")
    pruning = done.pruning
    step = report.section(f"1. Train a dense network, then prune it ({pruning.method})")
    step.add(Code(done.commands[0]))
    rows: list[list[Any]] = [[r.round, r.sparsity, r.metrics.get("test_acc")] for r in pruning.rounds]
    step.add(Table(["round", "sparsity (fraction pruned)", "test accuracy"], rows))
    if all(isinstance(row[2], float) for row in rows):
        curve = Series(f"IMP (run {pruning.run_id})", [row[1] for row in rows], [row[2] for row in rows])
        step.add(
            line_chart(
                "demo-accuracy",
                "Test accuracy vs sparsity",
                [curve],
                "sparsity (fraction pruned)",
                "test accuracy (fraction)",
            )
        )
    if pruning.parent_run_id is not None:
        step.add(Link("run", str(pruning.parent_run_id), f"Training run {pruning.parent_run_id}: training curves"))
    step.add(Link("run", str(pruning.run_id), f"Pruning run {pruning.run_id}: pruning curves"))
    step = report.section("2. Ingest the pruned network's graphs").add(Code(done.commands[1]))
    rows = [[o.graph_id, o.kind, o.nodes, o.edges, o.status] for o in done.ingest.outcomes]
    step.add(Table(["graph id", "kind", "nodes", "edges", "status"], rows))
    step.add(*(Link("graph", o.graph_id, f"Graph report: {o.graph_id}") for o in done.ingest.outcomes))
    step = report.section("3. Communities of the co-activation graph").add(Code(done.commands[2]))
    summary = getattr(done.analysis, "summary", {})
    step.add(Table(["result", "value"], [[k, v] for k, v in summary.items()]))
    _tree_step(report, done)
    for number, query in enumerate(done.queries, start=5):
        step = report.section(f"{number}. {query.title}")
        step.add(Code(f"graphstore query {query.name} " + " ".join(f"-p {k}={v}" for k, v in query.params.items())))
        step.add(Table(query.columns, query.rows))
    if failed:
        report.section("Reports that failed").add(Table(["kind", "id", "error"], [list(f) for f in failed]))
    report.section("Next").add(Text("`graphstore report --all` reports every run and graph; docs/REPORTS.md."))
    return report


def _tree_step(report: Report, done: DemoResult) -> None:
    """Step 4: the class tree the hierarchy analysis found, drawn, with its Newick."""
    trees = getattr(done.hierarchy, "summary", {}).get("trees") or []
    step = report.section("4. The class tree of the co-activation graph")
    step.add(Code(done.commands[3] if len(done.commands) > 3 else "graphstore analyze hierarchy"))
    if not trees:
        step.add(Text("The hierarchy analysis gave no tree."))
        return
    step.add(tree_figure("demo-class-tree", "Class tree (Louvain levels, run 1)", trees[0]), Code(trees[0], "Newick:"))
    source = getattr(done.hierarchy, "graph_id", "")
    if source:
        step.add(Link("graph", source, f"Graph report: {source} (communities, all trees)"))
