"""The demo's `nearest_classes` step asks for a class the dataset really has: the stored class graph's fourth class
(digits: "3"; planted-tree: "c011"), not a hard-coded "3" that planted-tree's classes (c000 ...) never match."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphstore.extract.class_graph import ClassGraphParams, class_graph_from_latents
from graphstore.jobs.demo import _a_class_name, queries
from tests.conftest import make_embedded


@pytest.mark.parametrize(
    ("names", "expected"),
    [([f"c{i:03b}" for i in range(8)], "c011"), ([str(i) for i in range(10)], "3"), (["left", "right"], "right")],
)
def test_the_demo_queries_a_class_the_graph_has(tmp_path: Path, names: list[str], expected: str) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(names)), 12)
    latents = rng.standard_normal((len(labels), 6)).astype(np.float32) + labels[:, None]
    graph = class_graph_from_latents("demo-class-graph", latents, labels, names, ClassGraphParams(k=4, class_k=1))
    with make_embedded(tmp_path) as store:
        store.write_graph(graph)
        name = _a_class_name(store, "demo-class-graph")
        assert name == expected
        ((title, query, values),) = [q for q in queries("demo", name) if q[1] == "nearest_classes"]
        assert title.endswith(f"class {expected}")
        rows = store.run_query(query, values).records()
    assert rows, "the named query finds the class and its nearest classes"
