"""`hierarchy-runs` (000): repeated stochastic class-hierarchy fits of one co-activation graph, one cell per seed.

000 fits the nested SBM 50 times per checkpoint and reports RF mean ± std. `analyze hierarchy --runs 50` does that
on one machine; as an experiment, each run is a cell, so `--executor ray` spreads the runs over a cluster and
`--resume` keeps the runs already done. The graph is a stored graph id or a graph file (`graphstore extract`'s
Parquet folder), which every worker can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphstore.analysis.hierarchy import METHODS, HierarchyParams, hierarchy_client
from graphstore.errors import GraphNotFound, GraphstoreError
from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.graph import Graph

MISSING_GRAPH = (
    "Give a stored graph (--set graph=ID; `graphstore store list`) or a file (--set graph=, --set graph_file=PATH); "
    "the smoke scale's graph comes from `graphstore demo --model mlp --dataset planted-tree --prefix planted`."
)


@dataclass(frozen=True)
class HierarchyRunsParams:
    """One stochastic class-hierarchy fit of a co-activation graph (a seed), with its RF to the reference."""

    graph: str = field(default="", metadata={"help": "Stored co-activation graph id (or use graph_file)."})
    graph_file: str = field(default="", metadata={"help": "A graph file from `graphstore extract` (Parquet)."})
    seed: int = field(default=0, metadata={"help": "Seed of this run."})
    method: str = field(default="auto", metadata={"help": "auto, nsbm (000's) or louvain-levels.", "choices": METHODS})
    reference: str = field(
        default="", metadata={"help": "Reference tree (fashion-mnist, cifar20, planted-tree[:DEPTH], Newick)."}
    )
    weight: str = field(default="w", metadata={"help": "Edge weight property (co-activation: w)."})

    def __post_init__(self) -> None:
        if bool(self.graph) == bool(self.graph_file):
            raise ValueError("give exactly one of graph (a stored graph id) and graph_file (a graph file)")


def load(ctx: CellContext, p: HierarchyRunsParams) -> Any:
    """The graph of the cell: read from the configured store, or from the file."""
    if p.graph_file:
        from graphstore.extract.files import read_parquet  # deferred: pyarrow, only for files

        path = Path(p.graph_file)
        if not path.exists():
            raise GraphstoreError(f"Graph file {path} does not exist.", "Write it with `graphstore extract`.")
        return read_parquet(path)
    try:
        with ctx.job.open_store() as store:
            return store.read_graph(p.graph)
    except GraphNotFound as e:
        raise GraphNotFound(e.message, f"{e.hint or ''} {MISSING_GRAPH}".strip()) from None


def lowest_blocks(tree: Graph) -> dict[str, int]:
    """The fit's finest-level communities and how many hold no output neuron (000 section 4.3.2: 13 communities
    for 10 classes, "there exist clusters with no output nodes in them")."""
    table = tree.nodes["Community"]
    finest = [c for level, c in zip(table.props["level"], table.props["classes"], strict=True) if level == 0]
    return {"blocks": len(finest), "free_blocks": sum(1 for classes in finest if not classes)}


def run_cell(ctx: CellContext, p: HierarchyRunsParams) -> None:
    """Fit once with this cell's seed; record the tree, its RF and what ran."""
    graph = load(ctx, p)
    params = HierarchyParams(weight=p.weight, method=p.method, reference=p.reference, runs=1, seed=p.seed, workers=1)
    result = hierarchy_client(graph, params)
    summary = result.summary
    row: dict[str, Any] = {
        "tree": summary["trees"][0],
        "method": summary["method"],
        "engine": summary["engine"],
        "levels": summary["levels"],
        "nodes": summary["nodes"],
        **lowest_blocks(result.graphs[0]),
    }
    if "rf" in summary:
        row |= {"rf": summary["rf"][0], "rf_normalised": summary["rf_normalised_mean"]}
    ctx.record("runs", **row)


PIPELINE = PIPELINES.register(Pipeline("hierarchy-runs", HierarchyRunsParams, run_cell))
