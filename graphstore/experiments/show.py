"""The `experiment list` and `experiment show` jobs: the definitions on offer, and one run's results."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphstore.errors import GraphstoreError
from graphstore.experiments.cells import CELL_KIND, EXPERIMENT_KIND
from graphstore.experiments.claims import Verdict, evaluate_all
from graphstore.experiments.definition import (
    Definition,
    InvalidDefinition,
    definition_files,
    find_definition,
    load_definition,
    replaced_shipped,
)
from graphstore.experiments.results import PaperComparison, Summary, compare_to_paper, load_tables, summarise_all
from graphstore.jobs.base import JobContext, JobSpec
from graphstore.tracking.records import RunRecord


class ExperimentNotFound(GraphstoreError):
    """No experiment run has the id asked for."""


@dataclass(frozen=True)
class ListParams:
    """List the experiments on offer (definitions) and the newest experiment runs."""

    runs: int = field(default=10, metadata={"help": "How many recent experiment runs to list (0: none)."})


@dataclass(frozen=True)
class Offered:
    """One definition: name, document, title, cells per scale, and the file (or the error reading it)."""

    name: str
    document: str
    title: str
    cells: dict[str, int]
    path: Path
    error: str | None = None
    replaces: Path | None = None  # the shipped definition this ./experiments file hides


@dataclass
class Listing:
    """The definitions and the recent runs."""

    offered: list[Offered]
    runs: list[RunRecord]


def _cells(definition: Definition) -> dict[str, int]:
    """Grid size per scale (product of the axis lengths)."""
    return {name: math.prod(len(v) for v in scale.grid.values()) for name, scale in definition.scales.items()}


def run_list(context: JobContext, params: ListParams) -> Listing:
    """Every definition found (./experiments first, then the shipped ones) and the newest experiment runs."""
    offered = []
    for name, path in definition_files().items():
        try:
            d = load_definition(path)
            offered.append(Offered(d.name, d.document, d.title, _cells(d), path, replaces=replaced_shipped(d)))
        except GraphstoreError as exc:
            offered.append(Offered(name, "", "", {}, path, exc.message))
    runs: list[RunRecord] = []
    if params.runs:
        with context.open_tracking() as tracking:
            runs = tracking.list_runs(kind=EXPERIMENT_KIND, limit=params.runs)
    return Listing(offered, runs)


@dataclass(frozen=True)
class ShowParams:
    """Show an experiment run: its cells, its tables summarised, the paper's values beside ours, and the verdict on
    each of the document's claims."""

    run: int = field(
        metadata={"help": "Experiment run id (graphstore experiment list shows recent ones).", "argument": True}
    )


@dataclass
class ExperimentReport:
    """One experiment run: the run, its definition (None if the file is gone), cells, summaries, paper values."""

    run: RunRecord
    definition: Definition | None
    cells: list[RunRecord]
    summaries: list[Summary]
    comparisons: list[PaperComparison]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    note: str = ""
    verdicts: list[Verdict] = field(default_factory=list)


def _definition(run: RunRecord) -> tuple[Definition | None, str]:
    """The definition the run used: its recorded file, else the one of that name now (with a note), else None."""
    path = Path(str(run.params.get("definition", "")))
    try:
        return load_definition(path), ""
    except InvalidDefinition:
        pass
    try:
        return find_definition(run.name), f"definition file {path} is gone: paper values from {run.name!r} as it is now"
    except GraphstoreError:
        return None, f"definition file {path} is gone: no paper values"


def experiment_report(context: JobContext, run_id: int) -> ExperimentReport:
    """Gather one experiment run's cells and results (used by `experiment show` and reports)."""
    with context.open_tracking() as tracking:
        run = tracking.get_run(run_id)
        if run is None or run.kind != EXPERIMENT_KIND:
            recent = ", ".join(str(r.id) for r in tracking.list_runs(kind=EXPERIMENT_KIND, limit=10)) or "none yet"
            raise ExperimentNotFound(
                f"Run {run_id} is not an experiment run.",
                f"Recent experiment runs: {recent} (graphstore experiment list).",
            )
        cells = [c for c in tracking.list_child_runs(run_id) if c.kind == CELL_KIND]
        tables = load_tables(tracking, run_id)
    definition, note = _definition(run)
    point = set(run.params.get("grid", {}))
    summaries = summarise_all(definition, tables, point, dict(run.params.get("params", {})))
    scale = str(run.params.get("scale", ""))
    comparisons = compare_to_paper(definition, summaries, scale) if definition else []
    defaults = dict(run.params.get("params", {}))
    verdicts = evaluate_all(definition.claims, tables, scale, defaults) if definition else []
    return ExperimentReport(run, definition, cells, summaries, comparisons, tables, note, verdicts)


def run_show(context: JobContext, params: ShowParams) -> ExperimentReport:
    """The job behind `graphstore experiment show`."""
    return experiment_report(context, params.run)


LIST = JobSpec("experiment-list", ListParams.__doc__ or "", ListParams, run_list, "graphstore experiment list")
SHOW = JobSpec("experiment-show", ShowParams.__doc__ or "", ShowParams, run_show, "graphstore experiment show 12")
