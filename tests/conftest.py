"""Shared fixtures: graph stores of both backends (embedded always; Neo4j from GRAPHSTORE_TEST_* variables)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from graphstore.graph import Graph
from graphstore.store.base import GraphStore

# A suite started in the background by a non-interactive shell (`make test &`, nohup) inherits SIGINT ignored, and so
# would every CLI process a test starts and then interrupts: give the suite Python's own Ctrl-C handler back (exec
# resets a handled signal to its default in the children), so the Ctrl-C tests test graphstore, not the launcher.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _neo4j_lock_path(uri: str) -> Path:
    """A lock file per test Neo4j server in the user's own cache (not /tmp, where another user could plant one)."""
    folder = Path.home() / ".cache" / "graphstore" / "test-locks"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"neo4j-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.lock"


@pytest.fixture(autouse=True)
def _one_neo4j_test_at_a_time(request) -> Iterator[None]:
    """Serialise tests marked neo4j across concurrent pytest processes sharing one server.

    Community Neo4j has one database and make_neo4j() wipes it, so two suites on one server (engineers running test
    files side by side) would delete each other's graphs mid-test. One process (CI) never waits.
    """
    uri = os.environ.get("GRAPHSTORE_TEST_NEO4J_URI", "")
    if not uri or request.node.get_closest_marker("neo4j") is None:
        yield
        return
    fd = os.open(_neo4j_lock_path(uri), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@pytest.fixture
def run_root() -> Iterator[Path]:
    """A throw-away services run root like scripts/run-tests.sh makes: `mktemp -d`, then mode 755."""
    path = Path(tempfile.mkdtemp(prefix="gs-run-root-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_embedded(tmp_path) -> GraphStore:
    from graphstore.store.embedded import EmbeddedStore

    return EmbeddedStore(tmp_path / "graphs.lbdb")


def make_neo4j(batch_size: int = 20_000) -> GraphStore:
    from graphstore.store.neo4j_store import Neo4jStore
    from tests.servers import neo4j_params

    params = neo4j_params()
    store = Neo4jStore(params.uri, params.user, params.password, batch_size=batch_size)
    store.wait_for_drops()  # a background drop still running would race the wipe
    store.execute("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    return store


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request, tmp_path) -> Iterator[GraphStore]:
    """The same contract tests run unchanged against both backends."""
    backend = make_embedded(tmp_path) if request.param == "embedded" else make_neo4j()
    try:
        yield backend
    finally:
        backend.close()


def small_graph(graph_id: str = "g1") -> Graph:
    """A hand-made weight graph: 3 inputs, 2 hidden, 2 outputs, plus classes linked to outputs."""
    g = Graph(graph_id, "weights", params={"source": "test", "k": 3})
    keys = np.arange(7)
    g.add_nodes(
        "Neuron",
        keys,
        layer=["in"] * 3 + ["h"] * 2 + ["out"] * 2,
        index=[0, 1, 2, 0, 1, 0, 1],
        bias=np.linspace(0, 0.6, 7),
    )
    g.add_nodes("Class", [7, 8], name=["cat", "dog"])
    src = np.array([0, 1, 2, 0, 3, 4, 3, 4])
    dst = np.array([3, 3, 3, 4, 5, 5, 6, 6])
    w = np.array([0.5, -0.25, 1.0, 2.0, -1.5, 0.75, 0.1, -0.2])
    g.add_edges("WEIGHT", "Neuron", "Neuron", src, dst, w=w, abs_w=np.abs(w))
    g.add_edges("REPRESENTS", "Neuron", "Class", [5, 6], [7, 8])
    return g


def random_graph(graph_id: str, n: int, m: int, seed: int = 0) -> Graph:
    """A random Neuron graph with float weights (for batching tests)."""
    rng = np.random.default_rng(seed)
    g = Graph(graph_id, "weights")
    g.add_nodes("Neuron", np.arange(n), layer=np.where(np.arange(n) % 2, "a", "b").astype(object))
    w = rng.standard_normal(m)
    g.add_edges("WEIGHT", "Neuron", "Neuron", rng.integers(0, n, m), rng.integers(0, n, m), w=w, abs_w=np.abs(w))
    return g
