"""The checks a claim can make on result rows, each giving an Outcome (holds, fails, not measurable) and its numbers.

Every check reads group means (numbers only: text, None and NaN are left out) and says "not measurable" rather
than guess: a column no row records, an axis with one value, a group with fewer than `min_n` rows, a constant
column in a correlation. docs/EXPERIMENTS.md "Claims" gives the TOML keys of each.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Protocol

HOLDS, FAILS, NOT_MEASURABLE = "holds", "fails", "not measurable at this scale"
Rows = list[dict[str, Any]]
DIRECTIONS = ("increasing", "decreasing", "non-decreasing", "non-increasing")
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}


class SpecError(ValueError):
    """A [[claims]] or [[figures]] entry with a missing, unknown or mistyped key (the definition names the file)."""


@dataclass(frozen=True)
class Outcome:
    """A check's result in one group: the status, the numbers behind it, and the rows it used."""

    status: str
    detail: str
    n: int = 0


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (text, booleans, lists, None, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def same_value(have: Any, wanted: Any) -> bool:
    """Whether a row's value equals a wanted one (numbers compared as numbers, anything else as text)."""
    a, b = number(have), number(wanted)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return str(have) == str(wanted)


def show(x: float) -> str:
    """A number at 4 significant digits."""
    return f"{x:.4g}"


def sample_std(values: list[float]) -> float:
    """The sample standard deviation (n - 1) of two or more numbers."""
    mean = sum(values) / len(values)
    return float((sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5)


def spread(values: list[float]) -> str:
    """mean +- sample std (n=N) of some numbers; the std only when there are two or more."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{show(mean)} (n={len(values)})"
    return f"{show(mean)} ± {show(sample_std(values))} (n={len(values)})"


@dataclass(frozen=True)
class Point:
    """The mean of a column over the rows of one key (an axis value, a group), how many rows, and the values."""

    key: Any
    mean: float
    n: int
    values: tuple[float, ...] = ()

    def shown(self) -> str:
        return spread(list(self.values)) if self.values else f"{show(self.mean)} (n={self.n})"

    def text(self, name: str) -> str:
        return f"{name}={self.key}: {self.shown()}"


def means_by(rows: Rows, key: str, column: str) -> list[Point]:
    """The mean of `column` per value of `key`, first-seen order, numeric values only (keys without one dropped)."""
    found: dict[str, tuple[Any, list[float]]] = {}
    for row in rows:
        value = number(row.get(column))
        if value is not None and row.get(key) is not None:
            found.setdefault(repr(row.get(key)), (row.get(key), []))[1].append(value)
    return [Point(k, sum(v) / len(v), len(v), tuple(v)) for k, v in found.values()]


def _few(points: list[Point], min_n: int, name: str) -> Outcome | None:
    """Not measurable when a point rests on fewer than min_n rows."""
    thin = [p for p in points if p.n < min_n]
    if thin:
        listed = ", ".join(f"{name}={p.key} has n={p.n}" for p in thin)
        return Outcome(NOT_MEASURABLE, f"{listed} (fewer than {min_n} rows)", sum(p.n for p in points))
    return None


def _missing(rows: Rows, *columns: str) -> Outcome | None:
    """Not measurable when no row has a number in one of the columns."""
    for column in columns:
        if not any(number(r.get(column)) is not None for r in rows):
            return Outcome(NOT_MEASURABLE, f"no row has a number in column {column!r}", 0)
    return None


class Check(Protocol):
    """What every check offers: the columns it reads, a one-line description, and its outcome on rows."""

    @property
    def columns(self) -> set[str]: ...

    def describe(self) -> str: ...

    def evaluate(self, rows: Rows) -> Outcome: ...


def _column(help: str) -> Any:
    """A required key naming a column."""
    return field(metadata={"kind": "column", "help": help})


@dataclass(frozen=True)
class Direction:
    """The column's mean over the axis: `increasing` never falls and ends above its start (`decreasing` the
    mirror); `non-decreasing` / `non-increasing` never fall / rise. `steps = "ends"` compares first and last only."""

    column: str = _column("the value whose trend is checked")
    axis: str = _column("the column it is checked over (sorted numerically)")
    direction: str = field(default="increasing", metadata={"kind": "choice", "choices": DIRECTIONS})
    steps: str = field(default="all", metadata={"kind": "choice", "choices": ("all", "ends")})
    tolerance: float = field(default=0.0, metadata={"kind": "number"})
    min_n: int = field(default=1, metadata={"kind": "count"})

    @property
    def columns(self) -> set[str]:
        return {self.column, self.axis}

    def describe(self) -> str:
        ends = " (first vs last)" if self.steps == "ends" else ""
        return f"{self.column} {self.direction} over {self.axis}{ends}"

    def evaluate(self, rows: Rows) -> Outcome:
        missing = _missing(rows, self.column, self.axis)
        if missing:
            return missing
        points = sorted(means_by(rows, self.axis, self.column), key=lambda p: number(p.key) or 0.0)
        n = sum(p.n for p in points)
        if len(points) < 2:
            return Outcome(NOT_MEASURABLE, f"axis {self.axis} has {len(points)} value(s)", n)
        thin = _few(points, self.min_n, self.axis)
        if thin:
            return thin
        values = [p.mean for p in points]
        pairs = [(values[0], values[-1])] if self.steps == "ends" else list(zip(values, values[1:], strict=False))
        sign = -1.0 if self.direction in ("decreasing", "non-increasing") else 1.0
        steps_ok = all(sign * (b - a) >= -self.tolerance for a, b in pairs)
        grows = sign * (values[-1] - values[0]) > self.tolerance
        ok = steps_ok and (grows or self.direction.startswith("non"))
        detail = " -> ".join(p.shown() for p in points)
        detail = f"{self.axis} {points[0].key}..{points[-1].key}: {detail}"
        return Outcome(HOLDS if ok else FAILS, detail, n)


@dataclass(frozen=True)
class Order:
    """Groups of `by` ranked on the column: each `higher` group's mean above each `lower` one's (`quantifier =
    "any"`: above at least one); `lower` left out means every other value of `by`."""

    column: str = _column("the value compared")
    by: str = _column("the column whose values are the groups")
    higher: tuple[Any, ...] = field(default=(), metadata={"kind": "values"})
    lower: tuple[Any, ...] = field(default=(), metadata={"kind": "values", "optional": True})
    quantifier: str = field(default="all", metadata={"kind": "choice", "choices": ("all", "any")})
    min_n: int = field(default=1, metadata={"kind": "count"})

    @property
    def columns(self) -> set[str]:
        return {self.column, self.by}

    def describe(self) -> str:
        lower = ", ".join(map(str, self.lower)) or "every other"
        higher = ", ".join(map(str, self.higher))
        return f"{self.column}: {self.by}={higher} above {self.quantifier} of {self.by}={lower}"

    def _pick(self, points: list[Point], wanted: tuple[Any, ...]) -> list[Point]:
        return [p for p in points if any(same_value(p.key, w) for w in wanted)]

    def evaluate(self, rows: Rows) -> Outcome:
        missing = _missing(rows, self.column)
        if missing:
            return missing
        points = means_by(rows, self.by, self.column)
        high = self._pick(points, self.higher)
        low = self._pick(points, self.lower) if self.lower else [p for p in points if p not in high]
        n = sum(p.n for p in points)
        absent = [str(w) for w in (*self.higher, *self.lower) if not any(same_value(p.key, w) for p in points)]
        if absent or not high or not low:
            return Outcome(NOT_MEASURABLE, f"no {self.column} for {self.by}={', '.join(absent) or 'the others'}", n)
        thin = _few([*high, *low], self.min_n, self.by)
        if thin:
            return thin
        above = [h.mean > lo.mean for h in high for lo in low]
        ok = all(above) if self.quantifier == "all" else any(above)
        detail = f"{'; '.join(p.text(self.by) for p in high)} vs {'; '.join(p.text(self.by) for p in low)}"
        return Outcome(HOLDS if ok else FAILS, detail, n)


@dataclass(frozen=True)
class Threshold:
    """The column's mean over the selected rows against a value (`==` holds within `tolerance`)."""

    column: str = _column("the value tested")
    op: str = field(default=">=", metadata={"kind": "choice", "choices": tuple(OPS)})
    value: float = field(default=0.0, metadata={"kind": "number", "required": True})
    tolerance: float = field(default=0.0, metadata={"kind": "number"})
    min_n: int = field(default=1, metadata={"kind": "count"})

    @property
    def columns(self) -> set[str]:
        return {self.column}

    def describe(self) -> str:
        within = f" (within {show(self.tolerance)})" if self.tolerance else ""
        return f"mean {self.column} {self.op} {show(self.value)}{within}"

    def evaluate(self, rows: Rows) -> Outcome:
        values = [v for v in (number(r.get(self.column)) for r in rows) if v is not None]
        if len(values) < max(1, self.min_n):
            return Outcome(NOT_MEASURABLE, f"{len(values)} row(s) with {self.column} (need {self.min_n})", len(values))
        mean = sum(values) / len(values)
        ok = abs(mean - self.value) <= self.tolerance if self.op == "==" else OPS[self.op](mean, self.value)
        detail = f"{self.column} {spread(values)} {self.op} {show(self.value)}"
        if self.op == "==":
            detail = f"{self.column} {mean:.7g} (n={len(values)}), {self.value:.7g} within {show(self.tolerance)}"
        return Outcome(HOLDS if ok else FAILS, detail, len(values))


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (Pearson on tie-averaged ranks); None when either side is constant."""
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    if sx == 0 or sy == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True)) / (sx * sy)


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho of x and y over the rows: the sign given and |rho| >= min_rho."""

    x: str = _column("first column")
    y: str = _column("second column")
    sign: str = field(default="positive", metadata={"kind": "choice", "choices": ("positive", "negative")})
    min_rho: float = field(default=0.0, metadata={"kind": "number"})
    min_n: int = field(default=3, metadata={"kind": "count"})

    @property
    def columns(self) -> set[str]:
        return {self.x, self.y}

    def describe(self) -> str:
        return f"Spearman({self.x}, {self.y}) {self.sign}, |rho| >= {show(self.min_rho)}"

    def evaluate(self, rows: Rows) -> Outcome:
        pairs = [(number(r.get(self.x)), number(r.get(self.y))) for r in rows]
        xs = [a for a, b in pairs if a is not None and b is not None]
        ys = [b for a, b in pairs if a is not None and b is not None]
        if len(xs) < max(3, self.min_n):
            return Outcome(NOT_MEASURABLE, f"{len(xs)} rows with both {self.x} and {self.y}", len(xs))
        rho = spearman(xs, ys)
        if rho is None:
            return Outcome(NOT_MEASURABLE, f"{self.x} or {self.y} is constant over {len(xs)} rows", len(xs))
        ok = (rho > 0 if self.sign == "positive" else rho < 0) and abs(rho) >= self.min_rho
        return Outcome(HOLDS if ok else FAILS, f"rho = {rho:+.3f} (n={len(xs)})", len(xs))


@dataclass(frozen=True)
class SuccessRate:
    """The share of rows whose column passes (`op value`, or a true / non-zero value) is at least min_rate."""

    column: str = _column("the per-row outcome")
    min_rate: float = field(default=1.0, metadata={"kind": "number", "required": True})
    op: str = field(default="", metadata={"kind": "choice", "choices": ("", *OPS)})
    value: float = field(default=0.0, metadata={"kind": "number"})
    min_n: int = field(default=1, metadata={"kind": "count"})

    @property
    def columns(self) -> set[str]:
        return {self.column}

    def describe(self) -> str:
        test = f"{self.column} {self.op} {show(self.value)}" if self.op else f"{self.column} true"
        return f"share of rows with {test} >= {show(self.min_rate)}"

    def _passes(self, value: float) -> bool:
        return OPS[self.op](value, self.value) if self.op else value != 0

    def evaluate(self, rows: Rows) -> Outcome:
        values = [v for v in (number(r.get(self.column)) for r in rows) if v is not None]
        values += [1.0 if r.get(self.column) else 0.0 for r in rows if isinstance(r.get(self.column), bool)]
        if len(values) < max(1, self.min_n):
            return Outcome(NOT_MEASURABLE, f"{len(values)} row(s) with {self.column} (need {self.min_n})", len(values))
        passed = sum(self._passes(v) for v in values)
        rate = passed / len(values)
        ok = rate >= self.min_rate - 1e-12
        return Outcome(
            HOLDS if ok else FAILS, f"{passed}/{len(values)} = {show(rate)} vs {show(self.min_rate)}", len(values)
        )


@dataclass(frozen=True)
class Spread:
    """The column's sample standard deviation over the rows against a value: repeated stochastic fits of one input
    that differ (`op = ">"`, `value = 0`) or agree within a bound."""

    column: str = _column("the value whose spread over the rows is tested")
    op: str = field(default=">", metadata={"kind": "choice", "choices": tuple(OPS)})
    value: float = field(default=0.0, metadata={"kind": "number"})
    min_n: int = field(default=2, metadata={"kind": "count"})

    @property
    def columns(self) -> set[str]:
        return {self.column}

    def describe(self) -> str:
        return f"sample std of {self.column} {self.op} {show(self.value)}"

    def evaluate(self, rows: Rows) -> Outcome:
        values = [v for v in (number(r.get(self.column)) for r in rows) if v is not None]
        need = max(2, self.min_n)
        if len(values) < need:
            return Outcome(NOT_MEASURABLE, f"{len(values)} row(s) with {self.column} (need {need})", len(values))
        std = sample_std(values)
        ok = OPS[self.op](std, self.value)
        detail = f"{self.column} {spread(values)}: std {show(std)} {self.op} {show(self.value)}"
        return Outcome(HOLDS if ok else FAILS, detail, len(values))


CHECKS: dict[str, type] = {
    "direction": Direction,
    "order": Order,
    "threshold": Threshold,
    "correlation": Correlation,
    "success-rate": SuccessRate,
    "spread": Spread,
}


def check_table_columns(where: str, table: str, used: set[str], columns: Mapping[str, set[str]]) -> None:
    """SpecError when `table` is not declared or `used` names a column outside its group and values (a table that
    declares no values is not checked: its columns are whatever the cells record)."""
    if table not in columns:
        raise SpecError(f"{where}: table {table!r} is not a [[tables]] name ({', '.join(columns)})")
    known = columns[table]
    unknown = sorted(c for c in used if known and c not in known)
    if unknown:
        raise SpecError(
            f"{where}: column(s) {', '.join(unknown)} are not in table {table!r} "
            f"(its group and values: {', '.join(sorted(known))})"
        )


def _value(name: str, value: Any, meta: dict[str, Any]) -> Any:
    """One check key's value, checked against its kind (SpecError naming the key otherwise)."""
    kind = meta["kind"]
    if kind == "column" and not (isinstance(value, str) and value):
        raise SpecError(f"{name} must be a column name, not {value!r}")
    if kind == "number":
        if number(value) is None:
            raise SpecError(f"{name} must be a number, not {value!r}")
        return float(value)
    if kind == "count" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise SpecError(f"{name} must be a whole number >= 1, not {value!r}")
    if kind == "choice" and value not in meta["choices"]:
        raise SpecError(f"{name} must be one of {', '.join(repr(c) for c in meta['choices'] if c)}, not {value!r}")
    if kind == "values":
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in items):
            raise SpecError(f"{name} must be a value or a list of values, not {value!r}")
        return tuple(items)
    return value


def parse_check(kind: str, data: dict[str, Any]) -> Check:
    """The check of a claim from its keys (those not common to every claim); SpecError names a bad key."""
    if kind not in CHECKS:
        raise SpecError(f"check must be one of {', '.join(CHECKS)}, not {kind!r}")
    cls = CHECKS[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"unknown key(s) {', '.join(unknown)} for a {kind} check (it takes {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for f in fields(cls):
        required = (
            f.default is MISSING
            or f.metadata.get("required")
            or (f.metadata["kind"] == "values" and not f.metadata.get("optional"))
        )
        if f.name not in data:
            if required:
                raise SpecError(f"a {kind} check needs {f.name!r}")
            continue
        values[f.name] = _value(f.name, data[f.name], dict(f.metadata))
    check: Check = cls(**values)
    return check
