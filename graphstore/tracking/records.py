"""Plain, immutable records returned by the repository (never live ORM objects), and JSON conversion."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePath
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: params say exactly what ran."""

    id: int
    kind: str
    name: str
    status: str
    params: dict[str, Any]
    parent_run_id: int | None
    seed: int | None
    device: str | None
    version: str
    git_commit: str | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class CheckpointRecord:
    """A saved model state of a run."""

    id: int
    run_id: int
    epoch: int
    round: int | None
    path: str
    sparsity: float | None
    metrics: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class MetricRecord:
    """One scalar of a run at a step (NaN when the stored value is NULL)."""

    id: int
    run_id: int
    step: int
    name: str
    value: float
    split: str | None
    created_at: datetime


@dataclass(frozen=True)
class GraphRecord:
    """An extracted graph and the state of its write to a graph store."""

    graph_id: str
    kind: str
    run_id: int | None
    checkpoint_id: int | None
    params: dict[str, Any]
    node_count: int | None
    edge_count: int | None
    status: str
    store_uri: str
    created_at: datetime
    completed_at: datetime | None
    seconds: float | None
    error: str | None


@dataclass(frozen=True)
class AnalysisRecord:
    """One analysis of a graph."""

    id: int
    graph_id: str
    name: str
    params: dict[str, Any]
    summary: dict[str, Any]
    status: str
    engine: str
    created_at: datetime
    seconds: float | None


@dataclass(frozen=True)
class ComparisonRecord:
    """A comparison of two graphs."""

    id: int
    name: str
    graph_a: str
    graph_b: str
    params: dict[str, Any]
    result: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class ExperimentRowRecord:
    """One result row of an experiment table, and the cell run that wrote it."""

    id: int
    experiment_run_id: int
    cell_run_id: int
    table_name: str
    row: dict[str, Any]
    created_at: datetime


def to_record(cls: type[R], row: Any) -> R:
    """Copy the record's fields from an ORM row (call inside the session)."""
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def _float(value: float) -> float | str:
    """Finite floats as they are; NaN/inf as strings (JSON, and PostgreSQL's json type, have no NaN)."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def to_jsonable(value: Any) -> Any:
    """A JSON-safe copy: dataclasses -> dicts, paths -> str, enums -> value, numpy/torch -> lists/scalars."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return _float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, type) or callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if hasattr(value, "tolist"):
        return to_jsonable(value.tolist())
    return str(value)


def params_dict(params: Any) -> dict[str, Any]:
    """A run/graph/analysis params object (dataclass, mapping or None) as a JSON-safe dict."""
    if params is None:
        return {}
    out = to_jsonable(params)
    if not isinstance(out, dict):
        raise TypeError(f"params must be a dataclass instance or a mapping, not {type(params).__name__}")
    return out
