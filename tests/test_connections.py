"""A job owns its connections: one graph store and one tracking DB per job, shared by everything below it, closed
when the job ends (also on error). Counted at the backends' constructors, on both stores."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from graphstore.config import Settings
from graphstore.connections import Connections
from graphstore.jobs.base import JobContext
from graphstore.jobs.ingest import INGEST, ExtractOptions, IngestParams
from graphstore.jobs.source import CheckpointSource
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import load_dataset
from graphstore.nn.models import make_model
from graphstore.nn.train import CheckpointSaver, train
from graphstore.store import open_store
from graphstore.tracking.repo import Tracking

FOUR_KINDS = "weights,coactivation,knn,class-graph"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """A small-cnn trained for one epoch on 300 digits."""
    root = tmp_path_factory.mktemp("conn")
    data = load_dataset("digits", root, limit=300)
    torch.manual_seed(0)
    saver = CheckpointSaver(root, 3, data)
    train(make_model("small-cnn", data.info), data, TrainConfig(epochs=1, batch_size=64), [saver])
    return root, saver.saved[-1]


def _settings(backend: str, root: Path, tmp_path: Path) -> Settings:
    if backend == "embedded":
        return Settings(data_dir=root, graph_store=str(tmp_path / "graphs.lbdb"), database_url="")
    from graphstore.tracking.db import upgrade
    from tests.servers import neo4j_params, postgres_url

    p = neo4j_params()
    upgrade(postgres_url())  # a fresh server's database starts empty; PostgreSQL never migrates itself
    return Settings(
        data_dir=root, graph_store=p.uri, neo4j_user=p.user, neo4j_password=p.password, database_url=postgres_url()
    )


@pytest.fixture
def opened(monkeypatch) -> Counter[str]:
    """Connections opened, counted where every path must go: the backends' and the tracking DB's constructors."""
    from graphstore.store.embedded import EmbeddedStore
    from graphstore.store.neo4j_store import Neo4jStore

    counts: Counter[str] = Counter()
    for name, cls in (("store", EmbeddedStore), ("store", Neo4jStore), ("tracking", Tracking)):
        original = cls.__init__

        def counting(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    return counts


@pytest.mark.parametrize(
    "backend", ["embedded", pytest.param("neo4j", marks=(pytest.mark.neo4j, pytest.mark.postgres))]
)
def test_an_ingest_of_four_kinds_opens_one_store_and_one_tracking_connection(
    checkpoint, backend, tmp_path, opened
) -> None:
    root, path = checkpoint
    settings = _settings(backend, root, tmp_path)
    prefix = f"conn-{backend}-{tmp_path.name}"[:40]
    context = JobContext(settings)
    done = INGEST(
        context,
        IngestParams(
            source=CheckpointSource(checkpoint=str(path)),
            graphs=FOUR_KINDS,
            options=ExtractOptions(k="4", limit=120),
            graph_id_prefix=prefix,
            replace=True,
        ),
    )
    assert len(done.outcomes) == 4
    assert opened == Counter(store=1, tracking=1)
    assert context.connections._store is None and context.connections._tracking is None  # closed at the job's end
    with open_store(settings) as store:  # nothing still holds the embedded database
        assert {i.graph_id for i in store.list_graphs()} >= {o.graph_id for o in done.outcomes}
        for outcome in done.outcomes:
            store.drop_graph(outcome.graph_id)


def test_a_failing_job_closes_its_connections(tmp_path) -> None:
    connections = Connections(Settings(data_dir=tmp_path, graph_store=str(tmp_path / "g.lbdb"), database_url=""))
    with pytest.raises(RuntimeError), connections.hold():
        assert connections.store is connections.store  # one connection, however often it is asked for
        raise RuntimeError("boom")
    assert connections._store is None
    assert connections.opened == Counter(store=1)


def test_a_borrow_outside_a_job_opens_and_closes_around_its_block(tmp_path) -> None:
    context = JobContext(Settings(data_dir=tmp_path, graph_store=str(tmp_path / "g.lbdb"), database_url=""))
    with context.open_store() as store, context.open_store() as again:
        assert store is again
    assert context.connections._store is None
    with context.open_tracking() as tracking:
        assert tracking.list_runs() == []
    assert context.connections.opened == Counter(store=1, tracking=1)
