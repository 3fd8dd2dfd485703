"""The naming rules every store and query shares: graph ids, identifiers, and the structural properties.

Kept apart from graphstore.graph (numpy, pyarrow) so that validating a name costs nothing at start-up.
"""

from __future__ import annotations

import hashlib
import re

GRAPH_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PROPS = frozenset({"uid", "graph_id", "key"})


def check_identifier(name: str, what: str) -> str:
    """Labels, relationship types and property names end up in Cypher text, so they must be identifiers."""
    if not IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} is not a valid identifier (letters, digits, underscore).")
    return name


def check_graph_id(graph_id: str) -> str:
    """Graph ids are user-facing handles: letters, digits, '_', '-', '.'; at most 128 characters."""
    if not GRAPH_ID_PATTERN.match(graph_id or ""):
        raise ValueError(
            f"Graph id {graph_id!r} is not valid: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit."
        )
    return graph_id


def slug(text: str, limit: int = 60) -> str:
    """A graph-id-safe piece of text: runs of other characters become '-', long text is cut and hashed."""
    out = re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.") or "x"
    if len(out) <= limit:
        return out
    return f"{out[: limit - 9]}-{hashlib.sha1(out.encode()).hexdigest()[:8]}"
