"""Claims as data: a document's checkable statements ([[claims]] in a definition), each with a check on the
experiment's result rows, and a verdict per claim (holds, fails, not measurable at this scale) with the numbers.

A claim's `statement` is the document's words and is never weakened to pass; its check is how the rows test it.
Checks (docs/EXPERIMENTS.md "Claims"): `direction` (a column's group means over an axis), `order` (groups of one
column ranked on another), `threshold` (a group mean against a value), `correlation` (Spearman of two columns over
the rows), `success-rate` (the share of rows passing a test) and `spread` (a column's sample std over the rows, e.g.
repeated stochastic fits that differ). `per` splits the rows into groups that must each
hold; `where` keeps only the rows whose columns equal the values given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphstore.experiments.checks import (
    FAILS,
    HOLDS,
    NOT_MEASURABLE,
    Check,
    Outcome,
    Rows,
    SpecError,
    check_table_columns,
    parse_check,
    same_value,
)

COMMON_KEYS = ("id", "statement", "source", "table", "check", "where", "per", "figure", "scale", "note")

__all__ = [
    "FAILS",
    "HOLDS",
    "NOT_MEASURABLE",
    "Claim",
    "GroupVerdict",
    "Verdict",
    "evaluate",
    "evaluate_all",
    "parse_claims",
]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of the document: its words, where it is said, the table and check that test it."""

    id: str
    statement: str
    source: str
    table: str
    check: Check
    where: dict[str, Any] = field(default_factory=dict)
    per: tuple[str, ...] = ()
    figure: str = ""
    scale: str | None = None
    note: str = ""

    @property
    def columns(self) -> set[str]:
        """Every column the claim reads (for validation against the table)."""
        return {*self.check.columns, *self.per, *self.where}


@dataclass(frozen=True)
class GroupVerdict:
    """The outcome in one group of `per` (the whole selection when the claim has no `per`)."""

    group: str
    status: str
    detail: str
    n: int


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict: holds only if every measurable group holds and at least one is measurable."""

    claim: Claim
    status: str
    groups: list[GroupVerdict]

    @property
    def detail(self) -> str:
        """The numbers behind the verdict, one clause per group."""
        return "; ".join(f"{g.group}: {g.detail}" if g.group else g.detail for g in self.groups)

    @property
    def n(self) -> int:
        """Rows the verdict rests on (all groups)."""
        return sum(g.n for g in self.groups)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        c = self.claim
        return {
            "id": c.id,
            "statement": c.statement,
            "source": c.source,
            "table": c.table,
            "check": c.check.describe(),
            "figure": c.figure or None,
            "verdict": self.status,
            "detail": self.detail,
            "n": self.n,
            "groups": [g.__dict__ for g in self.groups],
        }


def _selected(rows: Rows, where: dict[str, Any]) -> Rows:
    return [r for r in rows if all(same_value(r.get(k), v) for k, v in where.items())]


def _groups(rows: Rows, per: Sequence[str]) -> list[tuple[str, Rows]]:
    """Rows split by the `per` columns, in first-seen order, each with a label such as 'k=4, rate=0.2'."""
    found: dict[str, Rows] = {}
    for row in rows:
        found.setdefault(", ".join(f"{c}={row.get(c)}" for c in per), []).append(row)
    return list(found.items())


def combine(outcomes: list[tuple[str, Outcome]]) -> str:
    """fails if any group fails, not measurable if none is measurable, else holds."""
    statuses = {o.status for _, o in outcomes}
    if FAILS in statuses:
        return FAILS
    return HOLDS if HOLDS in statuses else NOT_MEASURABLE


def evaluate(claim: Claim, rows: Rows, scale: str) -> Verdict:
    """The claim's verdict on one table's rows of a run at `scale`."""
    if claim.scale not in (None, scale):
        reason = f"checked at the {claim.scale} scale only"
        return Verdict(claim, NOT_MEASURABLE, [GroupVerdict("", NOT_MEASURABLE, reason, 0)])
    selected = _selected(rows, claim.where)
    if not selected:
        where = ", ".join(f"{k}={v}" for k, v in claim.where.items())
        reason = f"no row of table {claim.table!r}" + (f" with {where}" if where else "")
        return Verdict(claim, NOT_MEASURABLE, [GroupVerdict("", NOT_MEASURABLE, reason, 0)])
    outcomes = [(label, claim.check.evaluate(members)) for label, members in _groups(selected, claim.per)]
    groups = [GroupVerdict(label, o.status, o.detail, o.n) for label, o in outcomes]
    return Verdict(claim, combine(outcomes), groups)


def evaluate_all(
    claims: Sequence[Claim],
    tables: dict[str, Rows],
    scale: str,
    defaults: dict[str, Any] | None = None,
) -> list[Verdict]:
    """Every claim's verdict; a column a row lacks takes the run's parameter of that name (`defaults`)."""
    out = []
    for claim in claims:
        fill = {c: (defaults or {})[c] for c in claim.columns if c in (defaults or {})}
        rows = [{**fill, **row} for row in tables.get(claim.table, [])]
        out.append(evaluate(claim, rows, scale))
    return out


def _text(data: dict[str, Any], key: str, required: bool = True) -> str:
    value = data.get(key, "")
    if (required and key not in data) or not isinstance(value, str) or (required and not value.strip()):
        raise SpecError(f"{key} must be {'a non-empty' if required else 'a'} text, not {value!r}")
    return value.strip()


def _claim(data: dict[str, Any], scales: Sequence[str]) -> Claim:
    """One [[claims]] entry (SpecError names the bad key)."""
    where, per, scale = data.get("where", {}), data.get("per", []), data.get("scale")
    if not isinstance(where, dict):
        raise SpecError(f"where must be a table of column = value, not {where!r}")
    if not isinstance(per, list) or not all(isinstance(c, str) for c in per):
        raise SpecError(f"per must be a list of column names, not {per!r}")
    if scale is not None and scale not in scales:
        raise SpecError(f"scale must be one of {', '.join(scales)}, not {scale!r}")
    rest = {k: v for k, v in data.items() if k not in COMMON_KEYS}
    return Claim(
        id=_text(data, "id"),
        statement=_text(data, "statement"),
        source=_text(data, "source"),
        table=_text(data, "table"),
        check=parse_check(_text(data, "check"), rest),
        where=dict(where),
        per=tuple(per),
        figure=_text(data, "figure", required=False),
        scale=scale,
        note=_text(data, "note", required=False),
    )


def _label(i: int, entry: dict[str, Any]) -> str:
    name = entry.get("id")
    return f"[[claims]] #{i + 1}" + (f" ({name!r})" if isinstance(name, str) else "")


def parse_claims(
    entries: list[dict[str, Any]], columns: Mapping[str, set[str]], figures: set[str], scales: Sequence[str]
) -> tuple[Claim, ...]:
    """Every [[claims]] entry, checked against the tables' columns (table name -> its group and value columns) and
    the figure ids; SpecError names the entry and the key."""
    out: list[Claim] = []
    for i, entry in enumerate(entries):
        where = _label(i, entry)
        try:
            claim = _claim(entry, scales)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from exc
        check_table_columns(where, claim.table, claim.columns, columns)
        if claim.figure and claim.figure not in figures:
            raise SpecError(
                f"{where}: figure {claim.figure!r} is not a [[figures]] id ({', '.join(figures) or 'none'})"
            )
        if any(c.id == claim.id for c in out):
            raise SpecError(f"{where}: id {claim.id!r} is used twice")
        out.append(claim)
    return tuple(out)
