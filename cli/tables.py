"""Tables that never cut a header or a value: boxed when they fit the terminal, one record per block when they do
not, and plain aligned text when the output is piped (so `grep`, `cut` and `less -S` see whole values)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

GAP = "  "


def cell_text(value: Any) -> str:
    """A cell as plain text (rich markup and Text objects flattened)."""
    if isinstance(value, Text):
        return value.plain
    if isinstance(value, str):
        return Text.from_markup(value).plain if "[" in value else value
    return str(value)


def columns_of(table: Table) -> tuple[list[str], list[list[str]]]:
    """The table's headers and its rows, as plain text."""
    headers = [cell_text(c.header) for c in table.columns]
    cells = [[cell_text(v) for v in c.cells] for c in table.columns]
    rows = [list(r) for r in zip(*cells, strict=True)] if cells else []
    return headers, rows


def column_widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    """Per column, the longest line of its header and of its values (a multi-line value counts line by line)."""
    return [
        max([len(h), *(len(line) for r in rows for line in r[i].splitlines() or [""])]) for i, h in enumerate(headers)
    ]


def needed_width(headers: list[str], rows: list[list[str]]) -> int:
    """Columns a boxed table needs to show every header and value on one line."""
    widths = column_widths(headers, rows)
    return sum(widths) + 3 * len(widths) + 1


def plain(table: Table) -> str:
    """Aligned plain text: the title, the headers, then one line per row (a multi-line value continues in its own
    column on the lines below); nothing is cut or wrapped."""
    headers, rows = columns_of(table)
    widths = column_widths(headers, rows)
    split = [[v.splitlines() or [""] for v in row] for row in [headers, *rows]]
    lines = [cell_text(table.title)] if table.title else []
    for row in split:
        for k in range(max((len(cell) for cell in row), default=1)):
            parts = ((cell[k] if k < len(cell) else "").ljust(w) for cell, w in zip(row, widths, strict=True))
            lines.append(GAP.join(parts).rstrip())
    return "\n".join(lines)


def vertical(table: Table) -> RenderableType:
    """One block per row, `header: value` per line, for tables wider than the terminal."""
    headers, rows = columns_of(table)
    width = max((len(h) for h in headers), default=0)
    indent = "\n" + " " * (width + 2)  # a multi-line value's later lines start under its first
    out = Text()
    if table.title:
        out.append(f"{cell_text(table.title)}\n", style="italic")
    for number, row in enumerate(rows, start=1):
        out.append(f"-- {number} --\n", style="dim")
        for header, value in zip(headers, row, strict=True):
            out.append(f"{header.rjust(width)}", style="bold")
            out.append(f": {indent.join(value.splitlines())}\n")
    return out


class TableConsole(Console):
    """A Console whose tables never truncate: see the module docstring."""

    def print(self, *objects: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if len(objects) == 1 and isinstance(objects[0], Table):
            if not self.is_terminal:  # piped: whole lines, never wrapped at the console's nominal width
                kwargs["soft_wrap"] = True
            objects = (self.fitted(objects[0]),)
        super().print(*objects, **kwargs)

    def fitted(self, table: Table) -> RenderableType:
        """The table as it should be shown on this console."""
        if not self.is_terminal:
            return Text(plain(table))
        headers, rows = columns_of(table)
        if needed_width(headers, rows) > self.width:
            return vertical(table)
        for column in table.columns:
            column.no_wrap = True
        return table
