"""A report as Markdown: text and pipe tables in `<slug>.md`, each figure as an SVG file in `<slug>_files/`."""

from __future__ import annotations

from pathlib import Path

from graphstore.report.document import Code, Figure, Link, Report, Table, Text, fmt, slug
from graphstore.report.html import Href, no_links


def render_markdown(report: Report, folder: Path, href: Href = no_links) -> tuple[str, list[Path]]:
    """The Markdown text and the figure files it names (written into `folder/<slug>_files/`)."""
    files_dir = folder / f"{report.slug}_files"
    lines = [f"# {report.title}", ""]
    if report.summary:
        lines += [report.summary, ""]
    written: list[Path] = []
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        if section.omitted is not None:
            lines += [f"*Omitted: {section.omitted}*", ""]
        for block in section.blocks:
            if isinstance(block, Figure):
                files_dir.mkdir(parents=True, exist_ok=True)
                path = files_dir / f"{slug(block.name)}.svg"
                path.write_text(block.svg)
                written.append(path)
                lines += [f"![{block.caption}]({files_dir.name}/{path.name})", "", f"*{block.caption}*", ""]
            else:
                lines += [*_block(block, href), ""]
    return "\n".join(lines).rstrip() + "\n", written


def _block(block: object, href: Href) -> list[str]:
    if isinstance(block, Table):
        return table_markdown(block)
    if isinstance(block, Code):
        return ([f"{block.caption}", ""] if block.caption else []) + ["```", block.text, "```"]
    if isinstance(block, Link):
        target = href(block.kind, block.id)
        return [f"[{block.text}]({target.replace('.html', '.md')})" if target else block.text]
    if isinstance(block, Text):
        return [block.text]
    raise TypeError(f"unknown report block {type(block).__name__}")


def _cell(value: object) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> list[str]:
    """A pipe table, with its caption as a bold line above."""
    out = [f"**{table.caption}**", ""] if table.caption else []
    out.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    out.append("|" + "---|" * len(table.columns))
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows]
    return out
