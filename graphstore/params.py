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
from collections.abc import Callable, Iterable, Mapping
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


def from_mapping(cls: type[T], values: Mapping[str, Any] | None, what: str) -> T:
    """Build dataclass `cls` from a mapping, coercing values; unknown keys, bad values raise InvalidParams."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidParams(f"Unknown parameter(s) for {what}: {', '.join(unknown)}.", f"Known: {known_list(cls)}")
    hints = field_types(cls)
    kwargs = {name: _coerce_field(fields[name], hints[name], raw, what) for name, raw in values.items()}
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
    """Tuples to lists, recursively."""
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
