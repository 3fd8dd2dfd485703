"""What every graph analysis shares: the projection (which edges, which weight), results, and a registry.

Adding an analysis is adding one module to graphstore/analysis (or a plugin module named in GRAPHSTORE_PLUGINS) that
calls `ANALYSES.register(AnalysisSpec(...))` at import: ANALYSES (a graphstore.registry.Registry) imports, on first
lookup, the modules of the package that register into it (never the runners, workers or helpers).

An analysis is a dataclass of parameters plus a client function (igraph / leidenalg / networkx on the in-memory
Graph) and, where Graph Data Science has the algorithm, a GDS function that runs it inside Neo4j and writes the
result as node properties, exactly as the client path writes them through the store.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphstore.convert import to_igraph
from graphstore.errors import GraphstoreError
from graphstore.graph import IDENTIFIER, Graph
from graphstore.registry import Registry, UnknownName

DISTANCE_TRANSFORMS = ("none", "inverse", "exp")


class AnalysisError(GraphstoreError):
    """An analysis cannot run on this graph or with these parameters."""


class UnknownAnalysis(UnknownName, AnalysisError):
    """An analysis name is not registered."""


def invalid(name: str, value: Any, rule: str) -> AnalysisError:
    """The error for a parameter value outside its allowed range, naming the option and the rule."""
    option = f"--{name.replace('_', '-')}"
    return AnalysisError(
        f"{option} {value!r} is invalid: it must {rule}.", f"Pass another {option}, or leave it out for the default."
    )


@dataclass
class Projection:
    """Which relationships an analysis sees and how they are weighted."""

    rel_types: str = field(default="", metadata={"help": "Comma-separated relationship types (default: all)."})
    weight: str = field(default="", metadata={"help": "Edge property used as weight (default: unweighted)."})
    distance_to_similarity: str = field(
        default="none",
        metadata={
            "help": "Turn a distance weight into a similarity: none, inverse (1/d) or exp "
            "(exp(-d/mean d)). Community detection needs similarities.",
            "choices": DISTANCE_TRANSFORMS,
        },
    )

    def __post_init__(self) -> None:
        bad = [t for t in self.chosen_types() if not IDENTIFIER.match(t)]
        if bad:
            raise invalid("rel_types", self.rel_types, "list relationship type names (letters, digits, _)")
        if self.weight and not IDENTIFIER.match(self.weight):
            raise invalid("weight", self.weight, "be a property name (letters, digits, _) or empty")
        if self.distance_to_similarity not in DISTANCE_TRANSFORMS:
            raise invalid(
                "distance_to_similarity", self.distance_to_similarity, f"be one of {', '.join(DISTANCE_TRANSFORMS)}"
            )

    def chosen_types(self) -> list[str]:
        """The relationship types named by rel_types (empty = all)."""
        return [t.strip() for t in self.rel_types.split(",") if t.strip()]

    def check(self, available: Mapping[str, Sequence[str]], graph_id: str) -> list[str]:
        """The chosen types, checked with the weight against what the graph has (type -> its property names)."""
        chosen = self.chosen_types() or sorted(available)
        unknown = [t for t in chosen if t not in available]
        if unknown:
            raise AnalysisError(
                f"Graph {graph_id} has no {', '.join(unknown)} relationships.",
                f"It has: {', '.join(sorted(available)) or 'none'}. Pass some of them to "
                "--rel-types, or leave it empty for all.",
            )
        if self.weight:
            has = sorted({name for t in chosen for name in available[t]})
            if self.weight not in has:
                raise AnalysisError(
                    f"Graph {graph_id} has no weight {self.weight!r} on its {', '.join(chosen) or 'no'} relationships.",
                    f"They carry: {', '.join(has)}."
                    if has
                    else "They carry no properties; leave --weight empty to run unweighted.",
                )
        return chosen

    def types(self, graph: Graph) -> list[str]:
        """The chosen relationship types, checked (with the weight) against the graph."""
        return self.check({t: list(table.props) for t, table in graph.edges.items()}, graph.graph_id)


@dataclass
class AnalysisResult:
    """Per-node values to write back (by label: keys and property columns) and a summary to record."""

    node_props: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    graphs: list[Graph] = field(default_factory=list)  # companion graphs to store (e.g. a community hierarchy)


@dataclass(frozen=True)
class AnalysisSpec:
    """A registered analysis: its parameter dataclass, its engines, the graph kinds it fits (None = any), the node
    properties it writes, and the graph report section that shows its results (a name the report layer draws)."""

    name: str
    params: type
    client: Callable[[Graph, Any], AnalysisResult]
    gds: Callable[[Any, str, Any], AnalysisResult] | None = None
    kinds: tuple[str, ...] | None = None
    summary: str = ""
    writes: tuple[str, ...] = ()
    report: str = ""


ANALYSES: Registry[AnalysisSpec] = Registry(
    "analysis",
    "graphstore.analysis",
    handle="ANALYSES",
    plural="analyses",
    error=UnknownAnalysis,
    hint="`graphstore analyze --help` lists them.",
)


def edge_weights(graph: Graph, projection: Projection, types: list[str]) -> np.ndarray | None:
    """The projection's weights over the chosen types (1 where a type lacks the property), transformed."""
    if not projection.weight:
        return None
    parts = [
        np.asarray(graph.edges[t].props.get(projection.weight, np.ones(len(graph.edges[t]))), dtype=float)
        for t in types
    ]
    w = np.concatenate(parts) if parts else np.empty(0)
    w = np.where(np.isnan(w), 1.0, w)  # a relationship without the property weighs 1, as GDS's coalesce(r.w, 1.0)
    if projection.distance_to_similarity == "inverse":
        return 1.0 / np.maximum(w, 1e-12)
    if projection.distance_to_similarity == "exp":
        return np.exp(-w / max(float(w.mean()), 1e-12)) if len(w) else w
    if len(w) and w.min() < 0:
        raise AnalysisError(
            f"Weight {projection.weight!r} has negative values.", "Use a magnitude (e.g. abs_w) or run unweighted."
        )
    return w


@contextmanager
def igraph_seeded(seed: int) -> Iterator[None]:
    """igraph's randomised algorithms draw from a private random.Random(seed); Python's global RNG is left alone."""
    import igraph as ig  # deferred: igraph (over 1 s) loads only for an igraph analysis

    ig.set_random_number_generator(random.Random(seed))
    try:
        yield
    finally:
        ig.set_random_number_generator(random)  # igraph's default source


def undirected_igraph(graph: Graph, projection: Projection) -> Any:
    """The projection as an undirected igraph.Graph with a 'weight' attribute when weighted."""
    types = projection.types(graph)
    g = to_igraph(graph, types=types, directed=False)
    weights = edge_weights(graph, projection, types)
    if weights is not None:
        g.es["weight"] = weights.tolist()
    return g


def per_label(graph: Graph, values: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Split per-node columns (in node_index order) into per-label (keys, columns) for write-back."""
    keys, labels = graph.node_index()
    out = {}
    for label in np.unique(labels):
        rows = labels == label
        out[str(label)] = (keys[rows], {name: col[rows] for name, col in values.items()})
    return out
