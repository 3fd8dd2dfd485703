"""Figures as data: [[figures]] in a definition say which table to draw, its x and y columns, the column whose
values make the lines (series) and the one whose values make small multiples (facets), log axes, line or bar, the
axis labels with units, and the document's figure it reproduces. graphstore.report.experiment_figures draws them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphstore.experiments.checks import SpecError, check_table_columns

KINDS = ("line", "bar")
FIGURE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
KEYS = (
    "id",
    "table",
    "x",
    "y",
    "series",
    "facets",
    "kind",
    "log_x",
    "log_y",
    "source",
    "title",
    "x_label",
    "y_label",
    "where",
)


@dataclass(frozen=True)
class FigureSpec:
    """One figure of an experiment: what it draws from which table, and the document's figure it reproduces."""

    id: str
    table: str
    x: str
    y: str
    series: str = ""
    facets: str = ""
    kind: str = "line"
    log_x: bool = False
    log_y: bool = False
    source: str = ""
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    where: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> set[str]:
        """The columns the figure reads."""
        return {c for c in (self.x, self.y, self.series, self.facets, *self.where) if c}

    @property
    def caption(self) -> str:
        """Its title, with the document's figure it reproduces."""
        title = self.title or f"{self.y} vs {self.x}" + (f" per {self.series}" if self.series else "")
        return f"{title} ({self.source})" if self.source else title


def _text(data: dict[str, Any], key: str, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise SpecError(f"{key} must be {'a column name' if required else 'a text'}, not {value!r}")
    return value


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise SpecError(f"{key} must be true or false, not {value!r}")
    return value


def _figure(data: dict[str, Any]) -> FigureSpec:
    """One [[figures]] entry (SpecError names the bad key)."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise SpecError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})")
    ident = _text(data, "id", required=True)
    if not FIGURE_ID.match(ident):
        raise SpecError(f"id must be letters, digits, '-' and '_' (at most 64), not {ident!r}")
    kind = data.get("kind", "line")
    if kind not in KINDS:
        raise SpecError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    where = data.get("where", {})
    if not isinstance(where, dict):
        raise SpecError(f"where must be a table of column = value, not {where!r}")
    return FigureSpec(
        id=ident,
        table=_text(data, "table", required=True),
        x=_text(data, "x", required=True),
        y=_text(data, "y", required=True),
        series=_text(data, "series"),
        facets=_text(data, "facets"),
        kind=kind,
        log_x=_flag(data, "log_x"),
        log_y=_flag(data, "log_y"),
        source=_text(data, "source"),
        title=_text(data, "title"),
        x_label=_text(data, "x_label"),
        y_label=_text(data, "y_label"),
        where=dict(where),
    )


def parse_figures(entries: list[dict[str, Any]], columns: Mapping[str, set[str]]) -> tuple[FigureSpec, ...]:
    """Every [[figures]] entry, checked against the tables' columns (table name -> group and value columns)."""
    out: list[FigureSpec] = []
    for i, entry in enumerate(entries):
        name = entry.get("id")
        where = f"[[figures]] #{i + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
        try:
            spec = _figure(entry)
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from exc
        check_table_columns(where, spec.table, spec.columns, columns)
        if any(f.id == spec.id for f in out):
            raise SpecError(f"{where}: id {spec.id!r} is used twice")
        out.append(spec)
    return tuple(out)
