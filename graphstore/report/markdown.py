"""A report as Markdown: text and pipe tables in `<slug>.md`, each figure as an SVG file in `<slug>_files/` (and a
PNG beside it when the figure has one).

Every text that comes from data (titles, ids, parameters, definition fields) is escaped as the HTML report escapes
it: Markdown passes raw HTML through to the reader's viewer, so `<`, `>` and `&` become entities, and the marks that
make links, images, emphasis and code are backslash-escaped. Code blocks get a fence longer than any run of
backticks inside them. Files are written atomically (graphstore.safe_fs), never through a planted symlink.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from graphstore.report.document import Code, Figure, Link, Report, Table, Text, fmt, slug
from graphstore.report.html import Href, no_links
from graphstore.safe_fs import atomic_write_bytes, atomic_write_text, ensure_private_dir

MARKDOWN_MARKS = re.compile(r"([\\`*_\[\]|])")


def md_text(value: object) -> str:
    """Text that a Markdown viewer shows as itself: no raw HTML, no link, image, emphasis or code of its own."""
    return MARKDOWN_MARKS.sub(r"\\\1", html.escape(str(value), quote=False))


def md_line(value: object) -> str:
    """md_text on one line (headings, captions, table cells): line breaks become spaces."""
    return md_text(value).replace("\r", " ").replace("\n", " ")


def render_markdown(report: Report, folder: Path, href: Href = no_links) -> tuple[str, list[Path]]:
    """The Markdown text and the figure files it names (written into `folder/<slug>_files/`)."""
    files_dir = folder / f"{report.slug}_files"
    lines = [f"# {md_line(report.title)}", ""]
    if report.summary:
        lines += [md_text(report.summary), ""]
    written: list[Path] = []
    for section in report.sections:
        lines += [f"## {md_line(section.title)}", ""]
        if section.omitted is not None:
            lines += [f"*Omitted: {md_line(section.omitted)}*", ""]
        for block in section.blocks:
            if isinstance(block, Figure):
                ensure_private_dir(files_dir, "report figure folder", mode=0o755)
                path = files_dir / f"{slug(block.name)}.svg"
                atomic_write_text(path, block.svg)
                written.append(path)
                if block.png:
                    atomic_write_bytes(path.with_suffix(".png"), block.png)
                    written.append(path.with_suffix(".png"))
                caption = md_line(block.caption)
                lines += [f"![{caption}]({files_dir.name}/{path.name})", "", f"*{caption}*", ""]
            else:
                lines += [*_block(block, href), ""]
    return "\n".join(lines).rstrip() + "\n", written


def _block(block: object, href: Href) -> list[str]:
    if isinstance(block, Table):
        return table_markdown(block)
    if isinstance(block, Code):
        return ([md_text(block.caption), ""] if block.caption else []) + code_markdown(block.text)
    if isinstance(block, Link):
        target = href(block.kind, block.id)
        return [f"[{md_line(block.text)}]({target.replace('.html', '.md')})" if target else md_text(block.text)]
    if isinstance(block, Text):
        return [md_text(block.text)]
    raise TypeError(f"unknown report block {type(block).__name__}")


def code_markdown(text: str) -> list[str]:
    """A fenced code block whose fence no run of backticks in the text can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def _cell(value: object) -> str:
    return md_line(fmt(value))


def table_markdown(table: Table) -> list[str]:
    """A pipe table, with its caption as a bold line above."""
    out = [f"**{md_line(table.caption)}**", ""] if table.caption else []
    out.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    out.append("|" + "---|" * len(table.columns))
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows]
    return out
