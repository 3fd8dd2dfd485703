"""Parameter dataclasses (L0, shared by every layer): coerce text and JSON into typed fields, validate choices,
describe for --help.

Every model, dataset and the training config is a dataclass whose fields carry `metadata={"help": ...}` and
optionally `"choices"` (allowed values) or `"parse"` (a function from text to the value). One set of helpers
turns CLI `key=value` text, JSON from a checkpoint, or Python values into instances, so the three agree.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from graphstore.errors import InvalidParams

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's fields."""
    return typing.get_type_hints(cls)


def unwrap_optional(kind: Any) -> tuple[bool, Any]:
    """(True, inner) for `X | None`, else (False, kind)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return True, args[0]
    return False, kind


def _scalar(value: Any, kind: Any) -> Any:
    """Coerce one scalar (text or value) to int, float, bool or str."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"{value!r} is not a boolean (use true/false)")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not an integer")
    if kind is float and isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    return kind(value)


def coerce(value: Any, kind: Any) -> Any:
    """Coerce text like "256,128" or JSON values into `kind` (scalars, tuple[X, ...], list[X], X | None)."""
    optional, kind = unwrap_optional(kind)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        inner = typing.get_args(kind)[0] if typing.get_args(kind) else str
        items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
        items = [i for i in items if not (isinstance(i, str) and not i.strip())]
        return origin(_scalar(i, inner) for i in items)
    if kind is Any:
        return value
    return _scalar(value, kind)


def from_mapping(
    cls: type[T], values: Mapping[str, Any] | None, what: str, ready: Mapping[str, Any] | None = None
) -> T:
    """Build dataclass `cls` from a mapping, coercing values; unknown keys, bad values raise InvalidParams.
    `ready` holds values passed as they are (nested dataclasses already built)."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidParams(f"Unknown parameter(s) for {what}: {', '.join(unknown)}.", f"Known: {known_list(cls)}")
    hints = field_types(cls)
    kwargs = {name: _coerce_field(fields[name], hints[name], raw, what) for name, raw in values.items()}
    kwargs.update(ready or {})
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidParams(f"Invalid parameters for {what}: {exc}", f"Known: {known_list(cls)}") from exc


def _coerce_field(f: dataclasses.Field, kind: Any, raw: Any, what: str) -> Any:
    """Coerce one field's raw value and check its choices."""
    parse: Callable[[Any], Any] | None = f.metadata.get("parse")
    try:
        value = parse(raw) if parse and isinstance(raw, str) else coerce(raw, kind)
    except (TypeError, ValueError) as exc:
        raise InvalidParams(f"{what}: {f.name}={raw!r} does not parse ({exc}).", field_help(f)) from exc
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise InvalidParams(f"{what}: {f.name}={value!r} is not one of {', '.join(map(str, choices))}.")
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """A parameter dataclass as a JSON-ready dict (tuples become lists)."""
    return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def to_dict_any(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict of parameters as JSON-ready values (tuples become lists)."""
    return {str(k): _jsonable(v) for k, v in values.items()}


def _jsonable(value: Any) -> Any:
    """Tuples to lists and nested parameter dataclasses to dicts, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def parse_assignments(items: Iterable[str], what: str) -> dict[str, str]:
    """Turn ["width=0.25", "hidden=64,32"] into {"width": "0.25", "hidden": "64,32"}."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidParams(f"{what} option {item!r} is not KEY=VALUE.", "Example: --model-opt width=0.25")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def field_help(f: dataclasses.Field) -> str:
    """The help text of a field, with its choices."""
    text = f.metadata.get("help", "")
    choices = f.metadata.get("choices")
    return f"{text} One of: {', '.join(map(str, choices))}." if choices else text


def describe(cls: type) -> list[tuple[str, str, str]]:
    """(name, default, help) per field, for --help and listings."""
    out = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            shown = show_value(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            shown = show_value(f.default_factory())
        else:
            shown = "(required)"
        out.append((f.name, shown, field_help(f)))
    return out


def show_value(value: Any) -> str:
    """Render a default value compactly ("256,128" for tuples)."""
    if isinstance(value, tuple | list):
        return ",".join(map(str, value)) or "(empty)"
    return "" if value is None else str(value)


def known_list(cls: type) -> str:
    """Field names with defaults, e.g. "width=1.0, batch_norm=True"."""
    return ", ".join(f"{name}={default}" for name, default, _ in describe(cls)) or "(none)"


# ---- nested parameter dataclasses: a field whose type is itself a parameter dataclass -----------------------------
# Its metadata may carry "exclude" (its fields that cannot be set through it) and "aliases" (flat names kept for its
# fields, e.g. {"prune_layers": "layers"}). Keys address its fields as "train.lr", or by the flat name "lr" when
# exactly one settable field of the whole nesting has that name (a field of the outer dataclass always wins).


class AmbiguousKey(InvalidParams):
    """A flat key that names fields of more than one nested dataclass."""


def nested_type(kind: Any) -> type | None:
    """The dataclass a field nests (None for a plain field)."""
    return kind if isinstance(kind, type) and dataclasses.is_dataclass(kind) else None


def field_default(f: dataclasses.Field) -> Any:
    """A field's default value (its factory called), or MISSING."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def leaf_fields(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dataclasses.Field, Any]]:
    """Every settable leaf of a (nested) dataclass: (path, field, type); a nested field's `exclude` hides some."""
    hints = field_types(cls)
    for f in dataclasses.fields(cls):
        inner = nested_type(hints[f.name])
        if inner is None:
            yield (*prefix, f.name), f, hints[f.name]
            continue
        hidden = set(f.metadata.get("exclude", ()))
        default = field_default(f)
        kind = type(default) if dataclasses.is_dataclass(default) else inner
        yield from (leaf for leaf in leaf_fields(kind, (*prefix, f.name)) if leaf[0][len(prefix) + 1] not in hidden)


def leaf_defaults(cls: type) -> list[tuple[str, Any, dataclasses.Field]]:
    """(dotted key, default, field) of every settable leaf, defaults taken from the nested fields' own defaults."""
    out = []
    for path, f, _ in leaf_fields(cls):
        outer = _fields_along(cls, path)
        value = field_default(outer[0])
        for inner in outer[1:]:
            value = getattr(value, inner.name)
        out.append((".".join(path), value, f))
    return out


def _fields_along(cls: type, path: tuple[str, ...]) -> list[dataclasses.Field]:
    """The fields a path passes through, outermost first (a nested field's default decides the inner class)."""
    out, kind = [], cls
    for name in path:
        f = {g.name: g for g in dataclasses.fields(kind)}[name]
        out.append(f)
        default = field_default(f)
        kind = type(default) if dataclasses.is_dataclass(default) else field_types(kind)[name]
    return out


def flatten_tables(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1} (a TOML table of a nested field); other values as they are."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(flatten_tables(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def resolve_key(cls: type, key: str) -> tuple[str, ...]:
    """The field path a key names: 'train.lr' as written; a flat 'lr' when one leaf has that name (or an alias)."""
    leaves = {path: kind for path, _, kind in leaf_fields(cls)}
    path = tuple(key.split("."))
    if path in leaves:
        return path
    if len(path) > 1:
        raise InvalidParams(f"Unknown parameter {key!r}.", f"Known: {', '.join('.'.join(p) for p in leaves)}")
    for f in dataclasses.fields(cls):
        target = f.metadata.get("aliases", {}).get(key)
        if target is not None:
            return (f.name, target)
    found = [p for p in leaves if p[-1] == key]
    if len(found) > 1:
        names = " and ".join(".".join(p) for p in found)
        raise AmbiguousKey(
            f"Parameter {key!r} is ambiguous: it names {names}.", f"Write the full key, e.g. {names.split(' and ')[0]}."
        )
    if not found:
        raise InvalidParams(f"Unknown parameter {key!r}.", f"Known: {', '.join('.'.join(p) for p in leaves)}")
    return found[0]


def leaf_type(cls: type, key: str) -> Any:
    """The type of the field a (dotted or flat) key names."""
    path = resolve_key(cls, key)
    return next(kind for p, _, kind in leaf_fields(cls) if p == path)


def from_nested(cls: type[T], values: Mapping[str, Any] | None, what: str) -> T:
    """Build `cls` from dotted ('train.lr') and flat ('lr') keys; nested fields start from their own defaults.
    A later key naming the same field as an earlier one wins."""
    by_path: dict[tuple[str, ...], Any] = {}
    for key, value in flatten_tables(values or {}).items():
        path = resolve_key(cls, key)
        by_path.pop(path, None)
        by_path[path] = value
    return _build(cls, by_path, what, None)


def _build(cls: type[T], values: dict[tuple[str, ...], Any], what: str, base: Any) -> T:
    """`cls` (or a copy of `base`) with the values at their paths, each nested dataclass rebuilt from its default."""
    hints = field_types(cls)
    nested: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if nested_type(hints[f.name]) is None:
            continue
        current = getattr(base, f.name) if base is not None else field_default(f)
        current = current if dataclasses.is_dataclass(current) else None
        sub = {p[1:]: v for p, v in values.items() if len(p) > 1 and p[0] == f.name}
        if sub:
            kind = type(current) if current is not None else hints[f.name]
            nested[f.name] = _build(kind, sub, f"{what} {f.name}", current)
        elif base is not None:
            nested[f.name] = current
    flat = {p[0]: v for p, v in values.items() if len(p) == 1}
    if base is not None:
        kept = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls) if f.init and f.name not in nested}
        flat = {**kept, **flat}
    return from_mapping(cls, flat, what, nested)
