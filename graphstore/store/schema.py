"""Schema statements shipped in cypher/schema, split into single statements."""

from __future__ import annotations

from importlib import resources


def schema_statements(dialect: str) -> list[str]:
    """The idempotent schema statements for one dialect (blank-line separated blocks, // comments dropped)."""
    text = (resources.files("graphstore.cypher") / "schema" / f"{dialect}.cypher").read_text()
    blocks = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("//")]
        if lines:
            blocks.append("\n".join(lines))
    return blocks
