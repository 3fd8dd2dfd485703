"""From a definition, a scale and `--set key=value` overrides to the list of cells, each with typed parameters.

Every cell's parameters are the pipeline dataclass's defaults, overridden by the definition's [params], then
[<scale>.params], then the grid point, then the user's --set values. A --set on a grid axis, or a comma list
for a scalar parameter, makes (or replaces) a grid axis. A pipeline nests dataclasses (TrainConfig as `train`, a
pruning method as `imp`): their fields are addressed as `train.lr`, or by the flat name `lr` where exactly one
field has it (graphstore.params.resolve_key); keys stay as written in the cells' keys and the recorded run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphstore.errors import GraphstoreError, InvalidParams
from graphstore.experiments.base import Pipeline
from graphstore.experiments.definition import Definition
from graphstore.params import (
    AmbiguousKey,
    coerce,
    flatten_tables,
    from_nested,
    leaf_defaults,
    leaf_fields,
    parse_assignments,
    resolve_key,
    show_value,
    to_dict,
)

MAX_CELLS = 10_000  # a larger grid is almost always a typo (a long comma list); --max-cells raises the limit


class UnknownSetting(GraphstoreError):
    """A --set key that the experiment's pipeline does not have, or a value that does not parse."""


class GridTooLarge(GraphstoreError):
    """The grid has more cells than --max-cells allows, or an axis with no values."""


@dataclass(frozen=True)
class Cell:
    """One grid point: its key ('dataset=digits,seed=0'), the point itself, and its full typed parameters."""

    key: str
    point: dict[str, Any]
    params: Any

    @property
    def fingerprint(self) -> str:
        """A hash of the cell's parameters: a resumed run skips a completed cell only when this matches."""
        text = json.dumps(to_dict(self.params), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    """The cells of one experiment run, and what they were made from."""

    definition: Definition
    pipeline: Pipeline[Any]
    scale: str
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    cells: list[Cell]


def setting_keys(pipeline: Pipeline[Any]) -> str:
    """The keys --set accepts (nested ones dotted: train.lr), with defaults, for error hints."""
    return "; ".join(f"{key}={show_value(default)}" for key, default, _ in leaf_defaults(pipeline.params))


def setting_path(pipeline: Pipeline[Any], key: str) -> tuple[str, ...]:
    """The parameter field a key names ('train.lr', or a flat 'lr' when one field has that name)."""
    try:
        return resolve_key(pipeline.params, key)
    except AmbiguousKey as exc:
        raise UnknownSetting(exc.message, exc.hint) from exc
    except InvalidParams as exc:
        raise UnknownSetting(
            f"The experiment has no parameter {key!r}.", f"Its keys (with defaults): {setting_keys(pipeline)}."
        ) from exc


def setting_kind(pipeline: Pipeline[Any], key: str) -> Any:
    """The type of the parameter a key names."""
    path = setting_path(pipeline, key)
    return next(kind for p, _, kind in leaf_fields(pipeline.params) if p == path)


def _is_sequence(kind: Any) -> bool:
    """Whether a field's type is a tuple or list (a comma list is then the value, not an axis)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(_is_sequence(a) for a in typing.get_args(kind) if a is not type(None))
    return typing.get_origin(kind) in (tuple, list)


def _same_field(pipeline: Pipeline[Any], keys: Iterable[str], key: str) -> list[str]:
    """The keys among `keys` that name the same parameter field as `key` (a flat and a dotted spelling)."""
    path = setting_path(pipeline, key)
    return [k for k in keys if setting_path(pipeline, k) == path]


def merged(pipeline: Pipeline[Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """Parameter layers merged in order, each key kept as written; a later key for the same field replaces it."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in flatten_tables(layer).items():
            for old in _same_field(pipeline, out, key):
                del out[old]
            out[key] = value
    return out


def _apply_sets(
    pipeline: Pipeline[Any], sets: tuple[str, ...], base: dict[str, Any], axes: dict[str, list[Any]]
) -> None:
    """Fold --set assignments into the base parameters and the axes (in place); a key given twice is refused.
    A --set on a grid axis (by either spelling) replaces that axis's values and keeps its name."""
    _refuse_repeats(pipeline, sets)
    for key, text in parse_assignments(sets, "--set").items():
        axis = next(iter(_same_field(pipeline, axes, key)), None)
        for old in _same_field(pipeline, base, key):
            del base[old]
        if axis is not None or ("," in text and not _is_sequence(setting_kind(pipeline, key))):
            axes[axis or key] = [v.strip() for v in text.split(",") if v.strip()]
        else:
            base[key] = text


def _refuse_repeats(pipeline: Pipeline[Any], sets: tuple[str, ...]) -> None:
    """A --set key given more than once (by either spelling) is refused, not silently the last: a grid axis is one
    comma list."""
    seen: dict[tuple[str, ...], list[str]] = {}
    for item in sets:
        key = item.partition("=")[0].strip().replace("-", "_")
        seen.setdefault(setting_path(pipeline, key), []).append(item)
    repeated = {k: v for k, v in seen.items() if len(v) > 1}
    if repeated:
        path, items = next(iter(repeated.items()))
        key, values = ".".join(path), ",".join(i.partition("=")[2].strip() for i in items)
        raise UnknownSetting(
            f"--set {key} is given {len(items)} times ({', '.join(items)}); only one would count.",
            f"Give each key once; for a grid axis list the values: --set {key}={values}",
        )


def _check_axes(axes: dict[str, list[Any]], max_cells: int) -> None:
    """Refuse an axis with no values (a run of 0 cells) and a grid larger than max_cells, before building it."""
    empty = [k for k, v in axes.items() if not v]
    if empty:
        raise GridTooLarge(
            f"Grid axis {', '.join(empty)} has no values: the run would have 0 cells.",
            f"Give the axis values, e.g. --set {empty[0]}=0,1 (definition files refuse empty axes too).",
        )
    cells = math.prod(len(v) for v in axes.values())
    if cells > max_cells:
        sizes = " x ".join(f"{k}:{len(v)}" for k, v in axes.items())
        raise GridTooLarge(
            f"The grid has {cells:,} cells ({sizes}), more than the limit of {max_cells:,}.",
            f"Check the --set comma lists for a typo; to run a grid this large on purpose pass --max-cells {cells}.",
        )


def _typed(pipeline: Pipeline[Any], values: dict[str, Any], where: str) -> Any:
    """The pipeline's parameter dataclass from raw values (flat or dotted keys); a bad key or value names the keys."""
    try:
        return from_nested(pipeline.params, values, where)
    except GraphstoreError as exc:
        raise UnknownSetting(exc.message, f"Keys (with defaults): {setting_keys(pipeline)}.") from exc


def _normalise_axis(pipeline: Pipeline[Any], name: str, values: list[Any]) -> list[Any]:
    """Axis values coerced to the field's type, so 'seed=0,1' and [0, 1] make the same cells."""
    kind = setting_kind(pipeline, name)
    try:
        return [coerce(v, kind) for v in values]
    except (TypeError, ValueError) as exc:
        raise UnknownSetting(f"Grid axis {name}: {exc}.", f"Keys (with defaults): {setting_keys(pipeline)}.") from exc


def _check_keys(definition: Definition, pipeline: Pipeline[Any], keys: Iterable[str]) -> None:
    """Refuse keys of the definition that name no parameter (all listed) or more than one (the candidates named)."""
    unknown = []
    for key in keys:
        try:
            resolve_key(pipeline.params, key)
        except AmbiguousKey as exc:
            raise UnknownSetting(f"{definition.path}: {exc.message}", exc.hint) from exc
        except InvalidParams:
            unknown.append(key)
    if unknown:
        raise UnknownSetting(
            f"{definition.path}: {', '.join(sorted(unknown))} is not a parameter of pipeline {pipeline.name!r}.",
            f"Its keys (with defaults): {setting_keys(pipeline)}.",
        )


def make_plan(
    definition: Definition,
    pipeline: Pipeline[Any],
    scale: str,
    sets: tuple[str, ...] = (),
    max_cells: int = MAX_CELLS,
) -> Plan:
    """Resolve the cells of `definition` at `scale` with the user's overrides; every cell's parameters are checked."""
    spec = definition.scale(scale)
    _check_keys(definition, pipeline, [*flatten_tables(definition.params), *flatten_tables(spec.params), *spec.grid])
    base = merged(pipeline, definition.params, spec.params)
    axes = {k: list(v) for k, v in spec.grid.items()}
    _apply_sets(pipeline, sets, base, axes)
    _check_axes(axes, max_cells)
    axes = {name: _normalise_axis(pipeline, name, values) for name, values in axes.items()}
    cells = []
    for combo in itertools.product(*axes.values()):
        point = dict(zip(axes, combo, strict=True))
        key = ",".join(f"{k}={v}" for k, v in point.items())
        cells.append(Cell(key, point, _typed(pipeline, {**base, **point}, f"{definition.name} cell {key or '(one)'}")))
    return Plan(definition, pipeline, scale, base, axes, cells)
