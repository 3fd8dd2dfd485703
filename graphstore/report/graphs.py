"""The report of one stored graph: counts, degree and weight distributions, communities, the class tree, the class
graph, kNN hubness, multilayer delta per layer and centrality top lists.

Values come from the graph itself (read from the graph store) and from what analyses recorded: their summaries in
the tracking DB and the node properties they wrote back (`louvain`, `pagerank`, ...). A section that does not fit
the graph's kind, or whose analysis was never run, stays in the report with the reason and the command to run.

Which sections exist is declared by the analyses and graph kinds themselves: an AnalysisSpec or GraphKind names its
section (`report="communities"`), and this layer registers one drawer per section name in GRAPH_SECTIONS (a plugin
module may register more). A drawer is handed the registered analyses and kinds that declared it, so a new
centrality analysis (`report="centrality"`, `writes=("harmonic",)`) appears in the top lists with no edit here. The
names are data: analysis and extract never import the report layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphstore.analysis.base import ANALYSES, AnalysisSpec
from graphstore.errors import GraphstoreError
from graphstore.extract.registry import KINDS, GraphKind
from graphstore.graph import Graph, NodeTable
from graphstore.registry import Registry
from graphstore.report.class_trees import Trees, add_consensus
from graphstore.report.document import Code, Link, Report, Section, Table, Text
from graphstore.report.figures import bar_chart, heatmaps, histogram, network_figure, tree_figure
from graphstore.report.runs import article, flatten
from graphstore.tracking import AnalysisRecord, GraphRecord, Tracking

NAME_PROPS = ("layer", "index", "class_name", "name", "label", "prediction", "idx", "i", "j")
# Edge properties that are codes or ranks rather than weights.
NOT_WEIGHTS = ("rank", "mutual", "class")
TOP = 10


@dataclass(frozen=True)
class Declared:
    """The registered analyses and graph kinds that declare one report section, sorted by name."""

    analyses: tuple[AnalysisSpec, ...] = ()
    kinds: tuple[GraphKind, ...] = ()

    def kind_names(self) -> list[str]:
        """The declaring kinds' names, and the graph kinds the declaring analyses fit."""
        fitted = [kind for a in self.analyses for kind in a.kinds or ()]
        return list(dict.fromkeys([*(k.name for k in self.kinds), *fitted]))


Draw = Callable[[Report, Graph, list[AnalysisRecord], Declared], None]


@dataclass(frozen=True)
class GraphSection:
    """A drawer of one section of a graph report: drawn for every graph (`every_graph`), or when a registered
    analysis or graph kind declares its name; `rank` orders the sections."""

    name: str
    title: str
    draw: Draw
    rank: int = 100
    every_graph: bool = False


GRAPH_SECTIONS: Registry[GraphSection] = Registry(
    "graph report section", handle="GRAPH_SECTIONS", hint="Sections are registered in graphstore.report.graphs."
)


def declared_sections() -> dict[str, Declared]:
    """Section name -> the registered analyses and kinds that declare it."""
    names = {a.report for a in ANALYSES.entries()} | {k.report for k in KINDS.entries()}
    return {
        name: Declared(
            tuple(a for a in ANALYSES.entries() if a.report == name),
            tuple(k for k in KINDS.entries() if k.report == name),
        )
        for name in sorted(names - {""})
    }


def graph_sections() -> list[tuple[GraphSection, Declared]]:
    """The sections of a graph report, in rank order: the common ones and those some analysis or kind declares."""
    declared = declared_sections()
    chosen = [
        (s, declared.get(s.name, Declared())) for s in GRAPH_SECTIONS.entries() if s.every_graph or s.name in declared
    ]
    return sorted(chosen, key=lambda pair: (pair[0].rank, pair[0].name))


def build_graph_report(tracking: Tracking, record: GraphRecord, graph: Graph | None, why_not: str = "") -> Report:
    """Every section of a graph's report; `graph` None (with `why_not`) when the store could not give it."""
    report = Report(
        "graph",
        record.graph_id,
        f"Graph {record.graph_id}",
        f"{article(record.kind)} {record.kind} graph, {record.status}: "
        f"{record.node_count} nodes, {record.edge_count} edges.",
        group=record.kind,
    )
    analyses = tracking.list_analyses(record.graph_id)
    _overview(report, record, analyses)
    for section, declared in graph_sections():
        if graph is None:
            report.omit(section.title, f"the graph could not be read from the store: {why_not}")
        else:
            section.draw(report, graph, analyses, declared)
    _comparisons(report, tracking, record.graph_id)
    return report


def _overview(report: Report, record: GraphRecord, analyses: list[AnalysisRecord]) -> None:
    rows: list[list[Any]] = [
        ["kind", record.kind],
        ["status", record.status],
        ["run", record.run_id],
        ["checkpoint id", record.checkpoint_id],
        ["written (UTC)", f"{record.created_at:%Y-%m-%d %H:%M:%S}"],
        ["write time (s)", record.seconds],
        ["store", record.store_uri],
        ["error", record.error],
    ]
    section = report.section("Graph").add(Table(["field", "value"], rows))
    if record.run_id is not None:
        section.add(Link("run", str(record.run_id), f"Made from run {record.run_id}"))
    section.add(Table(["parameter", "value"], flatten(record.params), "Parameters"))
    if analyses:
        done = [[a.id, a.name, a.engine, a.status, a.seconds, f"{a.created_at:%Y-%m-%d %H:%M}"] for a in analyses]
        section.add(Table(["id", "analysis", "engine", "status", "seconds", "when (UTC)"], done, "Analyses recorded"))


def _counts(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """Nodes per label and relationships per type."""
    rows: list[list[Any]] = [[f":{label}", "node", len(t)] for label, t in sorted(graph.nodes.items())]
    rows += [[f"[:{t.type}]", f"relationship ({t.src_label} -> {t.dst_label})", len(t)] for t in graph.edges.values()]
    report.section("Counts").add(Table(["label / type", "what", "count"], rows))


def degrees(graph: Graph) -> np.ndarray:
    """Every node's degree over all relationship types (each relationship counts at both ends)."""
    keys, _ = graph.node_index()
    order = np.argsort(keys)
    counts = np.zeros(len(keys), dtype=np.int64)
    for table in graph.edges.values():
        for side in (table.src, table.dst):
            counts += np.bincount(np.searchsorted(keys[order], side), minlength=len(keys))[: len(keys)]
    out = np.empty_like(counts)
    out[order] = counts
    return out


def _degrees(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """Histogram of node degrees (log count axis) and its mean, median and maximum."""
    if not graph.edges:
        report.omit("Degree distribution", "the graph has no relationships.")
        return
    values = degrees(graph)
    figure = histogram(
        f"{graph.graph_id}-degrees", "Degree distribution", values, "degree (relationships per node)", log=True
    )
    stats = [["mean", float(values.mean())], ["median", float(np.median(values))], ["max", int(values.max())]]
    report.section("Degree distribution").add(figure, Table(["statistic", "degree"], stats))


def _weights(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """A histogram of each numeric relationship property (at most four)."""
    figures = []
    for table in graph.edges.values():
        for name, values in table.props.items():
            if values.dtype.kind == "f" and name not in NOT_WEIGHTS and np.isfinite(values).any():
                figures.append(
                    histogram(
                        f"{graph.graph_id}-{table.type}-{name}",
                        f"Distribution of {table.type}.{name}",
                        values,
                        f"{table.type}.{name} (edge property value)",
                        log=True,
                    )
                )
    if figures:
        report.section("Weight distribution").add(*figures[:4])
    else:
        report.omit("Weight distribution", "no relationship of this graph carries a numeric weight property.")


def _analysis(analyses: list[AnalysisRecord], name: str) -> AnalysisRecord | None:
    """The latest complete analysis of a name."""
    done = [a for a in analyses if a.name == name and a.status == "complete"]
    return done[-1] if done else None


def _param(analysis: AnalysisRecord, name: str) -> Any:
    """A parameter of a recorded analysis, at the top level or under its method's parameters."""
    method = analysis.params.get("method")
    return analysis.params.get(name, method.get(name) if isinstance(method, dict) else None)


def _node_values(graph: Graph, prop: str) -> np.ndarray | None:
    """A node property over every label that has it (concatenated), or None."""
    parts = [t.props[prop] for t in graph.nodes.values() if prop in t.props]
    return np.concatenate(parts) if parts else None


def _communities(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """Community analyses recorded (count, modularity) and the size chart from their node property."""
    title = "Communities"
    found = [(spec, a) for spec in declared.analyses if (a := _analysis(analyses, spec.name)) is not None]
    if not found:
        report.omit(
            title, f"no community analysis is recorded; run `graphstore analyze louvain --graph {graph.graph_id}`."
        )
        return
    rows = [
        [spec.name, a.summary.get("communities"), a.summary.get("modularity"), _param(a, "resolution")]
        for spec, a in found
    ]
    section = report.section(title).add(Table(["algorithm", "communities", "modularity", "resolution"], rows))
    for spec, _ in found:
        name = spec.name
        values = _node_values(graph, spec.writes[0]) if spec.writes else None
        if values is None:
            continue
        _, sizes = np.unique(values[values == values], return_counts=True)
        sizes = np.sort(sizes)[::-1]
        shown = sizes[:50]
        section.add(
            bar_chart(
                f"{graph.graph_id}-{name}-sizes",
                f"{name} community sizes (largest {len(shown)} of {len(sizes)})",
                [str(i + 1) for i in range(len(shown))],
                shown.tolist(),
                "community (by size rank)",
                "size (nodes)",
            )
        )


def _class_tree(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """The hierarchy analysis's class tree drawn, its Newick, and RF to the reference when one was given."""
    title = "Class tree"
    fits = declared.kind_names()
    if graph.kind not in fits:
        report.omit(title, f"class trees are built from {' or '.join(fits)} graphs; this is a {graph.kind} graph.")
        return
    runs = [a for spec in declared.analyses if (a := _analysis(analyses, spec.name)) is not None]
    found = runs[-1] if runs else None
    if found is None or not found.summary.get("trees"):
        name = declared.analyses[0].name if declared.analyses else "hierarchy"
        report.omit(
            title,
            f"no {name} analysis is recorded; run `graphstore analyze {name} --graph "
            f"{graph.graph_id} --reference <tree>`.",
        )
        return
    summary = found.summary
    tree = summary["trees"][0]
    section = report.section(title)
    section.add(tree_figure(f"{graph.graph_id}-class-tree", f"Class tree (run 1 of {summary.get('runs')})", tree))
    section.add(Code(tree, "Newick (run 1):"))
    if summary.get("reference"):
        rows = [
            ["RF mean", summary.get("rf_mean")],
            ["RF sample std", summary.get("rf_std")],
            ["normalised RF mean", summary.get("rf_normalised_mean")],
            ["runs", summary.get("runs")],
            ["method", summary.get("method")],
        ]
        section.add(Table(["Robinson-Foulds to the reference", "value"], rows))
        section.add(tree_figure(f"{graph.graph_id}-reference-tree", "Reference tree", summary["reference"]))
        section.add(Code(summary["reference"], "Reference (Newick):"))
    else:
        section.add(Text("No reference tree was given, so no Robinson-Foulds distance (analyze with --reference)."))
    trees = list(summary["trees"])
    if len(trees) > 1:
        labels = [f"run {i + 1}" for i in range(len(trees))]
        try:
            add_consensus(section, graph.graph_id, Trees(labels, trees), "runs' class trees")
        except GraphstoreError as exc:  # DendroPy refused the trees (duplicate leaves, say): the rest still shows
            section.add(Text(f"No consensus of the runs' trees: {exc.message}"))


def _class_graph(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """The class kNN graph drawn, and its closest pairs."""
    title = "Class graph"
    if graph.kind not in declared.kind_names() or "Class" not in graph.nodes or "NEAR" not in graph.edges:
        report.omit(title, f"drawn for class-graph graphs (:Class nodes joined by NEAR); this is a {graph.kind} graph.")
        return
    classes, near = graph.nodes["Class"], graph.edges["NEAR"]
    position = {int(k): i for i, k in enumerate(classes.keys)}
    names = [str(n) for n in classes.props.get("name", classes.keys)]
    distance = near.props.get("distance", np.ones(len(near)))
    edges = [
        (position[int(a)], position[int(b)], float(d)) for a, b, d in zip(near.src, near.dst, distance, strict=True)
    ]
    figure = network_figure(f"{graph.graph_id}-class-graph", "Class graph (nearest classes)", names, edges, "distance")
    rows = [[names[a], names[b], d] for a, b, d in sorted(edges, key=lambda e: e[2])]
    report.section(title).add(figure, Table(["class", "near class", "distance"], rows[:40], "Closest pairs"))


def _hubness(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """The k-occurrence histogram of a kNN graph and the hubness analysis's numbers."""
    title = "kNN hubness"
    samples = graph.nodes.get("Sample")
    if graph.kind not in declared.kind_names() or samples is None or "k_occurrence" not in samples.props:
        report.omit(
            title, f"hubness is a property of kNN graphs (k-occurrence of samples); this is a {graph.kind} graph."
        )
        return
    counts = np.asarray(samples.props["k_occurrence"], dtype=np.int64)
    k = graph.params.get("k")
    histogram_counts = np.bincount(counts)
    figure = bar_chart(
        f"{graph.graph_id}-k-occurrence",
        f"k-occurrence histogram (k = {k})",
        [str(i) for i in range(len(histogram_counts))],
        histogram_counts.tolist(),
        "k-occurrence N_k (times a sample is among others' k nearest)",
        "samples (count)",
    )
    section = report.section(title).add(figure)
    runs = [a for spec in declared.analyses if (a := _analysis(analyses, spec.name)) is not None]
    found = runs[-1] if runs else None
    if found is None:
        section.add(Text(f"Skewness not recorded; run `graphstore analyze hubness --graph {graph.graph_id}`."))
        return
    keys = ("k", "samples", "skewness", "mean", "max", "hubs", "anti_hubs")
    section.add(Table(["hubness", "value"], [[key, found.summary.get(key)] for key in keys]))


def _multilayer(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """A heatmap of delta over the positions of each conv layer, one colour scale."""
    title = "Multilayer delta per layer"
    patches = graph.nodes.get("Patch")
    needed = ("layer", "i", "j", "delta")
    if graph.kind not in declared.kind_names() or patches is None or any(p not in patches.props for p in needed):
        report.omit(title, f"delta is computed on multilayer graphs (:Patch nodes); this is a {graph.kind} graph.")
        return
    grids, rows = [], []
    layers = patches.props["layer"]
    for layer in dict.fromkeys(layers.tolist()):
        rows_of = layers == layer
        i, j = patches.props["i"][rows_of].astype(int), patches.props["j"][rows_of].astype(int)
        grid = np.full((i.max() + 1, j.max() + 1), np.nan)
        grid[i, j] = patches.props["delta"][rows_of]
        grids.append((str(layer), grid))
        rows.append([layer, f"{grid.shape[0]} x {grid.shape[1]}", float(np.nanmean(grid)), float(np.nanmax(grid))])
    figure = heatmaps(f"{graph.graph_id}-delta", "Entropy of degree delta per layer", grids, "delta (nats)")
    report.section(title).add(figure, Table(["layer", "positions", "mean delta (nats)", "max delta (nats)"], rows))


def _node_name(table: NodeTable, row: int) -> str:
    """A node's identifying properties (layer, unit, class, label...) as text."""
    values = {p: table.props[p][row] for p in NAME_PROPS if p in table.props}
    return ", ".join(f"{p}={v}" for p, v in values.items() if v is not None and v == v)  # v != v: NaN


def _centrality(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """The top nodes by each centrality a recorded analysis wrote on them."""
    title = "Centrality top lists"
    section = Section(title)
    for prop, analysis in ((prop, spec.name) for spec in declared.analyses for prop in spec.writes):
        if _analysis(analyses, analysis) is None:
            continue
        ranked = []
        for table in graph.nodes.values():
            if prop in table.props:
                values = np.asarray(table.props[prop], dtype=float)
                ranked += [(values[r], table, r) for r in range(len(table)) if np.isfinite(values[r])]
        if not ranked:
            continue
        ranked.sort(key=lambda item: -item[0])
        rows = [[n + 1, int(t.keys[r]), t.label, _node_name(t, r), v] for n, (v, t, r) in enumerate(ranked[:TOP])]
        section.add(Table(["rank", "key", "label", "node", prop], rows, f"Top {TOP} by {prop}"))
    if not section.blocks:
        report.omit(
            title,
            f"no centrality is recorded on the nodes; run e.g. `graphstore analyze pagerank --graph {graph.graph_id}`.",
        )
        return
    report.sections.append(section)


GRAPH_SECTIONS.register(GraphSection("counts", "Counts", _counts, 10, every_graph=True))
GRAPH_SECTIONS.register(GraphSection("degrees", "Degree distribution", _degrees, 20, every_graph=True))
GRAPH_SECTIONS.register(GraphSection("weights", "Weight distribution", _weights, 30, every_graph=True))
GRAPH_SECTIONS.register(GraphSection("communities", "Communities", _communities, 40))
GRAPH_SECTIONS.register(GraphSection("class-tree", "Class tree", _class_tree, 50))
GRAPH_SECTIONS.register(GraphSection("class-graph", "Class graph", _class_graph, 60))
GRAPH_SECTIONS.register(GraphSection("knn-hubness", "kNN hubness", _hubness, 70))
GRAPH_SECTIONS.register(GraphSection("multilayer", "Multilayer delta per layer", _multilayer, 80))
GRAPH_SECTIONS.register(GraphSection("centrality", "Centrality top lists", _centrality, 90))


def _comparisons(report: Report, tracking: Tracking, graph_id: str) -> None:
    found = tracking.list_comparisons(graph_id)
    if not found:
        return
    rows = [[c.name, c.graph_a, c.graph_b, c.result.get("value")] for c in found]
    report.section("Comparisons").add(Table(["method", "graph A (reference)", "graph B", "value"], rows))
