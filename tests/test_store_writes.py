"""The write path's guarantees (issue 8): batch sizes, non-finite weights, replayed batches, a server that vanishes
mid-write, and drop/replace of a graph larger than the server's transaction memory - against the real servers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graphstore.config import load_settings
from graphstore.errors import ConfigError, InvalidGraph, StoreUnavailable
from graphstore.persist import drop_graph, write_tracked
from graphstore.store.base import COMPLETE, INCOMPLETE, Batch, batches, pending_ranges, record_batch
from graphstore.tracking import open_tracking
from tests.conftest import make_neo4j, random_graph, small_graph
from tests.servers import neo4j_params
from tests.tcp_proxy import TcpProxy
from tests.test_cli import run_cli


def _rel_count(store, graph_id: str) -> int:
    if store.dialect == "neo4j":
        cypher = "MATCH (:GraphNode {graph_id: $g})-[r]->() RETURN count(r)"
    else:
        cypher = "MATCH ()-[r:WEIGHT]->() WHERE r.graph_id = $g RETURN count(r)"
    return int(store.execute(cypher, {"g": graph_id}).rows[0][0])


def _small_batches(store, size: int) -> None:
    """Batches of `size` rows (the embedded store: one COPY per table, its source file in pieces of `size`)."""
    store.batch_size = size
    if store.dialect == "ladybug":
        store.copy_rows = size


# ---- batch sizes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, -5])
def test_batch_size_below_one_refused_everywhere(size, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHSTORE_BATCH_SIZE", str(size))
    with pytest.raises(ConfigError, match="batch_size") as env_error:
        load_settings()
    assert "GRAPHSTORE_BATCH_SIZE" in env_error.value.hint
    monkeypatch.delenv("GRAPHSTORE_BATCH_SIZE")
    config = tmp_path / "graphstore.toml"
    config.write_text(f"batch_size = {size}\n")
    with pytest.raises(ConfigError, match="batch_size"):
        load_settings(config=config)
    with pytest.raises(ConfigError, match="batch_size"):
        load_settings({"batch_size": size})
    with pytest.raises(ConfigError, match="batch_size"):
        list(batches(10, size))


def test_batch_size_zero_refused_by_the_cli(tmp_path):
    result = run_cli(tmp_path, "store", "list", env={"GRAPHSTORE_BATCH_SIZE": "0"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "batch_size" in result.stderr and "positive" in result.stderr


def test_store_constructors_refuse_batch_size_zero(store):
    with pytest.raises(ConfigError, match="batch_size"):
        store.batch_size = 0
    if store.dialect == "neo4j":
        from graphstore.store.neo4j_store import Neo4jStore

        params = neo4j_params()
        with pytest.raises(ConfigError, match="batch_size"):
            Neo4jStore(params.uri, params.user, params.password, batch_size=0)
    else:
        from graphstore.store.embedded import EmbeddedStore

        with pytest.raises(ConfigError, match="batch_size"):
            EmbeddedStore(store.path.with_name("other.lbdb"), batch_size=0)


@pytest.mark.parametrize(
    ("n", "size", "start"), [(0, 3, 0), (10, 3, 0), (10, 3, 4), (10, 10, 0), (10, 20, 0), (7, 1, 0), (10, 3, 12)]
)
def test_batches_cover_exactly_once(n, size, start):
    ranges = list(batches(n, size, start))
    assert all(lo < hi for lo, hi in ranges)
    covered = np.concatenate([np.arange(lo, hi) for lo, hi in ranges]) if ranges else np.empty(0, int)
    assert covered.tolist() == list(range(min(start, n), n))


def test_progress_records_out_of_order_batches_and_refuses_replays():
    progress = {"nodes": {}, "edges": {}}
    later = record_batch(progress, Batch("edges", "W", 10, 20))
    assert later["edges"].get("W", 0) == 0 and later["ahead"] == {"edges/W": [[10, 20]]}
    assert pending_ranges(later, "edges", "W", 30) == [(0, 10), (20, 30)]
    both = record_batch(later, Batch("edges", "W", 0, 10))
    assert both["edges"]["W"] == 20 and "ahead" not in both
    assert record_batch(both, Batch("edges", "W", 0, 10)) is None  # replay
    assert record_batch(later, Batch("edges", "W", 15, 25)) is None  # overlap
    assert pending_ranges(both, "edges", "W", 20) == []


# ---- non-finite weights -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_edge_weight_refused(store, bad):
    graph = small_graph()
    graph.edges["WEIGHT"].props["w"][2] = bad
    with pytest.raises(InvalidGraph, match="WEIGHT") as info:
        store.write_graph(graph)
    assert "'w'" in info.value.message and "2->3" in info.value.message and "WEIGHT.w" in info.value.hint
    assert store.graph_info("g1") is None  # nothing written, nothing marked complete


def test_non_finite_graph_leaves_no_tracking_record(store, tmp_path):
    """A refused graph is refused before the tracking DB hears of it: no 'incomplete' row for a graph never stored."""
    graph = small_graph("nan-graph")
    graph.edges["WEIGHT"].props["w"][0] = np.nan
    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        with pytest.raises(InvalidGraph):
            write_tracked(store, tracking, graph)
        assert tracking.get_graph("nan-graph") is None
    assert store.graph_info("nan-graph") is None


# ---- replayed batches -------------------------------------------------------------------------------------------
def test_replayed_batches_write_nothing_twice(store):
    """A batch retried after its commit (acknowledged or lost) is rolled back: no duplicate nodes or edges."""
    _small_batches(store, 40)
    graph = random_graph("replay", 60, 200, seed=5)
    store.write_graph(graph)
    edges, nodes = graph.edges["WEIGHT"], graph.nodes["Neuron"]
    for lo, hi in ((0, 40), (160, 200)):
        batch = Batch("edges", "WEIGHT", lo, hi)
        assert store._write_edges(graph, store.batch_rows_of(edges, batch), batch) is False
    assert store._write_nodes(graph, nodes.slice(0, 40), Batch("nodes", "Neuron", 0, 40)) is False
    assert _rel_count(store, "replay") == 200
    back = store.read_graph("replay")
    assert len(back.nodes["Neuron"]) == 60
    pairs = sorted(zip(back.edges["WEIGHT"].src.tolist(), back.edges["WEIGHT"].dst.tolist(), strict=True))
    assert pairs == sorted(zip(edges.src.tolist(), edges.dst.tolist(), strict=True))


def test_replay_during_an_interrupted_write_then_resume(store):
    _small_batches(store, 30)
    graph = random_graph("half", 50, 150, seed=6)

    def stop_after_second_edge_batch(step: str, done: int, total: int) -> None:
        if step.startswith("edges") and done >= 50 + 60:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.write_graph(graph, on_progress=stop_after_second_edge_batch)
    assert store.graph_info("half").progress["edges"]["WEIGHT"] == (150 if store.dialect == "ladybug" else 60)
    batch = Batch("edges", "WEIGHT", 30, 60)  # the last committed batch, retried
    assert store._write_edges(graph, store.batch_rows_of(graph.edges["WEIGHT"], batch), batch) is False
    store.write_graph(graph, resume=True)
    assert store.graph_info("half").status == COMPLETE and _rel_count(store, "half") == 150


# ---- the server vanishes mid-write --------------------------------------------------------------------------------
@pytest.mark.neo4j
def test_neo4j_gone_mid_write_is_store_unavailable_and_resumable(tmp_path):
    from graphstore.store.neo4j_store import Neo4jStore

    params = neo4j_params()
    direct = make_neo4j(batch_size=25)
    host, port = params.uri.split("://", 1)[1].rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    graph = random_graph("vanish", 40, 200, seed=7)

    def cut_after_first_edge_batch(step: str, done: int, total: int) -> None:
        if step.startswith("edges"):
            proxy.cut()

    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        through_proxy = Neo4jStore(f"bolt://127.0.0.1:{proxy.port}", params.user, params.password, batch_size=25)
        try:
            with pytest.raises(StoreUnavailable) as info:
                write_tracked(through_proxy, tracking, graph, on_progress=cut_after_first_edge_batch)
        finally:
            proxy.cut()
            through_proxy.close()
        assert "--resume" in info.value.hint
        assert tracking.get_graph("vanish").status == INCOMPLETE
        stored = direct.graph_info("vanish")
        assert stored.status != COMPLETE and stored.progress["edges"]["WEIGHT"] == 25
        report = write_tracked(direct, tracking, graph, resume=True)
        assert report.resumed and tracking.get_graph("vanish").status == COMPLETE
    assert direct.graph_info("vanish").status == COMPLETE and _rel_count(direct, "vanish") == 200
    direct.close()


# ---- drop and replace beyond the transaction memory limit ------------------------------------------------------------
SMALL_TX_MEMORY = "32m"


@pytest.fixture(scope="module")
def small_tx_neo4j(tmp_path_factory):
    """A dedicated Neo4j whose transactions may use only 32 MiB in total (dbms.memory.transaction.total.max),
    first loaded offline with `graphstore store import`'s function (neo4j-admin import before the first start).

    Community edition cannot change that limit at run time (no dbms.setConfigValue), so this one test module
    starts its own small server (about 20-60 s) and stops it afterwards.
    """
    neo4j_params()  # skip (or fail when servers are required) exactly like the other Neo4j tests
    from graphstore.jobs.base import JobContext
    from graphstore.jobs.store_import import import_offline_tracked
    from graphstore.services.neo4j_server import start_neo4j, stop_neo4j

    root = tmp_path_factory.mktemp("small-tx-services")
    settings = load_settings({"database_url": f"sqlite:///{root / 'tracking.db'}"})
    graphs = [small_graph("imported"), random_graph("imported-2", 200, 2_000)]
    report = import_offline_tracked(JobContext(settings), graphs, root)
    state = start_neo4j(
        root / "neo4j",
        memory={"heap_initial": "256m", "heap_max": "512m", "pagecache": "64m", "tx_max": SMALL_TX_MEMORY},
        warm_up=False,
    )
    try:
        yield {**state, "root": root, "settings": settings, "import": report}
    finally:
        stop_neo4j(root / "neo4j", purge=True)


def _big_graph(graph_id: str):
    """A few hub-heavy nodes with 50k edges: deleting them in one transaction needs more than 32 MiB."""
    return random_graph(graph_id, 400, 50_000, seed=9)


@pytest.mark.neo4j
@pytest.mark.slow
def test_drop_and_replace_larger_than_transaction_memory(small_tx_neo4j, tmp_path):
    from graphstore.store.neo4j_store import Neo4jStore

    state = small_tx_neo4j
    with (
        Neo4jStore(state["bolt_uri"], state["user"], state["password"], batch_size=2_500) as store,
        open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking,
    ):
        write_tracked(store, tracking, _big_graph("big"))
        with pytest.raises(ConfigError, match="transaction memory") as oom:  # the old one-transaction delete
            store.execute("MATCH (n:GraphNode {graph_id: 'big'}) DETACH DELETE n")
        assert "batch_size" in oom.value.hint
        assert store.graph_info("big").status == COMPLETE and _rel_count(store, "big") == 50_000
        write_tracked(store, tracking, _big_graph("big"), replace=True)
        assert store.graph_info("big").status == COMPLETE and _rel_count(store, "big") == 50_000
        assert tracking.get_graph("big").status == COMPLETE

        settings = load_settings(
            {
                "graph_store": state["bolt_uri"],
                "neo4j_password": state["password"],
                "database_url": f"sqlite:///{tmp_path / 'tracking.db'}",
            }
        )
        drop_graph(settings, "big")
        assert store.graph_info("big") is None and tracking.get_graph("big") is None
        store.wait_for_drops(timeout=300)  # the background delete (bounded batches) fits the small memory too
        assert store.pending_drops() == {"drops": 0, "nodes": 0}
        assert store.read("MATCH (n {graph_id: 'big'}) RETURN count(n)").rows == [[0]]  # retired ones too


@pytest.mark.neo4j
def test_failed_drop_leaves_store_and_tracking_agreeing(tmp_path, monkeypatch):
    """The server vanishes while a drop deletes relationships: both places then say incomplete, never complete."""
    import threading
    import time

    from graphstore.store import neo4j_store

    monkeypatch.setattr(neo4j_store, "DELETE_BATCH", 200)
    params = neo4j_params()
    direct = make_neo4j()
    graph = random_graph("dropme", 300, 30_000, seed=4)
    with open_tracking(f"sqlite:///{tmp_path / 'tracking.db'}") as tracking:
        write_tracked(direct, tracking, graph)
        host, port = params.uri.split("://", 1)[1].rsplit(":", 1)
        proxy = TcpProxy(host, int(port))
        errors: list[BaseException] = []
        settings = load_settings(
            {
                "graph_store": f"bolt://127.0.0.1:{proxy.port}",
                "neo4j_user": params.user,
                "neo4j_password": params.password,
                "database_url": f"sqlite:///{tmp_path / 'tracking.db'}",
            }
        )

        def drop() -> None:
            try:
                drop_graph(settings, "dropme")
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=drop)
        worker.start()
        deadline = time.monotonic() + 60
        while _rel_count(direct, "dropme") == 30_000 and time.monotonic() < deadline:
            time.sleep(0.005)
        proxy.cut()
        worker.join(60)
        left = _rel_count(direct, "dropme")
        assert errors and isinstance(errors[0], StoreUnavailable) and left < 30_000
        assert direct.graph_info("dropme").status == INCOMPLETE == tracking.get_graph("dropme").status
        direct.drop_graph("dropme")
        assert _rel_count(direct, "dropme") == 0
    direct.close()


def test_progress_is_json_of_prefixes(store):
    _small_batches(store, 4)
    store.write_graph(small_graph())
    progress = store.graph_info("g1").progress
    assert progress["nodes"] == {"Neuron": 7, "Class": 2} and progress["edges"] == {"WEIGHT": 8, "REPRESENTS": 2}
    assert "ahead" not in progress and json.loads(json.dumps(progress)) == progress


@pytest.mark.neo4j
@pytest.mark.slow
def test_offline_import_is_a_complete_readable_graph(small_tx_neo4j):
    from graphstore.errors import GraphExists, ServiceError
    from graphstore.jobs.base import JobContext
    from graphstore.jobs.store_import import import_offline_tracked
    from graphstore.store.neo4j_store import Neo4jStore

    state = small_tx_neo4j
    assert state["import"].nodes == 9 + 200 and state["import"].edges == 10 + 2_000
    with Neo4jStore(state["bolt_uri"], state["user"], state["password"]) as store:
        info = store.graph_info("imported")
        assert info.status == COMPLETE and (info.node_count, info.edge_count) == (9, 10)
        original, back = small_graph("imported"), store.read_graph("imported")
        assert back.params == original.params and sorted(back.edges) == ["REPRESENTS", "WEIGHT"]
        assert back.nodes["Class"].props["name"].tolist() == ["cat", "dog"]
        np.testing.assert_allclose(back.nodes["Neuron"].props["bias"].astype(float), np.linspace(0, 0.6, 7))
        assert _edge_triples(back) == _edge_triples(original)
        hubs = store.run_query("hubs", {"graph_id": "imported", "limit": 3}).records()
        assert [(h["key"], h["degree"]) for h in hubs] == [(3, 5), (4, 3), (5, 3)]
        assert _rel_count(store, "imported-2") == 2_000
        store.write_graph(small_graph("online"))  # the imported database takes ordinary writes with the schema
    with open_tracking(state["settings"].tracking_url) as tracking:
        assert tracking.get_graph("imported").status == COMPLETE
    with pytest.raises(ServiceError, match="running"):
        import_offline_tracked(JobContext(state["settings"]), [small_graph("x")], state["root"])
    stopped = state["root"].parent / "stopped-services"
    (stopped / "neo4j" / "data" / "databases" / "neo4j").mkdir(parents=True)
    with pytest.raises(GraphExists, match="replaces it whole") as exists:
        import_offline_tracked(JobContext(state["settings"]), [small_graph("x")], stopped)
    assert "--overwrite" in exists.value.hint


def _edge_triples(graph) -> list[tuple[int, int, float]]:
    table = graph.edges["WEIGHT"]
    return sorted(zip(table.src.tolist(), table.dst.tolist(), np.round(table.props["w"], 6).tolist(), strict=True))


def test_store_import_cli_refuses_an_existing_database(tmp_path):
    """The command is a thin adapter: it reads `graphstore extract` files and refuses to replace a database."""
    from graphstore.extract.files import write_graph_file

    graph_file = write_graph_file(small_graph("cli-import"), tmp_path / "g.parquet")
    root = tmp_path / "services"
    (root / "neo4j" / "data" / "databases" / "neo4j").mkdir(parents=True)
    result = run_cli(tmp_path, "store", "import", str(graph_file), "--run-dir", str(root))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "replaces it whole" in result.stderr and "--overwrite" in result.stderr


def test_driver_cleanup_error_does_not_hide_ctrl_c():
    """A Ctrl-C mid-message leaves the connection unusable; the driver's rollback then fails with a ClientError,
    which must not replace the interrupt (the CLI would report a bug instead of exit 130)."""
    from neo4j import exceptions as driver_errors

    from graphstore.store.neo4j_errors import driver_errors as translated

    with pytest.raises(KeyboardInterrupt), translated("bolt://127.0.0.1:1", "neo4j", ()):
        try:
            raise KeyboardInterrupt
        finally:
            raise driver_errors.ClientError("Message of type BeginMessage cannot be handled in IN_TRANSACTION")
