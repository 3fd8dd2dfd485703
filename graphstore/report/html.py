"""A report as one self-contained HTML page: inline CSS, figures as data: URIs, no script, no network access.

Figures are <img> elements holding the SVG as base64 data (a browser loads them offline, a reader can save one
by right-click, print keeps them vector). Print styles keep figures and tables whole on a page.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape

from graphstore.report.document import Code, Figure, Link, Report, Section, Table, Text, fmt

# (kind, id) -> relative href of that report, or None when it was not written alongside this one.
Href = Callable[[str, str], str | None]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #0072B2; padding-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; color: #0b3d66; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #c8c8c8; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef3f8; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .2rem; white-space: nowrap; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e0e0e0; }
figcaption { font-size: .85rem; color: #444; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.omitted { color: #6b6b6b; font-style: italic; }
.summary { color: #333; }
footer { margin-top: 3rem; font-size: .75rem; color: #777; }
@media print { body { margin: 0; max-width: none; } figure, table, pre { break-inside: avoid; }
               a { color: inherit; text-decoration: none; } }
"""


def no_links(kind: str, id: str) -> str | None:
    """The default: no other report is known."""
    return None


def render_html(report: Report, href: Href = no_links, footer: str = "") -> str:
    """The report as a complete HTML document."""
    body = [f"<h1>{escape(report.title)}</h1>"]
    if report.summary:
        body.append(f'<p class="summary">{escape(report.summary)}</p>')
    if len(report.sections) > 2:
        items = "".join(f'<li><a href="#s{i}">{escape(s.title)}</a></li>' for i, s in enumerate(report.sections))
        body.append(f"<nav><ul>{items}</ul></nav>")
    body += [_section(i, s, href) for i, s in enumerate(report.sections)]
    if footer:
        body.append(f"<footer>{escape(footer)}</footer>")
    return page(report.title, "\n".join(body))


def page(title: str, body: str) -> str:
    """An HTML document around a body."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _section(index: int, section: Section, href: Href) -> str:
    parts = [f'<section id="s{index}">', f"<h2>{escape(section.title)}</h2>"]
    if section.omitted is not None:
        parts.append(f'<p class="omitted">Omitted: {escape(section.omitted)}</p>')
    for block in section.blocks:
        parts.append(_block(block, href))
    parts.append("</section>")
    return "\n".join(parts)


def _block(block: object, href: Href) -> str:
    if isinstance(block, Figure):
        return figure_html(block)
    if isinstance(block, Table):
        return table_html(block)
    if isinstance(block, Code):
        caption = f"<p>{escape(block.caption)}</p>" if block.caption else ""
        return f"{caption}<pre>{escape(block.text)}</pre>"
    if isinstance(block, Link):
        target = href(block.kind, block.id)
        text = escape(block.text)
        return f'<p><a href="{escape(target)}">{text}</a></p>' if target else f"<p>{text}</p>"
    if isinstance(block, Text):
        return f"<p>{escape(block.text)}</p>"
    raise TypeError(f"unknown report block {type(block).__name__}")


def figure_html(figure: Figure) -> str:
    """A figure as <figure><img src="data:image/svg+xml;base64,..."></figure>."""
    data = base64.b64encode(figure.svg.encode()).decode()
    alt = escape(figure.caption)
    return (
        f'<figure id="fig-{escape(figure.name)}"><img src="data:image/svg+xml;base64,{data}" alt="{alt}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def table_html(table: Table) -> str:
    """A table with its caption."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{escape(fmt(v))}</td>" for v in row) + "</tr>" for row in table.rows)
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
