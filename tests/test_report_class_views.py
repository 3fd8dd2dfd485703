"""Class views in reports (issue 23 item 3): the class x class heatmap (kNN edges between classes, class graph
distances, neurons shared by two classes' output neurons), the hierarchy graph drawn as its tree with class names,
and the majority-rule consensus class tree with the pairwise normalised RF matrix, for a hierarchy analysis's runs
(graph report) and for an experiment's cells (hierarchy-runs on a graph file). Numbers are checked on hand-made
graphs and trees; each figure is checked to land in the rendered report by its element id.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphstore.report.class_heatmaps as class_heatmaps
import graphstore.report.class_trees as class_trees
from graphstore.analysis.base import undirected_igraph
from graphstore.analysis.hierarchy import HierarchyParams, community_graph, hierarchy_client, louvain_levels
from graphstore.analysis.trees import robinson_foulds
from graphstore.errors import GraphNotFound
from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.experiments.runner import ExperimentParams, run_experiment
from graphstore.extract.files import write_parquet
from graphstore.graph import Graph
from graphstore.report.class_heatmaps import class_distances, knn_counts, shared_neurons
from graphstore.report.class_trees import by_leaves, consensus, rf_matrix, splits
from graphstore.report.document import Code, Figure, Report
from graphstore.report.experiments import build_experiment_report
from graphstore.report.graphs import build_graph_report
from graphstore.report.hierarchy_tree import community_classes, hierarchy_clade, to_newick
from graphstore.report.html import render_html
from graphstore.store.base import GraphStore
from graphstore.store.neo4j_store import Neo4jStore
from graphstore.tracking import GraphRecord, open_tracking
from tests.conftest import make_embedded
from tests.experiment_support import context_at
from tests.servers import neo4j_params
from tests.test_hierarchy import planted
from tests.test_report_drawings import knn_graph, neuron_graph, report_of, section

TREES = ["((a,b),(c,d),e);", "((a,b),c,(d,e));", "((a,b,c),(d,e));"]


def figure_ids(report: Report) -> list[str]:
    """The element ids of the report's figures as the HTML renders them."""
    html = render_html(report, lambda kind, ident: None, footer="")
    return [f.name for f in report.figures() if f'id="fig-{f.name}"' in html]


def capture(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[tuple]:
    """Record every matrix_figure call of a module (labels, values, number format) and draw it as usual."""
    calls: list[tuple] = []
    original = module.matrix_figure

    def record(name: str, caption: str, labels: Any, values: np.ndarray, *args: Any, **kw: Any) -> Figure:
        calls.append((name, list(labels), np.array(values), kw.get("number_format")))
        return original(name, caption, labels, values, *args, **kw)

    monkeypatch.setattr(module, "matrix_figure", record)
    return calls


def test_consensus_keeps_the_clades_of_more_than_half_the_trees_with_their_support() -> None:
    assert consensus(TREES) == "((a,b)67,(d,e)67,c);"  # {a,b}: 2 of 3, {d,e}: 2 of 3, {c,d}: 1 of 3
    assert consensus(["((a,b),c,d);", "((a,c),b,d);"]) == "(a,b,c,d);"  # 1 of 2 is not a majority
    assert consensus(["(('T-shirt/top',b),c,d);"] * 2) == "(('T-shirt/top',b)100,c,d);"  # quoted names survive


def test_rf_matrix_by_hand_and_as_the_analysis_computes_it() -> None:
    assert splits("((a,b),(c,d),e);") == {frozenset("cde"), frozenset("cd")}  # each split: the side without a
    assert splits("((a,b,c),(d,e));") == {frozenset("de")}  # unrooted: {a,b,c} | {d,e} is one split
    matrix = rf_matrix(TREES)
    # 1 vs 2: {c,d} xor {d,e} = 2 of 4 splits; 1 vs 3: {a,b}, {c,d} xor {d,e} = 3 of 3; 2 vs 3: {a,b} = 1 of 3
    np.testing.assert_allclose(matrix, [[0, 0.5, 1], [0.5, 0, 1 / 3], [1, 1 / 3, 0]])
    for i, a in enumerate(TREES):
        for j, b in enumerate(TREES):
            assert matrix[i, j] == pytest.approx(robinson_foulds(a, b)[1])
    groups = by_leaves(["x", "y", "z"], ["((a,b),c,d);", "((p,q),r,s);", "((A,c),b,d);"])
    assert [g.labels for g in groups] == [["x", "z"], ["y"]]  # leaf sets match case-insensitively


def test_knn_class_heatmap_counts_edges_between_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = capture(monkeypatch, class_heatmaps)
    report = report_of(knn_graph(per_class=20, k=4), tmp_path)
    ((name, labels, values, number_format),) = calls
    assert labels == ["0", "1", "2"] and number_format == "{:.0f}"
    # each ring: 20 samples x 2 forward steps = 40 edges; one edge 0-1 and one 1-2, counted both ways
    assert values.tolist() == [[40, 1, 0], [1, 40, 1], [0, 1, 40]]
    assert section(report, "Class x class").omitted is None and name in figure_ids(report)


def class_graph() -> Graph:
    """Three classes; NEAR edges cat-dog (d = 1.5) and dog-ship (d = 2.25)."""
    graph = Graph("tiny-class-graph", "class-graph")
    graph.add_nodes("Class", np.arange(3), label=np.arange(3), name=np.array(["cat", "dog", "ship"], dtype=object))
    graph.add_edges("NEAR", "Class", "Class", [0, 1], [1, 2], directed=False, distance=np.array([1.5, 2.25]))
    return graph


def test_class_graph_heatmap_holds_the_near_distances(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = class_graph()
    calls = capture(monkeypatch, class_heatmaps)
    report = report_of(graph, tmp_path)
    ((name, labels, values, _),) = calls
    assert labels == ["cat", "dog", "ship"]
    assert np.isnan(values[0, 2]) and np.isnan(values[1, 1])  # no NEAR edge: blank
    assert values[0, 1] == values[1, 0] == 1.5 and values[1, 2] == values[2, 1] == 2.25
    assert name in figure_ids(report)


def test_coactivation_heatmap_counts_neurons_shared_by_two_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = Graph("tiny-shared", "coactivation")
    names = np.array([None, None, None, "a", "b", "c"], dtype=object)
    graph.add_nodes("Neuron", np.arange(6) + 10, class_name=names)
    # h0 (10) joins a and b; h1 (11) joins a and c; h2 (12) joins b; a and b are joined to each other
    src, dst = [10, 10, 11, 11, 12, 13], [13, 14, 13, 15, 14, 14]
    graph.add_edges("COACTIVATES", "Neuron", "Neuron", src, dst, directed=False, w=np.ones(6))
    calls = capture(monkeypatch, class_heatmaps)
    report = report_of(graph, tmp_path)
    ((name, labels, values, _),) = calls
    assert labels == ["a", "b", "c"]
    # a: {h0, h1, b}; b: {h0, h2, a}; c: {h1} -> a&b = {h0}, a&c = {h1}, b&c = {}
    assert values.tolist() == [[3, 1, 1], [1, 3, 0], [1, 0, 1]]
    assert name in figure_ids(report)
    assert section(report_of(neuron_graph((2, 2)), tmp_path), "Class x class").omitted  # no classes: says why


def hierarchy_graph() -> Graph:
    """Level 0: {a,b}, {c}, a hidden-only block; level 1: {a,b,c}, hidden; level 2: the root."""
    graph = Graph("tiny-hierarchy", "hierarchy", params={"source_graph": "tiny"})
    classes = np.array(["a,b", "c", "", "a,b,c", "", "a,b,c"], dtype=object)
    graph.add_nodes("Community", np.arange(6), level=np.array([0, 0, 0, 1, 1, 2]), classes=classes)
    graph.add_edges("PARENT", "Community", "Community", [0, 1, 2, 3, 4], [3, 3, 4, 5, 5])
    return graph


def test_hierarchy_graph_drawn_as_its_tree_with_class_names(tmp_path: Path) -> None:
    graph = hierarchy_graph()
    table, parent = graph.nodes["Community"], graph.edges["PARENT"]
    root = hierarchy_clade(table.keys, table.props["level"], community_classes(table),
                           dict(zip(parent.src.tolist(), parent.dst.tolist(), strict=True)))  # fmt: skip
    assert to_newick(root) == "(((a,b),(c)))"  # root (level 2) > {a,b,c} (level 1) > {a,b} and {c} (level 0)
    report = report_of(graph, tmp_path)
    drawn = section(report, "Hierarchy tree")
    assert drawn.omitted is None
    assert any(isinstance(b, Code) and b.text == "(((a,b),(c)));" for b in drawn.blocks)
    assert any("4 of 6 communities hold an output neuron" in getattr(b, "text", "") for b in drawn.blocks)
    assert "tiny-hierarchy-hierarchy-tree" in figure_ids(report)
    assert section(report_of(knn_graph(), tmp_path), "Hierarchy tree").omitted  # not a hierarchy graph


def clustered_coactivation() -> Graph:
    """Hidden neurons 0-5 co-activate with classes a, b; 6-11 with c, d; one weak link between the halves."""
    graph = Graph("tiny-clustered", "coactivation")
    names = np.array([None] * 12 + ["a", "b", "c", "d"], dtype=object)
    graph.add_nodes("Neuron", np.arange(16), class_name=names, layer_index=np.repeat([0, 1], [12, 4]))
    src, dst = [], []
    for half, outputs in ((range(0, 6), (12, 13)), (range(6, 12), (14, 15))):
        members = [*half, *outputs]
        src += [a for a in members for b in members if a < b]
        dst += [b for a in members for b in members if a < b]
    src, dst = [*src, 5], [*dst, 6]
    graph.add_edges("COACTIVATES", "Neuron", "Neuron", src, dst, directed=False, w=np.ones(len(src)))
    return graph


def test_class_tree_section_draws_the_consensus_and_rf_matrix_of_the_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = clustered_coactivation()
    params = HierarchyParams(method="louvain-levels", runs=4, workers=1, reference="((a,b),(c,d));")
    result = hierarchy_client(graph, params)
    calls = capture(monkeypatch, class_trees)
    report = record_and_report(graph, result.summary, tmp_path)
    drawn = section(report, "Class tree")
    ((name, labels, values, number_format),) = [c for c in calls if c[0].endswith("rf-matrix")]
    trees = result.summary["trees"]
    assert labels == ["run 1", "run 2", "run 3", "run 4"] and number_format == "{:.2f}"
    np.testing.assert_allclose(values, rf_matrix(trees))
    newick = [b.text for b in drawn.blocks if isinstance(b, Code) and b.caption.startswith("Consensus")]
    assert newick == [consensus(trees)]
    ids = figure_ids(report)
    assert {"tiny-clustered-consensus-tree", "tiny-clustered-rf-matrix"} <= set(ids)
    tree_report = report_of(result.graphs[0], tmp_path / "tree")  # the analysis's community hierarchy graph
    assert section(tree_report, "Hierarchy tree").omitted is None


def record_and_report(graph: Graph, summary: dict[str, Any], tmp_path: Path) -> Report:
    """The graph's report after recording a hierarchy analysis with this summary in a real SQLite tracking DB."""
    url = f"sqlite:///{tmp_path / 'tracking.db'}"
    record = GraphRecord(
        graph.graph_id, graph.kind, None, None, {}, graph.node_count, graph.edge_count, "complete", "memory",
        datetime.now(UTC), None, None, None,
    )  # fmt: skip
    with open_tracking(url) as tracking:
        tracking.begin_graph(graph.graph_id, graph.kind, {}, "memory")
        tracking.finish_graph(graph.graph_id, graph.node_count, graph.edge_count, 0.0)
        tracking.record_analysis(graph.graph_id, "hierarchy", {"method": "louvain-levels"}, summary)
        return build_graph_report(tracking, record, graph)


def test_experiment_report_draws_the_consensus_of_its_cells_trees(tmp_path: Path) -> None:
    path = write_parquet(clustered_coactivation(), tmp_path / "graph.parquet")
    reference = tmp_path / "reference.nwk"
    reference.write_text("((a,b),(c,d));")  # a file: a comma in --set makes a grid axis
    context = context_at(tmp_path)
    sets = ("graph=", f"graph_file={path}", "method=louvain-levels", f"reference={reference}", "seed=0,1,2,3")
    result = run_experiment(context, ExperimentParams(name="hierarchy-runs", sets=sets))
    assert not result.failed
    report = build_experiment_report(context, result.run_id)
    drawn = section(report, "Class trees of the cells")
    assert {"runs-1-consensus-tree", "runs-1-rf-matrix"} <= set(figure_ids(report))
    assert any(isinstance(b, Code) and b.caption.startswith("Consensus") for b in drawn.blocks)
    assert any("4 trees on the same classes" in getattr(b, "text", "") for b in drawn.blocks)


def open_store(backend: str, tmp_path: Path) -> GraphStore:
    """The embedded store in tmp_path, or the shared test Neo4j server (never wiped: the graphs here have their own
    ids and are dropped after)."""
    if backend == "embedded":
        return make_embedded(tmp_path)
    params = neo4j_params()
    return Neo4jStore(params.uri, params.user, params.password)


@pytest.mark.parametrize("backend", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_class_views_are_the_same_read_back_from_the_store(backend: str, tmp_path: Path) -> None:
    """What the sections draw is computed from the graph the store gives back: class names, levels, classes, PARENT
    and missing class names (hidden neurons) must survive each backend's round trip unchanged."""
    tag = uuid.uuid4().hex[:8]
    coactivation = clustered_coactivation()
    hierarchy = hierarchy_client(coactivation, HierarchyParams(method="louvain-levels", runs=1, workers=1)).graphs[0]
    made = [coactivation, knn_graph(per_class=10), class_graph(), hierarchy]
    for graph in made:
        graph.graph_id = f"{graph.graph_id}-{tag}"
    store = open_store(backend, tmp_path)
    try:
        for graph in made:
            store.write_graph(graph)
        back = {g.graph_id: store.read_graph(g.graph_id) for g in made}
        for graph, view in zip(made[:3], (shared_neurons, knn_counts, class_distances), strict=True):
            ours, theirs = view(graph), view(back[graph.graph_id])
            assert ours is not None and theirs is not None
            assert theirs.names == ours.names
            np.testing.assert_array_equal(theirs.values, ours.values)
        assert tree_of(back[hierarchy.graph_id]) == tree_of(hierarchy) == "((a,b),(c,d))"
    finally:
        for graph in made:
            with contextlib.suppress(GraphNotFound):
                store.drop_graph(graph.graph_id)
        store.close()


def tree_of(graph: Graph) -> str:
    """The hierarchy graph's tree as Newick."""
    table, parent = graph.nodes["Community"], graph.edges["PARENT"]
    links = dict(zip(parent.src.tolist(), parent.dst.tolist(), strict=True))
    return to_newick(hierarchy_clade(table.keys, np.asarray(table.props["level"]), community_classes(table), links))


@dataclass(frozen=True)
class TreeRowParams:
    """Record a `tree` value (a test pipeline: no fit)."""

    tree: str = field(default="", metadata={"help": "What the row's tree column holds."})
    seed: int = field(default=0, metadata={"help": "A grid axis."})


def record_tree(ctx: CellContext, p: TreeRowParams) -> None:
    ctx.record("fits", tree=p.tree.replace("SEED", str(p.seed)), seed=p.seed)


PIPELINES.register(Pipeline("tree-rows", TreeRowParams, record_tree))
TREE_ROWS = """
name = "tree-rows"
pipeline = "tests.test_report_class_views:tree-rows"
title = "Trees as recorded"

[smoke]
params = {{ tree = "{tree}" }}
grid = {{ seed = [0, 1] }}
"""


@pytest.mark.parametrize(
    ("tree", "says"),
    [
        ("((a,b),c,SEED);", "Table fits: one tree on its classes (seed=0), nothing to compare."),  # leaves differ
        ("((a,b,c);", "Table fits: its trees are not drawn: Newick tree does not parse"),
        ("((a,a),b);", "Table fits: its trees are not drawn: DendroPy cannot build the consensus"),
        ("fashion-mnist", None),  # not Newick at all: a user's column of another meaning, no trees section
    ],
)
def test_tree_columns_that_cannot_be_compared_leave_the_report_whole(
    tree: str, says: str | None, tmp_path: Path
) -> None:
    definition = tmp_path / "tree-rows.toml"
    definition.write_text(TREE_ROWS.format(tree=tree))
    context = context_at(tmp_path)
    result = run_experiment(context, ExperimentParams(name=str(definition)))
    assert not result.failed
    report = build_experiment_report(context, result.run_id)
    titles = [s.title for s in report.sections]
    if says is None:
        assert "Class trees of the cells" not in titles
        return
    texts = [getattr(b, "text", "") for b in section(report, "Class trees of the cells").blocks]
    assert any(t.startswith(says) for t in texts), texts


def test_class_names_with_commas_stay_whole_leaves() -> None:
    """ImageNet-style names ("tench, Tinca tinca") hold commas: the hierarchy keeps each community's names as a JSON
    list too, so the tree hangs whole names, not their comma-separated pieces."""
    graph = planted()
    names = graph.nodes["Neuron"].props["class_name"]
    renamed = np.array([None if n is None else f"{n}, a kind" for n in names], dtype=object)
    graph.nodes["Neuron"].props["class_name"] = renamed
    params = HierarchyParams(runs=1)
    tree = community_graph("commas", louvain_levels(undirected_igraph(graph, params), 0, "weight"), graph, params)
    table, parent = tree.nodes["Community"], tree.edges["PARENT"]
    root = hierarchy_clade(table.keys, np.asarray(table.props["level"]), community_classes(table),
                           dict(zip(parent.src.tolist(), parent.dst.tolist(), strict=True)))  # fmt: skip

    def leaves(clade: Any) -> list[str]:
        return [clade.name] if not clade.children else [n for c in clade.children for n in leaves(c)]

    assert sorted(leaves(root)) == sorted(n for n in renamed if n is not None)
    assert "'T-shirt/top, a kind'" in to_newick(root)  # quoted: Newick reserves the comma
