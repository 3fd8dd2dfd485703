"""Figures for reports: matplotlib without pyplot (no GUI backend, no global figure state), SVG text out.

Colours are the Okabe-Ito palette (distinguishable with every common colour-vision deficiency); series also differ
by marker and line style, so a grey-scale print still tells them apart. Heatmaps use viridis. Every axis has a
label with its unit ("fraction" for ratios, "count" for counts). SVG output is deterministic (fixed hash salt, no
date) and its text is drawn as paths, so a figure needs no font on the reader's machine.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from graphstore.report.document import Figure
from graphstore.report.newick import Clade, leaves_of, parse_newick

matplotlib.use("Agg")  # headless: reports are written on servers and in CI

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")
RC: Any = {
    "svg.fonttype": "path",
    "svg.hashsalt": "graphstore-report",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


@dataclass(frozen=True)
class Series:
    """One line of a line chart: its legend label and points."""

    label: str
    x: Sequence[float]
    y: Sequence[float]


@dataclass(frozen=True)
class Marks:
    """Points drawn without a line (reference values, e.g. a paper's reported numbers)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]


def colour(i: int) -> str:
    """The i-th palette colour (cycling)."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def to_svg(fig: MplFigure) -> str:
    """The figure as SVG text (deterministic: no date metadata)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def new_figure(width: float = 6.0, height: float = 3.6) -> tuple[MplFigure, Axes]:
    """A figure with one axes, in the report style."""
    with matplotlib.rc_context(RC):
        fig = MplFigure(figsize=(width, height), layout="constrained")
        return fig, fig.add_subplot()


def label_axes(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title and axis labels (with units) on one axes."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def line_chart(
    name: str,
    caption: str,
    series: Sequence[Series],
    xlabel: str,
    ylabel: str,
    *,
    errors: Sequence[Sequence[float]] | None = None,
    marks: Sequence[Marks] = (),
) -> Figure:
    """Lines with markers (one colour, marker and style per series; optional error bars per series), reference
    marks as large hollow symbols, and a legend."""
    fig, ax = new_figure()
    for i, s in enumerate(series):
        style: dict[str, Any] = {
            "color": colour(i),
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
        }
        if errors is not None and i < len(errors):
            ax.errorbar(list(s.x), list(s.y), yerr=list(errors[i]), label=s.label, markersize=4, capsize=3, **style)
        else:
            ax.plot(list(s.x), list(s.y), label=s.label, markersize=4, **style)
    for j, m in enumerate(marks, start=len(series)):
        ax.scatter(list(m.x), list(m.y), s=70, marker="D", facecolors="none", edgecolors=colour(j), label=m.label)
    if all(float(x).is_integer() for s in series for x in s.x):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    label_axes(ax, caption, xlabel, ylabel)
    if len(series) + len(marks) > 1 or (series and series[0].label):
        ax.legend(loc="best", fontsize=8)
    return Figure(name, caption, to_svg(fig))


def histogram(
    name: str,
    caption: str,
    values: np.ndarray,
    xlabel: str,
    ylabel: str = "count",
    *,
    bins: int = 40,
    log: bool = False,
) -> Figure:
    """A histogram of values (finite ones), optionally with a log count axis."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    fig, ax = new_figure()
    ax.hist(data, bins=max(1, min(bins, len(np.unique(data)) or 1)), color=colour(0), edgecolor="white", linewidth=0.5)
    if log:
        ax.set_yscale("log")
        ylabel = f"{ylabel} (log scale)"
    label_axes(ax, caption, xlabel, ylabel)
    return Figure(name, caption, to_svg(fig))


def bar_chart(
    name: str,
    caption: str,
    labels: Sequence[str],
    values: Sequence[float],
    xlabel: str,
    ylabel: str,
    *,
    log: bool = False,
) -> Figure:
    """Vertical bars, one per label."""
    fig, ax = new_figure(max(4.0, min(12.0, 0.25 * len(labels) + 3)), 3.6)
    ax.bar(range(len(values)), list(values), color=colour(0), edgecolor="white", linewidth=0.5)
    if len(labels) <= 40:
        ax.set_xticks(range(len(labels)), list(labels), rotation=90 if len(labels) > 12 else 0, fontsize=7)
    if log:
        ax.set_yscale("log")
        ylabel = f"{ylabel} (log scale)"
    label_axes(ax, caption, xlabel, ylabel)
    return Figure(name, caption, to_svg(fig))


def heatmaps(name: str, caption: str, grids: Sequence[tuple[str, np.ndarray]], value_label: str) -> Figure:
    """One heatmap per (title, 2-D array), side by side, sharing one colour scale and colour bar."""
    count = len(grids)
    columns = min(count, 4)
    rows = math.ceil(count / columns)
    finite = [g[np.isfinite(g)] for _, g in grids]
    low = min((float(f.min()) for f in finite if f.size), default=0.0)
    high = max((float(f.max()) for f in finite if f.size), default=1.0)
    with matplotlib.rc_context(RC):
        fig = MplFigure(figsize=(2.6 * columns + 1.2, 2.6 * rows + 0.6), layout="constrained")
        axes = fig.subplots(rows, columns, squeeze=False)
        image = None
        for ax, (title, grid) in zip(axes.ravel(), grids, strict=False):
            image = ax.imshow(grid, cmap="viridis", vmin=low, vmax=high if high > low else low + 1, origin="upper")
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("column j (position)")
            ax.set_ylabel("row i (position)")
            ax.grid(False)
        for ax in axes.ravel()[count:]:
            ax.set_visible(False)
        if image is not None:
            fig.colorbar(image, ax=axes.ravel().tolist(), label=value_label, shrink=0.8)
        fig.suptitle(caption)
    return Figure(name, caption, to_svg(fig))


def tree_figure(name: str, caption: str, newick: str) -> Figure:
    """A rectangular cladogram of a Newick tree: leaves on the right, aligned; depth (splits from the root) across."""
    return clade_figure(name, caption, parse_newick(newick))


def clade_figure(
    name: str, caption: str, root: Clade, xlabel: str = "depth (splits from the root)", ticks: Sequence[str] = ()
) -> Figure:
    """A rectangular cladogram of a tree; `ticks` name the depths 0, 1, ... (e.g. the levels of a hierarchy)."""
    leaves = leaves_of(root)
    depth = _max_depth(root)
    fig, ax = new_figure(6.0, max(2.5, 0.28 * len(leaves) + 0.8))
    positions: dict[int, float] = {}
    _layout(root, 0, depth, ax, iter(range(len(leaves))), positions)
    ax.set_xlim(-0.2, depth + 1.5)
    ax.set_ylim(-0.8, len(leaves) - 0.2)
    ax.invert_yaxis()
    ax.set_yticks([])
    if ticks:
        ax.set_xticks(range(len(ticks)), list(ticks))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # depths are whole splits
    ax.grid(False)
    label_axes(ax, caption, xlabel, "")
    return Figure(name, caption, to_svg(fig))


def _max_depth(clade: Clade) -> int:
    return 0 if not clade.children else 1 + max(_max_depth(c) for c in clade.children)


def _layout(clade: Clade, x: int, depth: int, ax: Axes, rows: object, positions: dict[int, float]) -> float:
    """Draw a clade; return its row (leaves take the next free row, an inner node the mean of its children)."""
    if not clade.children:
        y = float(next(rows))  # type: ignore[call-overload]
        ax.plot([x, depth], [y, y], color="#999999", linewidth=0.6, linestyle=":")
        ax.text(depth + 0.1, y, clade.name, va="center", fontsize=8)
        return y
    ys = [_layout(child, x + 1, depth, ax, rows, positions) for child in clade.children]
    for child_y in ys:
        ax.plot([x, x + 1], [child_y, child_y], color=colour(0), linewidth=1.2)
    ax.plot([x, x], [min(ys), max(ys)], color=colour(0), linewidth=1.2)
    y = sum(ys) / len(ys)
    if clade.name:  # an inner label: a consensus tree's support
        ax.text(x + 0.05, y - 0.15, clade.name, fontsize=6, color=colour(3), va="bottom")
    positions[id(clade)] = y
    return y


def matrix_figure(
    name: str,
    caption: str,
    labels: Sequence[str],
    values: np.ndarray,
    value_label: str,
    *,
    axis_label: str = "class",
    number_format: str = "{:.0f}",
    limits: tuple[float, float] | None = None,
) -> Figure:
    """A square matrix as a viridis heatmap (colour scale `limits`, else the finite values' range) with the labels
    on both axes and, up to 20 x 20, each value written in its cell (white on dark, black on light); NaN is blank."""
    count = len(labels)
    side = min(11.0, max(3.6, 0.42 * count + 2.0))
    fig, ax = new_figure(side + 1.2, side)
    finite = values[np.isfinite(values)]
    low, high = limits or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    high = high if high > low else low + 1
    image = ax.imshow(values, cmap="viridis", vmin=low, vmax=high)
    size = 7 if count <= 40 else 5  # 100 class names still fit the 11 in side
    ax.set_xticks(range(count), list(labels), rotation=90, fontsize=size)
    ax.set_yticks(range(count), list(labels), fontsize=size)
    ax.grid(False)
    if count <= 20:
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                ink = "white" if value < (low + high) / 2 else "black"  # viridis is dark at the low end
                ax.text(j, i, number_format.format(value), ha="center", va="center", fontsize=7, color=ink)
    fig.colorbar(image, ax=ax, label=value_label, shrink=0.8)
    label_axes(ax, textwrap.fill(caption, 8 * int(side)), axis_label, axis_label)
    return Figure(name, caption, to_svg(fig))


def network_figure(
    name: str,
    caption: str,
    labels: Sequence[str],
    edges: Sequence[tuple[int, int, float]],
    edge_label: str,
    *,
    seed: int = 0,
) -> Figure:
    """A small network drawn with a seeded spring layout; edge width and shade grow with the edge value."""
    import networkx as nx  # deferred: networkx is slow to import and only class graphs are drawn with it

    graph = nx.Graph()
    graph.add_nodes_from(range(len(labels)))
    graph.add_weighted_edges_from(edges)
    layout = nx.spring_layout(graph, seed=seed)
    fig, ax = new_figure(6.0, 5.0)
    values = np.asarray([w for _, _, w in edges], dtype=float)
    span = float(values.max() - values.min()) if len(values) else 0.0
    for a, b, w in edges:
        strength = 1.0 - ((w - values.min()) / span if span else 0.0)
        (xa, ya), (xb, yb) = layout[a], layout[b]
        ax.plot([xa, xb], [ya, yb], color=colour(0), alpha=0.3 + 0.6 * strength, linewidth=0.5 + 2.5 * strength)
    xs = [layout[i][0] for i in range(len(labels))]
    ys = [layout[i][1] for i in range(len(labels))]
    ax.scatter(xs, ys, s=260, color=colour(1), edgecolors="black", linewidths=0.6, zorder=3)
    for i, text in enumerate(labels):
        ax.text(xs[i], ys[i], text, ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    label_axes(ax, caption, f"layout only (thicker, darker edge = smaller {edge_label})", "")
    return Figure(name, caption, to_svg(fig))


@dataclass(frozen=True)
class Band:
    """One series of an experiment figure: x, the mean per x, and its std (None where n <= 1: no fake spread)."""

    label: str
    x: Sequence[Any]
    mean: Sequence[float]
    std: Sequence[float | None]


@dataclass(frozen=True)
class Panel:
    """One small multiple: its title, its series, and reference points (a paper's values) in a series' colour."""

    title: str
    bands: Sequence[Band]
    marks: Sequence[tuple[int, Marks]] = ()


def to_png(fig: MplFigure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (no metadata)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _line_panel(ax: Axes, panel: Panel) -> None:
    """Lines with markers; a mean +- std band where a point has a spread."""
    for i, band in enumerate(panel.bands):
        style: dict[str, Any] = {
            "color": colour(i),
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
        }
        ax.plot(list(band.x), list(band.mean), label=band.label, markersize=4, **style)
        spread = [(x, m, s) for x, m, s in zip(band.x, band.mean, band.std, strict=True) if s is not None]
        if spread:
            xs, ms, ss = (list(v) for v in zip(*spread, strict=True))
            low = [m - s for m, s in zip(ms, ss, strict=True)]
            high = [m + s for m, s in zip(ms, ss, strict=True)]
            ax.fill_between(xs, low, high, color=colour(i), alpha=0.2, linewidth=0)
            ax.errorbar(xs, ms, yerr=ss, fmt="none", ecolor=colour(i), capsize=2, linewidth=0.8)
    if all(isinstance(x, int | np.integer) for band in panel.bands for x in band.x):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # seeds, epochs, rounds: no 0.25 ticks


def _bar_panel(ax: Axes, panel: Panel) -> list[str]:
    """Grouped bars per x category (one colour and hatch per series), error bars where n > 1; the categories."""
    categories = list(dict.fromkeys(str(x) for band in panel.bands for x in band.x))
    width = 0.8 / max(1, len(panel.bands))
    hatches = ("", "//", "..", "xx", "\\\\", "--")
    for i, band in enumerate(panel.bands):
        where = [categories.index(str(x)) + (i - (len(panel.bands) - 1) / 2) * width for x in band.x]
        errors = [s or 0.0 for s in band.std]
        ax.bar(where, list(band.mean), width, color=colour(i), hatch=hatches[i % len(hatches)], label=band.label)
        if any(s is not None for s in band.std):
            ax.errorbar(where, list(band.mean), yerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=0.8)
    ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 6 else 0, fontsize=7)
    return categories


def _paper_marks(ax: Axes, panel: Panel, categories: list[str] | None) -> None:
    """Reference points as large hollow diamonds in their series' colour (on a bar chart, at their category)."""
    for i, mark in panel.marks:
        points = list(zip(mark.x, mark.y, strict=True))
        if categories is not None:
            points = [(categories.index(str(x)), y) for x, y in points if str(x) in categories]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(xs, ys, s=70, marker="D", facecolors="none", edgecolors=colour(i), label=mark.label, zorder=4)


def experiment_figure(
    name: str,
    caption: str,
    panels: Sequence[Panel],
    xlabel: str,
    ylabel: str,
    *,
    kind: str = "line",
    log_x: bool = False,
    log_y: bool = False,
) -> Figure:
    """An experiment's declared figure: one panel per facet (shared y), series as lines with mean +- std bands
    (or grouped bars with error bars), the paper's points as large hollow diamonds in their series' colour."""
    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    with matplotlib.rc_context(RC):
        fig = MplFigure(figsize=(4.2 * columns + 0.8, 3.3 * rows + 0.6), layout="constrained")
        axes = fig.subplots(rows, columns, squeeze=False, sharey=True)
        for index, (ax, panel) in enumerate(zip(axes.ravel(), panels, strict=False)):
            categories = _bar_panel(ax, panel) if kind == "bar" else None
            if kind != "bar":
                _line_panel(ax, panel)
            _paper_marks(ax, panel, categories)
            if log_x and kind != "bar":
                ax.set_xscale("log")
            if log_y:
                ax.set_yscale("log")
            label_axes(ax, panel.title, xlabel + (" (log scale)" if log_x and kind != "bar" else ""), "")
            if index % columns == 0:  # the y axis is shared along a row: label it once
                ax.set_ylabel(ylabel + (" (log scale)" if log_y else ""))
            if panel.bands or panel.marks:
                ax.legend(loc="best", fontsize=7)
        for ax in axes.ravel()[len(panels) :]:
            ax.set_visible(False)
        fig.suptitle(caption)
    return Figure(name, caption, to_svg(fig), to_png(fig))
