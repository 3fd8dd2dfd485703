"""`gs.connect()`: a session over the configured graph store and tracking DB, for notebooks and scripts.

Settings resolve as everywhere in graphstore (arguments > GRAPHSTORE_* > config file > defaults); the session owns
one `Connections`, so inside `with gs.connect() as db:` every call shares one store and one tracking connection and
both close at the end of the block (on error too). Outside a `with`, each call opens and closes its own.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphstore import params as P
from graphstore.analysis.run import AnalysisRun, get_analysis, run_analysis
from graphstore.config import Settings, load_settings
from graphstore.connections import Connections, borrowed_store, borrowed_tracking
from graphstore.errors import InvalidParams
from graphstore.graph import Graph
from graphstore.persist import drop_graph, save_graph
from graphstore.store.base import GraphInfo, QueryResult
from graphstore.tracking.records import RunRecord

if TYPE_CHECKING:
    import pandas  # type: ignore[import-untyped]


class Session:
    """The graph store and tracking DB of one set of settings: write, list, read, drop, query, analyse, runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connections = Connections(settings)
        self._held = ExitStack()

    def __enter__(self) -> Session:
        self._held.enter_context(self.connections.hold())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close both connections (a later call opens them again)."""
        self._held.close()
        self.connections.close()

    @property
    def store_uri(self) -> str:
        """Where graphs go: the embedded store's path or the Neo4j URI."""
        return self.settings.graph_store_uri

    def write(self, graph: Graph, replace: bool = False) -> GraphInfo:
        """Store a graph and record it in the tracking DB; an existing id is refused unless `replace`."""
        save_graph(self.connections, graph, replace=replace)
        return self.info(graph.graph_id)

    def info(self, graph_id: str) -> GraphInfo:
        """What the store knows of one graph (GraphNotFound with close ids when it is not there)."""
        with borrowed_store(self.connections) as store:
            info = store.graph_info(graph_id)
            if info is None:
                raise store.not_found(graph_id)
            return info

    def graphs(self) -> list[GraphInfo]:
        """Every stored graph (id, kind, status, node and edge counts, parameters)."""
        with borrowed_store(self.connections) as store:
            return store.list_graphs()

    def read(self, graph_id: str) -> Graph:
        """A stored graph, read back whole."""
        with borrowed_store(self.connections) as store:
            return store.read_graph(graph_id)

    def drop(self, graph_id: str, wait: bool = False) -> None:
        """Delete a graph from the store and its record (with its analyses) from the tracking DB. On Neo4j with
        APOC the graph is gone at once and its records are deleted in the server's background; wait=True blocks
        until every background drop is done."""
        drop_graph(self.connections, graph_id)
        if wait:
            with borrowed_store(self.connections) as store:
                store.wait_for_drops()

    def query(self, name: str, **params: Any) -> pandas.DataFrame | list[dict[str, Any]]:
        """Run a named query (`graphstore query --list`): a DataFrame when pandas is installed, else row dicts."""
        with borrowed_store(self.connections) as store:
            result = store.run_query(name, params)
        return frame(result)

    def analyze(self, name: str, graph_id: str, *, engine: str = "auto", **params: Any) -> AnalysisRun:
        """Run a registered analysis (louvain, pagerank, ...) on a stored graph; results become node properties."""
        spec = get_analysis(name)
        values: Any = P.from_mapping(spec.params, params, f"analysis {spec.name!r}")
        return run_analysis(self.connections, spec.name, graph_id, values, engine)

    def runs(self, kind: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """Tracked runs, newest first (kind "ingest" for gs.ingest's)."""
        with borrowed_tracking(self.connections) as tracking:
            return tracking.list_runs(kind=kind, limit=limit)


def frame(result: QueryResult) -> pandas.DataFrame | list[dict[str, Any]]:
    """Query rows as a DataFrame, or as dicts where pandas is not installed."""
    try:
        import pandas as pd  # type: ignore[import-untyped]  # deferred: pandas is only needed for a DataFrame
    except ImportError:
        return result.records()
    return pd.DataFrame(result.rows, columns=result.columns)


def connect(
    graph_store: str | None = None,
    database_url: str | None = None,
    *,
    data_dir: str | Path | None = None,
    config: str | Path | None = None,
    **settings: Any,
) -> Session:
    """A Session over the configured stores; arguments override GRAPHSTORE_* and the config file (other Settings
    fields, e.g. neo4j_password, by keyword). Use it as a context manager to share connections."""
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InvalidParams(f"Unknown setting {', '.join(unknown)}.", f"Settings: {', '.join(sorted(known))}.")
    flags = {"graph_store": graph_store, "database_url": database_url, "data_dir": data_dir, **settings}
    return Session(load_settings(flags, config))
