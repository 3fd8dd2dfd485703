"""What a report is made of, independent of its output format: sections holding text, tables, figures and code.

A section that does not apply (a graph kind it does not fit, an analysis never run) is kept with the reason it is
omitted, so a reader sees what is missing and why rather than a silently shorter report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One drawn figure: a file-safe name, a caption, its SVG text and, where drawn, a PNG of it."""

    name: str
    caption: str
    svg: str
    png: bytes = b""


@dataclass(frozen=True)
class Table:
    """Rows under column names, with an optional caption."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class Code:
    """Preformatted text (a Newick tree, a command)."""

    text: str
    caption: str = ""


@dataclass(frozen=True)
class Link:
    """A reference to another report: what it is (run, graph, experiment) and its id."""

    kind: str
    id: str
    text: str


Block = Figure | Table | Text | Code | Link


@dataclass
class Section:
    """A titled part of a report; `omitted` says why it has no content (it does not apply, or nothing recorded)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    omitted: str | None = None

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self


@dataclass
class Report:
    """A whole report: what it is about (kind and id), a title, a one-line summary, its sections, and where the
    index lists it."""

    kind: str
    id: str
    title: str
    summary: str = ""
    sections: list[Section] = field(default_factory=list)
    group: str = ""  # where the index lists it: a run's or a graph's kind
    parent: str = ""  # a run's parent run id (an experiment's cells are listed under it)

    @property
    def slug(self) -> str:
        """The file stem of this report: `<kind>-<id>` with unsafe characters replaced."""
        return slug(f"{self.kind}-{self.id}")

    def figures(self) -> list[Figure]:
        """Every figure, in order."""
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]

    def section(self, title: str) -> Section:
        """Start a new section and return it."""
        made = Section(title)
        self.sections.append(made)
        return made

    def omit(self, title: str, reason: str) -> Section:
        """Record a section that does not apply, with the reason."""
        made = Section(title, omitted=reason)
        self.sections.append(made)
        return made


def slug(text: str) -> str:
    """A file-name-safe form of a text (letters, digits, dot, dash, underscore)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "report"


def fmt(value: Any) -> str:
    """A cell value as text: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)
