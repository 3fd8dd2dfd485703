"""Named Cypher queries shipped in cypher/queries, with a header that declares their parameters.

A query file `NAME.cypher` serves every backend; `NAME.neo4j.cypher` / `NAME.ladybug.cypher` override it for one
dialect. The header is a block of `//` lines at the top:

    // description: Top nodes by degree within a graph.
    // param: graph_id str           the graph to look in
    // param: limit int = 10         how many rows
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from graphstore.errors import QueryError

DIALECTS = ("neo4j", "ladybug")
PARAM_LINE = re.compile(r"^//\s*param:\s*(\w+)\s+(str|int|float|bool|list)(?:\s*=\s*(\S+))?\s*(.*)$")
TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list}


@dataclass(frozen=True)
class QueryParam:
    """One declared parameter of a named query."""

    name: str
    type: str
    default: str | None
    help: str

    @property
    def required(self) -> bool:
        return self.default is None

    def coerce(self, raw: Any) -> Any:
        """Convert a CLI string (or a Python value) into the declared type; errors name the parameter."""
        if not isinstance(raw, str):
            return raw
        try:
            if self.type == "bool":
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                return raw.lower() in ("true", "1", "yes")
            if self.type == "list":
                return [item.strip() for item in raw.split(",") if item.strip()]
            return TYPES[self.type](raw)
        except ValueError as exc:
            raise QueryError(f"Parameter {self.name}={raw!r} is not a valid {self.type}.") from exc


@dataclass(frozen=True)
class NamedQuery:
    """A query with its description, declared parameters and one text per dialect."""

    name: str
    description: str
    params: tuple[QueryParam, ...]
    texts: dict[str, str] = field(default_factory=dict)

    def text_for(self, dialect: str) -> str:
        text = self.texts.get(dialect) or self.texts.get("any")
        if text is None:
            raise QueryError(f"Query {self.name!r} has no version for the {dialect} store.",
                             f"It runs on: {', '.join(sorted(self.texts))}.")
        return text

    def bind(self, given: dict[str, Any]) -> dict[str, Any]:
        """Declared parameters from `given` (coerced) and defaults; a missing or unknown parameter is an error."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise QueryError(f"Query {self.name!r} has no parameter {', '.join(unknown)}.",
                             f"Its parameters: {self.signature()}")
        missing = [p.name for p in self.params if p.required and p.name not in given]
        if missing:
            raise QueryError(f"Query {self.name!r} needs parameter {', '.join(missing)}.",
                             f"Pass --param {missing[0]}=VALUE. Its parameters: {self.signature()}")
        out = {}
        for p in self.params:
            out[p.name] = p.coerce(given[p.name]) if p.name in given else p.coerce(p.default)
        return out

    def signature(self) -> str:
        return ", ".join(f"{p.name} ({p.type}{'' if p.required else ' = ' + str(p.default)})" for p in self.params)


def _parse_header(text: str) -> tuple[str, list[QueryParam]]:
    description, params = "", []
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        match = PARAM_LINE.match(line)
        if match:
            name, kind, default, help_text = match.groups()
            params.append(QueryParam(name, kind, default, help_text.strip()))
        elif line.lstrip("/ ").startswith("description:"):
            description = line.split("description:", 1)[1].strip()
    return description, params


def _split_name(filename: str) -> tuple[str, str]:
    stem = filename[: -len(".cypher")]
    for dialect in DIALECTS:
        if stem.endswith("." + dialect):
            return stem[: -len(dialect) - 1], dialect
    return stem, "any"


def load_catalog() -> dict[str, NamedQuery]:
    """Every named query shipped with the package, by name."""
    root = resources.files("graphstore.cypher") / "queries"
    found: dict[str, dict[str, str]] = {}
    for entry in root.iterdir():
        if entry.name.endswith(".cypher"):
            name, dialect = _split_name(entry.name)
            found.setdefault(name, {})[dialect] = entry.read_text()
    catalog = {}
    for name, texts in sorted(found.items()):
        description, params = _parse_header(texts.get("any") or next(iter(texts.values())))
        catalog[name] = NamedQuery(name, description, tuple(params), texts)
    return catalog


def get_query(name: str) -> NamedQuery:
    """Look a query up by name; an unknown name lists the known ones."""
    catalog = load_catalog()
    if name not in catalog:
        raise QueryError(f"Unknown query {name!r}.", f"Known queries: {', '.join(catalog)}. "
                         "See `graphstore query --list`.")
    return catalog[name]
