"""Named Cypher queries shipped in cypher/queries, with a header that declares their parameters.

QUERIES (a graphstore.registry.Registry) holds them: the shipped files are read on first lookup, and a plugin module
(GRAPHSTORE_PLUGINS) adds its own with `QUERIES.register(...)`, from a folder (`queries_in`) or a text (`named_query`).

A query file `NAME.cypher` serves every backend; `NAME.neo4j.cypher` / `NAME.ladybug.cypher` override it for one
dialect. The header is a block of `//` lines at the top:

    // description: Top nodes by degree within a graph.
    // param: graph_id graph                 the graph to look in (must be stored)
    // param: limit int[1..1000000] = 10     how many rows (bounds are optional, inclusive)
    // param: write_property property = x    a node property the query writes (never uid, graph_id or key)
    // gds-projection: graph_id              run inside a GDS projection of that graph, bound to $projection

Types: str, int (always within int64), float, bool, list (comma-separated), graph (a stored graph id; an unknown
one is GraphNotFound with close matches) and property (an identifier that is not structural). Every parameter
is checked before the query runs; a GDS projection is dropped afterwards whether the query succeeded or not.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphstore.errors import GraphNotFound, GraphstoreError, QueryError
from graphstore.names import IDENTIFIER, RESERVED_PROPS, check_graph_id
from graphstore.registry import Registry, UnknownName
from graphstore.store import gds

if TYPE_CHECKING:
    from graphstore.store.base import GraphStore, QueryResult

DIALECTS = ("neo4j", "ladybug")
PARAM_LINE = re.compile(
    r"^//\s*param:\s*(\w+)\s+(str|int|float|bool|list|graph|property)(?:\[([^\]]*)\])?"
    r"(?:\s*=\s*(\S+))?\s*(.*)$"
)
PROJECTION_LINE = re.compile(r"^//\s*gds-projection:\s*(\w+)\s*$")
TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "graph": str, "property": str}
INT64 = (-(2**63), 2**63 - 1)
STRUCTURAL = RESERVED_PROPS | {"labels"}


class UnknownQuery(UnknownName, QueryError):
    """A named query is not in cypher/queries."""


class PropertyNotWritable(GraphstoreError):
    """A property name cannot be written: not an identifier, or one of the structural uid, graph_id, key."""


def check_write_property(name: str, what: str = "Property") -> str:
    """A property an analysis or query may write: an identifier, never uid, graph_id, key (or 'labels')."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise PropertyNotWritable(
            f"{what} {name!r} is not a valid property name.",
            "Use letters, digits and underscores, starting with a letter or underscore.",
        )
    if name in STRUCTURAL:
        raise PropertyNotWritable(
            f"{what} {name!r} is structural: graphstore uses it to identify nodes.",
            f"Choose another name; {', '.join(sorted(STRUCTURAL))} are never written.",
        )
    return name


@dataclass(frozen=True)
class QueryParam:
    """One declared parameter of a named query."""

    name: str
    type: str
    default: str | None
    help: str
    low: float | None = None
    high: float | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    def coerce(self, raw: Any) -> Any:
        """The value in the declared type, checked (bounds, int64, graph id, property); errors name the parameter."""
        value = self._convert(raw)
        if self.type in ("int", "float"):
            self._check_bounds(value)
        elif self.type == "graph":
            try:
                check_graph_id(value)
            except ValueError as exc:
                raise QueryError(
                    f"Parameter {self.name}: {exc}", "Pass a stored graph id (`graphstore store list`)."
                ) from exc
        elif self.type == "property":
            check_write_property(value, f"Parameter {self.name}")
        return value

    def _convert(self, raw: Any) -> Any:
        kind = TYPES[self.type]
        if not isinstance(raw, str):
            if self.type in ("int", "float") and isinstance(raw, numbers.Real) and not isinstance(raw, bool):
                if self.type == "float":
                    return float(raw)
                if isinstance(raw, numbers.Integral):
                    return int(raw)
                if float(raw).is_integer():
                    return int(float(raw))
                raise QueryError(f"Parameter {self.name}={raw!r} is not a valid int.")
            if not isinstance(raw, kind) or isinstance(raw, bool) != (self.type == "bool"):
                raise QueryError(f"Parameter {self.name}={raw!r} is not a valid {self.type}.")
            return raw
        try:
            if self.type == "bool":
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                return raw.lower() in ("true", "1", "yes")
            if self.type == "list":
                return [item.strip() for item in raw.split(",") if item.strip()]
            if self.type == "float":
                value = float(raw)
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError(raw)
                return value
            return kind(raw.strip()) if self.type == "int" else kind(raw)
        except ValueError as exc:
            raise QueryError(f"Parameter {self.name}={raw!r} is not a valid {self.type}.") from exc

    def _check_bounds(self, value: float) -> None:
        low = self.low if self.low is not None else (INT64[0] if self.type == "int" else None)
        high = self.high if self.high is not None else (INT64[1] if self.type == "int" else None)
        if (low is not None and value < low) or (high is not None and value > high):
            allowed = f"{_show(low) if low is not None else '-inf'}..{_show(high) if high is not None else 'inf'}"
            raise QueryError(
                f"Parameter {self.name}={value!r} is out of range.", f"{self.name} must be within {allowed}."
            )

    def describe(self) -> str:
        bounds = (
            ""
            if self.low is None and self.high is None
            else f"[{'' if self.low is None else _show(self.low)}..{'' if self.high is None else _show(self.high)}]"
        )
        return f"{self.name} ({self.type}{bounds}{'' if self.required else ' = ' + str(self.default)})"


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class NamedQuery:
    """A query with its description, declared parameters, optional GDS projection and one text per dialect."""

    name: str
    description: str
    params: tuple[QueryParam, ...]
    texts: dict[str, str] = field(default_factory=dict)
    projection: str | None = None  # the graph parameter whose GDS projection the query runs in

    def text_for(self, dialect: str) -> str:
        text = self.texts.get(dialect) or self.texts.get("any")
        if text is None:
            raise QueryError(
                f"Query {self.name!r} has no version for the {dialect} store.",
                f"It runs on: {', '.join(sorted(self.texts))}.",
            )
        return text

    def bind(self, given: dict[str, Any]) -> dict[str, Any]:
        """Declared parameters from `given` (coerced, checked) and defaults; a missing or unknown one is an error."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise QueryError(
                f"Query {self.name!r} has no parameter {', '.join(unknown)}.", f"Its parameters: {self.signature()}"
            )
        missing = [p.name for p in self.params if p.required and p.name not in given]
        if missing:
            raise QueryError(
                f"Query {self.name!r} needs parameter {', '.join(missing)}.",
                f"Pass --param {missing[0]}=VALUE. Its parameters: {self.signature()}",
            )
        out = {}
        for p in self.params:
            out[p.name] = p.coerce(given[p.name]) if p.name in given else p.coerce(p.default)
        return out

    def signature(self) -> str:
        return ", ".join(p.describe() for p in self.params)


def run_named(store: GraphStore, name: str, given: dict[str, Any]) -> QueryResult:
    """Run a named query on a store: parameters checked, graphs must exist, GDS projections always dropped."""
    query = get_query(name)
    text = query.text_for(store.dialect)
    bound = query.bind(given)
    for p in query.params:
        if p.type == "graph":
            _check_graph(store, bound[p.name], complete=p.name == query.projection)
    if query.projection is None:
        return store.execute(text, bound)
    graph_id = bound[query.projection]
    with gds.projected(store, graph_id, list(store.stored_types(graph_id))) as projection:
        return gds.call(store, text, {**bound, "projection": projection})


def _check_graph(store: GraphStore, graph_id: str, complete: bool) -> None:
    """GraphNotFound (with close matches) for an unknown id; an unfinished graph too when `complete`."""
    info = store.graph_info(graph_id)
    if info is None:
        raise store.not_found(graph_id)
    if complete and info.status != "complete":
        raise GraphNotFound(
            f"Graph {graph_id} is {info.status}, not complete.",
            f"Resume the write with --resume, or drop it: graphstore store drop-graph {graph_id}",
        )


def _parse_header(text: str) -> tuple[str, list[QueryParam], str | None]:
    description, params, projection = "", [], None
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        match = PARAM_LINE.match(line)
        if match:
            name, kind, bounds, default, help_text = match.groups()
            low, high = _bounds(bounds, line)
            params.append(QueryParam(name, kind, default, help_text.strip(), low, high))
        elif PROJECTION_LINE.match(line):
            projection = PROJECTION_LINE.match(line).group(1)  # type: ignore[union-attr]
        elif line.lstrip("/ ").startswith("description:"):
            description = line.split("description:", 1)[1].strip()
    return description, params, projection


def _bounds(text: str | None, line: str) -> tuple[float | None, float | None]:
    """'1..1000' -> (1, 1000); either side may be empty."""
    if text is None:
        return None, None
    low, sep, high = text.partition("..")
    if not sep:
        raise ValueError(f"Bounds {text!r} in {line!r} are not LOW..HIGH.")
    return (float(low) if low.strip() else None), (float(high) if high.strip() else None)


def _split_name(filename: str) -> tuple[str, str]:
    stem = filename[: -len(".cypher")]
    for dialect in DIALECTS:
        if stem.endswith("." + dialect):
            return stem[: -len(dialect) - 1], dialect
    return stem, "any"


def queries_in(folder: Traversable | Path) -> list[NamedQuery]:
    """The named queries of a folder of .cypher files (dialect variants grouped under one name), sorted by name: a
    plugin module ships its own with `for query in queries_in(HERE / "queries"): QUERIES.register(query)`."""
    found: dict[str, dict[str, str]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".cypher"):
            name, dialect = _split_name(entry.name)
            found.setdefault(name, {})[dialect] = entry.read_text()
    return [named_query(name, texts) for name, texts in sorted(found.items())]


def named_query(name: str, texts: dict[str, str]) -> NamedQuery:
    """A NamedQuery from its text per dialect ("any", "neo4j", "ladybug"), its header parsed."""
    description, params, projection = _parse_header(texts.get("any") or next(iter(texts.values())))
    declared = {p.name: p.type for p in params}
    if projection is not None and declared.get(projection) != "graph":
        raise ValueError(f"Query {name}: gds-projection names {projection!r}, which is not a graph parameter.")
    return NamedQuery(name, description, tuple(params), texts, projection)


def _load_shipped(registry: Registry[NamedQuery]) -> None:
    """Register every query file of cypher/queries."""
    for query in queries_in(resources.files("graphstore.cypher") / "queries"):
        registry.register(query)


QUERIES: Registry[NamedQuery] = Registry(
    "query",
    plural="queries",
    loader=_load_shipped,
    normalise=str.strip,
    error=UnknownQuery,
    hint="See `graphstore query --list`.",
)


def load_catalog() -> dict[str, NamedQuery]:
    """Every named query shipped with the package, by name."""
    return dict(QUERIES.items())


def get_query(name: str) -> NamedQuery:
    """Look a query up by name; an unknown name offers close matches and lists the known ones."""
    return QUERIES.get(name)
