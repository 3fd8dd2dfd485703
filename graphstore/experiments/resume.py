"""Resuming an experiment run: only with the grid and parameters it recorded, and only when no driver holds it.

A resume that changed a --set (another graph, another seed list) would mix results of two experiments under one
run, so it is refused naming each difference. A resume while the run's driver is alive would run its cells twice,
so it is refused until that driver's lease (graphstore.experiments.lease) has run out.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from graphstore.errors import GraphstoreError
from graphstore.experiments.cells import CELL_KIND, EXPERIMENT_KIND
from graphstore.experiments.lease import LEGACY_GRACE, held_error, lease_end
from graphstore.experiments.plan import Plan, setting_kind, setting_path
from graphstore.params import coerce
from graphstore.tracking.lifecycle import COMPLETED, INTERRUPTED, RUNNING
from graphstore.tracking.records import RunRecord
from graphstore.tracking.repo import Tracking


class ResumeMismatch(GraphstoreError):
    """--resume with a grid or parameters other than the run recorded."""


@dataclass(frozen=True)
class Resumed:
    """The run taken over: its id and the fingerprints of its completed cells."""

    run_id: int
    done: set[str]


def _plain(value: Any) -> Any:
    """A value as the tracking DB's JSON gives it back (tuples as lists), for comparing recorded with planned."""
    return json.loads(json.dumps(value, default=str))


def _typed(plan: Plan, key: str, value: Any) -> Any:
    """A parameter value as the pipeline types it ('5' and 5 are the same seed); left as is when it does not parse."""
    try:
        return _plain(coerce(value, setting_kind(plan.pipeline, key)))
    except (TypeError, ValueError, GraphstoreError):
        return _plain(value)


def _by_field(plan: Plan, params: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Parameters keyed by the field each names ('lr' and 'train.lr' alike), with the key as written and its value;
    a key that names no field stays as written."""
    out = {}
    for key, value in params.items():
        try:
            name = ".".join(setting_path(plan.pipeline, key))
        except GraphstoreError:
            name = key
        out[name] = (key, value)
    return out


def differences(recorded: dict[str, Any], plan: Plan) -> list[str]:
    """Each way the recorded run's pipeline, parameters and grid differ from this plan's, as a short line."""
    out = []
    if recorded.get("pipeline") != plan.definition.pipeline:
        out.append(f"pipeline: recorded {recorded.get('pipeline')!r}, now {plan.definition.pipeline!r}")
    was, now = _by_field(plan, dict(recorded.get("params") or {})), _by_field(plan, plan.base)
    for name in sorted(set(was) | set(now)):
        a = _typed(plan, *was[name]) if name in was else "(not set)"
        b = _typed(plan, *now[name]) if name in now else "(not set)"
        if a != b:
            out.append(f"parameter {name}: recorded {a!r}, now {b!r}")
    was_grid, now_grid = dict(recorded.get("grid") or {}), _plain(plan.axes)
    for axis in sorted(set(was_grid) | set(now_grid)):
        if was_grid.get(axis) != now_grid.get(axis):
            out.append(f"grid axis {axis}: recorded {was_grid.get(axis, 'none')}, now {now_grid.get(axis, 'none')}")
    return out


def mismatch_error(run: RunRecord, found: list[str]) -> ResumeMismatch:
    """The refusal naming what differs, with the recorded --set values to resume with."""
    sets = " ".join(f"--set {shlex.quote(str(s))}" for s in run.params.get("sets") or []) or "(no --set)"
    return ResumeMismatch(
        f"Cannot resume experiment run {run.id}: this --resume differs from what the run recorded "
        f"({'; '.join(found)}). Resuming would mix results of two different grids in one run.",
        f"Resume with the recorded settings ({sets}), or run without --resume to start a new run.",
    )


def _reset_cells(tracking: Tracking, run_id: int) -> set[str]:
    """Mark the run's running cells interrupted (their driver is gone); the fingerprints of completed cells."""
    for child in tracking.list_child_runs(run_id):
        if child.kind == CELL_KIND and child.status == RUNNING:
            tracking.end_cell(child.id, INTERRUPTED, "the experiment driver stopped; cell resumed later")
        elif child.kind == CELL_KIND and child.status != COMPLETED:
            tracking.delete_cell_rows(child.id)
    children = tracking.list_child_runs(run_id)  # read again: a cell may have completed before it was marked
    return {str(c.params.get("fingerprint")) for c in children if c.kind == CELL_KIND and c.status == COMPLETED}


def take_over(tracking: Tracking, plan: Plan, driver: str, heartbeat: float) -> Resumed | None:
    """The newest run of this experiment and scale, claimed for `driver` (None: there is none). Refused when its
    grid or parameters differ (ResumeMismatch) or its driver still holds it (RunHeld)."""
    runs = [
        r
        for r in tracking.list_runs(kind=EXPERIMENT_KIND, limit=None)
        if r.name == plan.definition.name and r.params.get("scale") == plan.scale
    ]
    if not runs:
        return None
    run = runs[0]
    found = differences(run.params, plan)
    if found:
        raise mismatch_error(run, found)
    if not tracking.claim_run(run.id, driver, lease_end(heartbeat), LEGACY_GRACE):
        raise held_error(run.id, tracking.lease_until(run.id))
    return Resumed(run.id, _reset_cells(tracking, run.id))
