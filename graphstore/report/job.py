"""The report jobs: one report (a run, a graph, an experiment) or every one in a batch with an index page.

Each report is written twice into the output folder: `<kind>-<id>.html` (self-contained, figures inline) and
`<kind>-<id>.md` with its figures as SVG files in `<kind>-<id>_files/`. A batch reports progress per report through
the context's progress callback and keeps going past a report that fails to build or to write (a full disk): the
index lists the failure with its error. Every file is written atomically (temp file + rename, graphstore.safe_fs), so
a reader never finds half a report and a symlink planted at a report's name is replaced, never followed; the output
folder is refused when another user owns it or can write it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from graphstore.errors import GraphstoreError
from graphstore.jobs.base import JobContext, JobSpec
from graphstore.report import class_heatmaps, drawings, hierarchy_tree  # noqa: F401 - register graph report sections
from graphstore.report.document import Report, slug
from graphstore.report.experiments import build_experiment_report, experiment_runs
from graphstore.report.graphs import build_graph_report
from graphstore.report.html import render_html
from graphstore.report.index import index_report
from graphstore.report.lookup import ReportError, close_matches, not_found
from graphstore.report.markdown import render_markdown
from graphstore.report.runs import build_run_report
from graphstore.report.written import Written
from graphstore.safe_fs import UnsafePath, atomic_write_text, ensure_private_dir
from graphstore.store.base import GraphStore
from graphstore.tracking import GraphRecord, Tracking

KINDS = ("run", "graph", "experiment")
__all__ = ["ReportError", "Written", "close_matches"]
OUT_HELP = "Folder the reports are written to (default: <data_dir>/reports)."


@dataclass
class BatchResult:
    """Every report written, the index pages, and the reports that failed (kind, id, error)."""

    folder: Path
    index_html: Path
    index_markdown: Path
    written: list[Written] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)


def output_folder(context: JobContext, out: str) -> Path:
    """The output folder, created (0755) or checked: ours and not writable by others, and writable by us."""
    folder = Path(out).expanduser() if out else Path(context.settings.data_dir) / "reports"
    hint = f"Choose another folder with --out, or make {folder} writable (e.g. chmod u+w, or check its owner)."
    try:
        if folder.is_symlink() and os.lstat(folder).st_uid in (os.geteuid(), 0):
            folder = folder.resolve()  # your own link to a folder: the folder it names is what is checked
        ensure_private_dir(folder, "report folder", mode=0o755)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".graphstore-write-test-")
        os.close(fd)
        os.unlink(probe)
    except UnsafePath as exc:
        safe = "Choose another folder with --out (one only you can write; it is created if missing), or remove it"
        raise ReportError(exc.message, f"{safe} if you did not create it (or chmod go-w).") from exc
    except OSError as exc:
        raise ReportError(f"Cannot write reports to {folder}: {exc.strerror or exc}.", hint) from exc
    return folder


def write_report(report: Report, folder: Path, href: Callable[[str, str], str | None]) -> Written:
    """Write a report's HTML and Markdown (with figure files) into the folder, each file atomically.

    A file that cannot be written (a full disk) is a ReportError naming the report and the OS reason; what was
    written before stays complete, and nothing half-written is left behind.
    """
    html = folder / f"{report.slug}.html"
    markdown = folder / f"{report.slug}.md"
    try:
        atomic_write_text(html, render_html(report, href, footer=f"graphstore report {report.kind} {report.id}"))
        text, figures = render_markdown(report, folder, href)
        atomic_write_text(markdown, text)
    except OSError as exc:
        raise ReportError(
            f"Cannot write the {report.kind} report {report.id} to {folder}: {exc.strerror or exc}.",
            f"Free space on that disk or choose another folder with --out, then write it again "
            f"(graphstore report {report.kind} {report.id} --out DIR).",
        ) from exc
    omitted = [s.title for s in report.sections if s.omitted is not None]
    return Written(
        report.kind,
        report.id,
        report.title,
        html,
        markdown,
        figures,
        omitted,
        report.summary,
        report.group,
        report.parent,
    )


def report_of_run(tracking: Tracking, run_id: int) -> Report:
    """A run's report, or ReportError naming close run ids."""
    run = tracking.get_run(run_id)
    if run is None:
        known = [str(r.id) for r in tracking.list_runs(limit=None)]
        raise not_found("run", str(run_id), known, "graphstore runs list", numeric=True)
    return build_run_report(tracking, run)


def graph_record(tracking: Tracking, store: GraphStore, graph_id: str) -> GraphRecord:
    """The graph's tracking record (or one made from the store's :Graph node), or ReportError with close ids."""
    record = tracking.get_graph(graph_id)
    if record is not None:
        return record
    info = store.graph_info(graph_id)
    if info is None:
        known = sorted({g.graph_id for g in tracking.list_graphs()} | {g.graph_id for g in store.list_graphs()})
        raise not_found("graph", graph_id, known, "graphstore store list")
    return GraphRecord(
        info.graph_id,
        info.kind,
        info.run_id,
        None,
        info.params,
        info.node_count,
        info.edge_count,
        info.status,
        store.uri,
        datetime.fromisoformat(info.created_at) if info.created_at else datetime.now(UTC),
        None,
        None,
        info.error,
    )


def report_of_graph(tracking: Tracking, store: GraphStore, graph_id: str) -> Report:
    """A graph's report (sections that need the stored graph say why when it cannot be read)."""
    record = graph_record(tracking, store, graph_id)
    try:
        graph = store.read_graph(graph_id)
    except GraphstoreError as exc:
        return build_graph_report(tracking, record, None, exc.message)
    return build_graph_report(tracking, record, graph)


def _href(written: set[tuple[str, str]]) -> Callable[[str, str], str | None]:
    """Links to reports written in the same folder (others stay plain text)."""
    return lambda kind, id: f"{slug(f'{kind}-{id}')}.html" if (kind, id) in written else None


@dataclass(frozen=True)
class RunReportParams:
    """Report one tracked run: parameters, training and pruning curves, checkpoints, graphs made from it."""

    id: int = field(metadata={"help": "Run id (see `graphstore runs list`).", "argument": True})
    out: str = field(default="", metadata={"help": OUT_HELP})


@dataclass(frozen=True)
class GraphReportParams:
    """Report one stored graph: counts, distributions, communities, class tree and graph, hubness, delta, centrality."""

    id: str = field(metadata={"help": "Graph id (see `graphstore store list`).", "argument": True})
    out: str = field(default="", metadata={"help": OUT_HELP})


@dataclass(frozen=True)
class ExperimentReportParams:
    """Report one experiment run: its tables and figures beside the paper's values, with the differences."""

    id: int = field(metadata={"help": "Experiment run id (see `graphstore experiment list`).", "argument": True})
    out: str = field(default="", metadata={"help": OUT_HELP})


@dataclass(frozen=True)
class AllReportsParams:
    """Report every experiment, run and graph in one folder, with an index page."""

    out: str = field(default="", metadata={"help": OUT_HELP})


def run_run_report(context: JobContext, params: RunReportParams) -> Written:
    """Write one run's report."""
    folder = output_folder(context, params.out)
    with context.open_tracking() as tracking:
        report = report_of_run(tracking, params.id)
    return write_report(report, folder, _href(set()))


def run_graph_report(context: JobContext, params: GraphReportParams) -> Written:
    """Write one graph's report."""
    folder = output_folder(context, params.out)
    with context.open_tracking() as tracking, context.open_store() as store:
        report = report_of_graph(tracking, store, params.id)
    return write_report(report, folder, _href(set()))


def run_experiment_report(context: JobContext, params: ExperimentReportParams) -> Written:
    """Write one experiment run's report."""
    folder = output_folder(context, params.out)
    report = build_experiment_report(context, params.id)
    return write_report(report, folder, _href(set()))


Todo = list[tuple[str, str]]  # (kind, id) of each report of a batch, in order
IndexMaker = Callable[[list[Written], list[tuple[str, str, str]]], Report]


def run_all_reports(context: JobContext, params: AllReportsParams) -> BatchResult:
    """Every experiment run, run and graph, then the index; progress per report, failures listed in the index."""
    folder = output_folder(context, params.out)
    with context.open_tracking() as tracking, context.open_store() as store:
        experiments = [str(r.id) for r in experiment_runs(tracking)]
        runs = [str(r.id) for r in tracking.list_runs(limit=None) if str(r.id) not in experiments]
        graphs = sorted({g.graph_id for g in tracking.list_graphs()} | {g.graph_id for g in store.list_graphs()})
    todo = [("experiment", i) for i in experiments] + [("run", i) for i in runs] + [("graph", g) for g in graphs]
    return write_batch(context, folder, todo, index_report)


def write_batch(context: JobContext, folder: Path, todo: Todo, make_index: IndexMaker) -> BatchResult:
    """Build and write each report (progress per report; a failure is kept, not raised), then the index.

    Only an index that cannot be written is raised (a ReportError that counts what was written and what failed).
    """
    reports: list[Report] = []
    failed: list[tuple[str, str, str]] = []
    with context.open_tracking() as tracking, context.open_store() as store:
        for done, (kind, id) in enumerate(todo):
            context.progress(f"reports: {kind} {id}", done, len(todo))
            try:
                reports.append(build_report(context, tracking, store, kind, id))
            except GraphstoreError as exc:
                failed.append((kind, id, exc.message))
        context.progress("reports: done", len(todo), len(todo))
    href = _href({(r.kind, r.id) for r in reports})
    written: list[Written] = []
    for report in reports:
        try:
            written.append(write_report(report, folder, href))
        except GraphstoreError as exc:  # ReportError (disk full, no permission) or UnsafePath (a planted link)
            failed.append((report.kind, report.id, exc.message))
    try:
        index = write_report(make_index(written, failed), folder, href)
    except GraphstoreError as exc:
        lost = f"the index was not written; {len(written)} reports were, {len(failed)} failed"
        raise ReportError(f"{exc.message} ({lost}).", exc.hint) from exc
    return BatchResult(folder, index.html, index.markdown, written, failed)


def build_report(context: JobContext, tracking: Tracking, store: GraphStore, kind: str, id: str) -> Report:
    """The report of one (kind, id) of a batch."""
    if kind == "experiment":
        return build_experiment_report(context, int(id))
    if kind == "run":
        return report_of_run(tracking, int(id))
    return report_of_graph(tracking, store, id)


RUN_REPORT = JobSpec("run", RunReportParams.__doc__ or "", RunReportParams, run_run_report, "graphstore report run 3")
GRAPH_REPORT = JobSpec(
    "graph", GraphReportParams.__doc__ or "", GraphReportParams, run_graph_report, "graphstore report graph demo-knn-k8"
)
EXPERIMENT_REPORT = JobSpec(
    "experiment",
    ExperimentReportParams.__doc__ or "",
    ExperimentReportParams,
    run_experiment_report,
    "graphstore report experiment 12",
)
ALL_REPORTS = JobSpec(
    "all", AllReportsParams.__doc__ or "", AllReportsParams, run_all_reports, "graphstore report --all --out reports"
)
