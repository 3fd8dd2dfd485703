"""The hierarchy graph (graphstore.analysis.hierarchy's :Community nodes joined by PARENT, one level up each) drawn
as its tree: the top level at the left, each level a column, the class names as the leaves at the right, each
hanging from the finest community that holds its output neuron.

Communities that hold no output neuron (no classes) carry no class name to show and are left out, with their count
said under the figure. A section registered in GRAPH_SECTIONS for every graph; other graphs say why.
"""

from __future__ import annotations

import json

import numpy as np

from graphstore.analysis.trees import newick_label
from graphstore.graph import Graph
from graphstore.graph_data import NodeTable
from graphstore.report.document import Code, Report, Text
from graphstore.report.figures import clade_figure
from graphstore.report.graphs import GRAPH_SECTIONS, Declared, GraphSection
from graphstore.report.newick import Clade
from graphstore.tracking import AnalysisRecord

TITLE = "Hierarchy tree"


def community_classes(table: NodeTable) -> list[list[str]]:
    """Each community's class names: the JSON list `class_list` where the graph has it (a name may hold a comma),
    else the comma-joined `classes` of hierarchy graphs written before it."""
    if "class_list" in table.props:
        return [json.loads(v) if isinstance(v, str) and v else [] for v in table.props["class_list"]]
    return [v.split(",") if isinstance(v, str) and v else [] for v in table.props["classes"]]


def hierarchy_clade(keys: np.ndarray, level: np.ndarray, classes: list[list[str]], parent: dict[int, int]) -> Clade:
    """The tree of the communities that hold classes: each one's children are those whose PARENT it is; the finest
    (level 0) communities get their class names as leaves. `parent` maps a community key to its parent's key."""
    holds = {int(k): c for k, c in zip(keys.tolist(), classes, strict=True) if c}
    finest = int(level.min())
    nodes = {k: Clade() for k in holds}
    for key, clade in nodes.items():
        up = parent.get(key)
        if up is not None and up in nodes:
            nodes[up].children.append(clade)
    for key, lvl in zip(keys.tolist(), level.tolist(), strict=True):
        if int(lvl) == finest and key in holds:
            nodes[key].children = [Clade(name) for name in sorted(holds[key])]
    roots = [nodes[k] for k in nodes if parent.get(k) not in nodes]
    return roots[0] if len(roots) == 1 else Clade("joined", roots)


def to_newick(clade: Clade) -> str:
    """A clade as Newick (no lengths, no inner labels)."""
    if not clade.children:
        return newick_label(clade.name)
    return "(" + ",".join(to_newick(c) for c in clade.children) + ")"


def _hierarchy(report: Report, graph: Graph, analyses: list[AnalysisRecord], declared: Declared) -> None:
    """The community hierarchy as a tree with class names, its Newick, and what was left out."""
    table, parents = graph.nodes.get("Community"), graph.edges.get("PARENT")
    needed = ("level", "classes")
    if table is None or parents is None or any(p not in table.props for p in needed):
        report.omit(
            TITLE, f"drawn for hierarchy graphs (:Community nodes joined by PARENT); this is a {graph.kind} graph."
        )
        return
    classes = community_classes(table)
    level = np.asarray(table.props["level"], dtype=np.int64)
    parent = dict(zip(parents.src.tolist(), parents.dst.tolist(), strict=True))
    if not any(classes):
        report.omit(TITLE, "no community holds an output neuron, so there are no class names to hang the tree on.")
        return
    root = hierarchy_clade(table.keys, level, classes, parent)
    top = int(level.max())
    ticks = [f"level {lvl}" for lvl in range(top, int(level.min()) - 1, -1)] + ["classes"]
    if root.name == "joined":  # several top communities: a node joins them left of the top level
        ticks, root.name = ["(joined)", *ticks], ""
    caption = f"Hierarchy of {graph.params.get('source_graph', graph.graph_id)}: levels {top} (left) to 0, classes"
    figure = clade_figure(f"{graph.graph_id}-hierarchy-tree", caption, root, "level of the nested partition", ticks)
    section = report.section(TITLE).add(figure, Code(to_newick(root) + ";", "As Newick:"))
    left_out = sum(1 for c in classes if not c)
    section.add(Text(f"{len(classes) - left_out} of {len(classes)} communities hold an output neuron and are drawn; "
                     f"{left_out} hold only hidden neurons."))  # fmt: skip


GRAPH_SECTIONS.register(GraphSection("hierarchy-tree", TITLE, _hierarchy, 52, every_graph=True))
