"""An experiment's declared figures ([[figures]]) drawn from its summarised tables: facets as small multiples, one
line (or bar group) per series, mean +- std where n > 1, and the paper's values overlaid when their scale matches.

Group columns a figure does not place (not x, series, facet or fixed by `where`) join the series label, so rows of
different groups are never averaged into one point; when x is a value column (e.g. sparsity, recorded per round),
they index the points of a line instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphstore.experiments.checks import number, same_value
from graphstore.experiments.figures_spec import FigureSpec
from graphstore.experiments.results import PaperComparison, Stat, Summary, matches
from graphstore.report.document import Figure
from graphstore.report.figures import Band, Marks, Panel, experiment_figure


@dataclass
class _Series:
    """The points of one series in one facet, keyed by x."""

    label: str
    key: dict[str, Any]
    points: dict[str, tuple[Any, Stat]] = field(default_factory=dict)


def _x_of(row: dict[str, Any], spec: FigureSpec) -> Any:
    """The row's x: a group value as is, a value column's mean."""
    value = row.get(spec.x)
    return value.mean if isinstance(value, Stat) else value


def _series_columns(spec: FigureSpec, summary: Summary) -> list[str]:
    """The series column, then (when x is a group column) every group column the figure does not otherwise place;
    when x is a value column (sparsity per round), those other group columns index the points along a line."""
    series = [spec.series] if spec.series else []
    if spec.x not in summary.spec.group:
        return series
    placed = {spec.x, spec.facets, *spec.where}
    return series + [g for g in summary.spec.group if g not in placed and g != spec.series]


Facets = dict[str, tuple[dict[str, Any], dict[str, _Series]]]


def _collect(spec: FigureSpec, summary: Summary) -> Facets:
    """facet label -> (the facet's column value, series label -> points), from the rows the figure selects."""
    columns = _series_columns(spec, summary)
    facets: Facets = {}
    for row in summary.rows:
        stat, x = row.get(spec.y), _x_of(row, spec)
        if not matches(row, spec.where) or not isinstance(stat, Stat) or stat.mean is None or x is None:
            continue
        facet = {spec.facets: row.get(spec.facets)} if spec.facets else {}
        key = {c: row.get(c) for c in columns}
        label = ", ".join(f"{c}={v}" for c, v in key.items()) or spec.y
        found = facets.setdefault(", ".join(f"{c}={v}" for c, v in facet.items()), (facet, {}))[1]
        series = found.setdefault(label, _Series(label, key))
        series.points[repr([row.get(g) for g in summary.spec.group])] = (x, stat)
    return facets


def _band(series: _Series, kind: str) -> Band:
    """A series' points sorted by x (numerically for a line), std only where n > 1."""
    points = list(series.points.values())
    if kind == "line":
        points.sort(key=lambda p: number(p[0]) or 0.0)
    stats = [s for _, s in points]
    return Band(
        series.label,
        [x for x, _ in points],
        [float(s.mean or 0.0) for s in stats],
        [s.std if s.n > 1 else None for s in stats],
    )


def _agrees(where: dict[str, Any], key: dict[str, Any]) -> bool:
    """Whether a paper value's `where` agrees with a series' columns on every column both name."""
    return all(same_value(where[k], v) for k, v in key.items() if k in where)


def _paper_points(
    spec: FigureSpec, facet: dict[str, Any], series: Sequence[_Series], papers: Sequence[PaperComparison]
) -> list[tuple[int, Marks]]:
    """The paper values of this figure's y that fall in this facet, each in the colour of the series it matches."""
    out = []
    for c in papers:
        where = c.paper.where
        if c.paper.column != spec.y or spec.x not in where or not _agrees(where, facet):
            continue
        if not _agrees(where, spec.where):
            continue
        index = next((i for i, s in enumerate(series) if _agrees(where, s.key)), -1)
        if index >= 0:
            out.append((index, Marks(f"paper ({c.paper.source})", [where[spec.x]], [c.paper.value])))
    return out


def draw(spec: FigureSpec, summary: Summary, papers: Sequence[PaperComparison]) -> Figure | str:
    """The figure, or the reason it cannot be drawn (no row has the columns it needs)."""
    facets = _collect(spec, summary)
    if not facets:
        return f"no row of table {spec.table!r} has numbers for {spec.y} against {spec.x}"
    panels = []
    for facet_label, (facet, by_label) in facets.items():
        series = list(by_label.values())
        marks = _paper_points(spec, facet, series, papers)
        panels.append(Panel(facet_label, [_band(s, spec.kind) for s in series], marks))  # the caption is the title
    return experiment_figure(
        spec.id,
        spec.caption,
        panels,
        spec.x_label or spec.x,
        spec.y_label or spec.y,
        kind=spec.kind,
        log_x=spec.log_x,
        log_y=spec.log_y,
    )
