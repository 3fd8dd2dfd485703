"""Class hierarchies from nested partitions of a co-activation graph (docs/METHODS.md D, after 000), compared by RF.

A nested partition is a list of memberships, finest level first, each level coarser than the one below. The
class tree follows every output neuron's block upward; levels that do not change the grouping of the output
neurons are dropped; each remaining (level, block) is a tree node labelled by its class set (equal sets kept once,
at the lowest level); a node's parent is its minimal proper superset; classes not covered by a node's children
become single-class leaves.

Nested partitions come from graph-tool's nested SBM when it is installed (degree-corrected, real-exponential edge
covariate, as 000; Debian's python3-graph-tool runs in the system Python through nsbm_worker.py) or, always
available, from Louvain's level hierarchy (igraph multilevel, stochastic by seed). `method=auto` (the default)
takes the nested SBM wherever graph-tool imports and otherwise falls back to Louvain levels, saying so in the
summary (`engine`, `fallback`) that the tracking DB records.

The input is the neuron graph only (docs/METHODS.md D): :Neuron nodes and the relationships between them
(COACTIVATES, or WEIGHT for weight graphs); :Class nodes and REPRESENTS edges are not part of 000's graph.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphstore.analysis.base import (
    ANALYSES,
    AnalysisError,
    AnalysisResult,
    AnalysisSpec,
    Projection,
    igraph_seeded,
    invalid,
    per_label,
    undirected_igraph,
)
from graphstore.analysis.trees import check_leaves, newick_label, reference_tree, robinson_foulds
from graphstore.graph import EdgeTable, Graph, NodeTable

METHODS = ("auto", "nsbm", "louvain-levels")
ENGINES = {"nsbm": "graph-tool nested SBM", "louvain-levels": "igraph Louvain levels"}
FALLBACK = "graph-tool not importable"
NEURON = "Neuron"


@dataclass
class HierarchyParams(Projection):
    """Class hierarchy of a co-activation graph, compared with a reference tree over repeated stochastic runs."""

    weight: str = field(default="w", metadata={"help": "Edge property used as weight (co-activation: w)."})
    method: str = field(
        default="auto",
        metadata={
            "help": "Nested partition: auto (nsbm where graph-tool imports, else louvain-levels, said in the "
            "result), nsbm (graph-tool's nested SBM, 000's method) or louvain-levels (igraph, always installed).",
            "choices": METHODS,
        },
    )
    reference: str = field(
        default="",
        metadata={
            "help": "Reference tree: fashion-mnist, cifar20, a Newick file or string (default: none, no RF).",
        },
    )
    runs: int = field(default=50, metadata={"help": "Stochastic runs (RF mean and sample std over them)."})
    seed: int = field(default=0, metadata={"help": "Seed of the first run (run i uses seed + i)."})
    workers: int = field(default=0, metadata={"help": "Parallel processes (0 = all cores)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in METHODS:
            raise invalid("method", self.method, f"be one of {', '.join(METHODS)}")
        if self.runs < 1:
            raise invalid("runs", self.runs, "be at least 1")
        if self.seed < 0:
            raise invalid("seed", self.seed, "be 0 or positive")
        if self.workers < 0:
            raise invalid("workers", self.workers, "be 0 (all cores) or a positive number of processes")


def louvain_levels(g: Any, seed: int, weights: str | None) -> list[np.ndarray]:
    """Louvain's nested levels (finest first) plus a root level joining everything."""
    with igraph_seeded(seed):
        levels = g.community_multilevel(weights=weights, return_levels=True) if g.ecount() else []
    out = [np.asarray(level.membership, dtype=np.int64) for level in levels]
    out.append(np.zeros(g.vcount(), dtype=np.int64))
    return out


@functools.cache
def graph_tool_python() -> str | None:
    """An interpreter that imports graph_tool: $GRAPHSTORE_GRAPH_TOOL_PYTHON, this one, or the system python3
    (probed once per process)."""
    candidates = [
        os.environ.get("GRAPHSTORE_GRAPH_TOOL_PYTHON"),
        sys.executable,
        shutil.which("python3"),
        "/usr/bin/python3",
    ]
    for python in dict.fromkeys(c for c in candidates if c):
        probe = subprocess.run([python, "-c", "import graph_tool.all"], capture_output=True, timeout=120)
        if probe.returncode == 0:
            return python
    return None


def nsbm_fits(
    g: Any, seeds: list[int], weights: str | None, workers: int = 1, options: dict[str, Any] | None = None
) -> list[tuple[list[np.ndarray], float, float]]:
    """graph-tool's nested SBM once per seed: (levels projected onto the vertices, finest first, plus a root level;
    description length; seconds). The seeds are shared out over `workers` processes of the graph-tool Python, each
    importing graph-tool once (the import costs seconds; a small graph's fit costs less). `options` go to
    nsbm_worker.fit (bench/hierarchy.py's levers; the default is graph-tool's own settings, 000's method)."""
    python = graph_tool_python()
    if python is None:
        raise AnalysisError(
            "graph-tool is not installed, so the nested SBM is not available.",
            "Install Debian's python3-graph-tool (`apt-get install python3-graph-tool`; graphstore "
            "runs it with the system python3, or set GRAPHSTORE_GRAPH_TOOL_PYTHON), or use "
            "--method louvain-levels (installed).",
        )
    edges = np.asarray(g.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    weight = np.asarray(g.es[weights], dtype=float) if weights else np.empty(0)
    worker = Path(__file__).with_name("nsbm_worker.py")
    chunks = [c for c in np.array_split(np.asarray(seeds, dtype=np.int64), max(1, min(workers, len(seeds)))) if len(c)]
    fits: list[tuple[list[np.ndarray], float, float]] = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one core per worker process: the workers are the parallelism
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for k, chunk in enumerate(chunks):
            np.savez(
                f"{tmp}/in{k}.npz",
                n=g.vcount(),
                src=edges[:, 0],
                dst=edges[:, 1],
                weight=weight,
                seeds=chunk,
                options=json.dumps(options or {}),
            )
            command = [python, str(worker), f"{tmp}/in{k}.npz", f"{tmp}/out{k}.npz"]
            procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        errors = [proc.communicate()[1] for proc in procs]
        for k, (proc, chunk) in enumerate(zip(procs, chunks, strict=True)):
            if proc.returncode:
                raise AnalysisError(f"graph-tool's nested SBM failed: {errors[k].strip()[-800:]}")
            out = np.load(f"{tmp}/out{k}.npz")
            for i in range(len(chunk)):
                levels = list(out[f"levels_{i}"].astype(np.int64))
                if len(np.unique(levels[-1])) > 1:
                    levels.append(np.zeros(g.vcount(), dtype=np.int64))
                fits.append((levels, float(out[f"dl_{i}"]), float(out[f"seconds_{i}"])))
    return fits


def nsbm_levels(g: Any, seed: int, weights: str | None) -> list[np.ndarray]:
    """graph-tool's nested SBM levels projected onto the vertices (finest first), plus a root level."""
    return nsbm_fits(g, [seed], weights)[0][0]


def class_tree(levels: list[np.ndarray], output_rows: np.ndarray, class_names: list[str]) -> str:
    """The Newick class tree of a nested partition (rows of output neurons and their class names)."""
    sets: list[frozenset[str]] = []
    previous = None
    for membership in levels:
        blocks = membership[output_rows]
        grouping = tuple(np.unique(blocks, return_inverse=True)[1].tolist())
        if grouping == previous:
            continue
        previous = grouping
        for block in np.unique(blocks):
            members = frozenset(np.asarray(class_names, dtype=object)[blocks == block].tolist())
            if members not in sets:
                sets.append(members)
    everything = frozenset(class_names)
    if everything not in sets:
        sets.append(everything)
    return _newick(everything, sets) + ";"


def _newick(node: frozenset[str], sets: list[frozenset[str]]) -> str:
    """Children = maximal proper subsets among the sets; uncovered classes become leaves."""
    subsets = [s for s in sets if s < node]
    children = [s for s in subsets if not any(s < other for other in subsets)]
    covered = frozenset().union(*children) if children else frozenset()
    parts = [_newick(child, sets) if len(child) > 1 else newick_label(next(iter(child))) for child in children]
    parts += [newick_label(name) for name in sorted(node - covered)]
    if len(parts) == 1:
        return parts[0]
    return "(" + ",".join(sorted(parts)) + ")"


def output_units(graph: Graph) -> tuple[np.ndarray, list[str]]:
    """Rows (node_index order) and class names of the output neurons."""
    keys, labels = graph.node_index()
    table = graph.nodes.get("Neuron")
    if table is None or "class_name" not in table.props:
        raise AnalysisError(
            f"Graph {graph.graph_id} has no output neurons with class names.",
            "The hierarchy takes co-activation (or weight) graphs made by `graphstore ingest`.",
        )
    names = table.props["class_name"]
    has_class = np.asarray([n is not None and n == n for n in names])
    out_keys = table.keys[has_class]
    rows = np.flatnonzero((labels == "Neuron") & np.isin(keys, out_keys))
    order = np.argsort(keys[rows])
    by_key = dict(zip(table.keys[has_class].tolist(), names[has_class].tolist(), strict=True))
    rows = rows[order]
    return rows, [str(by_key[int(k)]) for k in keys[rows]]


def resolve_method(method: str) -> tuple[str, str | None]:
    """(method actually run, why it is a fallback or None): auto is nsbm where graph-tool imports."""
    if method != "auto":
        return method, None
    if graph_tool_python() is not None:
        return "nsbm", None
    return "louvain-levels", FALLBACK


def neuron_graph(graph: Graph) -> Graph:
    """The :Neuron nodes and the relationships between two neurons only (no :Class nodes, no REPRESENTS)."""
    if NEURON not in graph.nodes:
        raise AnalysisError(
            f"Graph {graph.graph_id} has no :Neuron nodes.",
            "The hierarchy takes co-activation (or weight) graphs made by `graphstore ingest`.",
        )
    out = Graph(graph.graph_id, graph.kind, params=dict(graph.params))
    out.nodes[NEURON] = sorted_nodes(graph.nodes[NEURON])
    between = sorted(t for t, e in graph.edges.items() if e.src_label == NEURON and e.dst_label == NEURON)
    out.edges = {t: sorted_edges(graph.edges[t]) for t in between}
    return out


def sorted_nodes(table: NodeTable) -> NodeTable:
    """The rows by key: the fit's vertex order is the graph's, not the order a store returned the rows in."""
    order = np.argsort(table.keys, kind="stable")
    return NodeTable(table.label, table.keys[order], {k: v[order] for k, v in table.props.items()})


def sorted_edges(table: EdgeTable) -> EdgeTable:
    """Each relationship as (lower key, higher key), rows by those keys then the properties: the fit reads the
    graph undirected, and its result depends on the edge order (the same seed on a reordered graph differs)."""
    low, high = np.minimum(table.src, table.dst), np.maximum(table.src, table.dst)
    numeric = [v for _, v in sorted(table.props.items()) if np.issubdtype(v.dtype, np.number)]
    order = np.lexsort([*reversed(numeric), high, low])
    props = {k: v[order] for k, v in table.props.items()}
    return EdgeTable(table.type, table.src_label, table.dst_label, low[order], high[order], props, table.directed)


def _one_run(args: tuple) -> tuple[str, list[np.ndarray]]:
    """One Louvain-levels run (the nested SBM runs in batches through nsbm_fits)."""
    graph, params, seed = args
    g = undirected_igraph(graph, params)
    levels = louvain_levels(g, seed, "weight" if params.weight else None)
    rows, names = output_units(graph)
    return class_tree(levels, rows, names), levels


def stochastic_runs(graph: Graph, params: HierarchyParams, method: str) -> list[tuple[str, list[np.ndarray]]]:
    """(class tree, levels) of each run, seeds seed .. seed + runs - 1, spread over the workers."""
    seeds = [params.seed + i for i in range(params.runs)]
    workers = params.workers or os.cpu_count() or 1
    if method == "nsbm":
        rows, names = output_units(graph)
        g = undirected_igraph(graph, params)
        fits = nsbm_fits(g, seeds, "weight" if params.weight else None, workers)
        return [(class_tree(levels, rows, names), levels) for levels, _, _ in fits]
    jobs = [(graph, params, seed) for seed in seeds]
    if workers > 1 and params.runs > 1:
        with ProcessPoolExecutor(max_workers=min(workers, params.runs)) as pool:
            return list(pool.map(_one_run, jobs))
    return [_one_run(job) for job in jobs]


def hierarchy_client(graph: Graph, params: HierarchyParams) -> AnalysisResult:
    """Repeated runs in parallel on the neuron graph; RF mean and sample std against the reference; levels of run 0
    as properties of the neurons. The summary names the method run and, for auto without graph-tool, the fallback."""
    graph = neuron_graph(graph)
    _, names = output_units(graph)
    reference = reference_tree(params.reference) if params.reference else None
    if reference:
        check_leaves(reference, names)
    method, fallback = resolve_method(params.method)
    results = stochastic_runs(graph, params, method)
    trees = [tree for tree, _ in results]
    summary: dict[str, Any] = {
        "runs": params.runs,
        "method": method,
        "engine": ENGINES[method] + (f" (fallback: {fallback})" if fallback else ""),
        "trees": trees,
        "levels": len(results[0][1]),
        "nodes": graph.node_count,
        "edges": graph.edge_count,
    }
    if fallback:
        summary["fallback"] = fallback
    if reference:
        rf = np.array([robinson_foulds(reference, tree) for tree in trees], dtype=float)
        summary |= {
            "reference": reference,
            "rf": rf[:, 0].tolist(),
            "rf_mean": float(rf[:, 0].mean()),
            "rf_std": float(rf[:, 0].std(ddof=1)) if len(rf) > 1 else 0.0,
            "rf_normalised_mean": float(rf[:, 1].mean()),
        }
    levels = results[0][1]
    columns = {f"hierarchy_l{i}": level for i, level in enumerate(levels)}
    tree = community_graph(f"{graph.graph_id}-hierarchy", levels, graph, params, method)
    summary["community_graph"] = tree.graph_id
    return AnalysisResult(per_label(graph, columns), summary, [tree])


def community_graph(
    graph_id: str, levels: list[np.ndarray], graph: Graph, params: HierarchyParams, method: str = ""
) -> Graph:
    """The nested partition of run 0 as :Community nodes (level, block, size, classes comma-joined for reading and as
    a JSON list in class_list) with PARENT links upward.

    `graph` is the neuron graph the levels were computed on (node_index order); a neuron belongs to the community
    (level l, block b) when its `hierarchy_l<l>` is b. `method` is the method run (default: params.method).
    """
    method = method or params.method
    rows, names = output_units(graph)
    class_of = np.full(graph.node_count, "", dtype=object)
    class_of[rows] = names
    keys, level_col, block_col, size_col, classes_col, parent_src, parent_dst = [], [], [], [], [], [], []
    class_list_col: list[np.ndarray] = []  # the same names as a JSON list: a class name may hold a comma
    offset = 0
    for depth, membership in enumerate(levels):
        blocks, sizes = np.unique(membership, return_counts=True)
        block_keys = offset + np.arange(len(blocks))
        keys.append(block_keys)
        level_col.append(np.full(len(blocks), depth))
        block_col.append(blocks)
        size_col.append(sizes)
        held = [sorted(c for c in class_of[membership == b] if c) for b in blocks]
        classes_col.append(np.array([",".join(names) for names in held], dtype=object))
        class_list_col.append(np.array([json.dumps(names) if names else "" for names in held], dtype=object))
        if depth + 1 < len(levels):
            above = levels[depth + 1]
            parents = np.array([above[np.flatnonzero(membership == b)[0]] for b in blocks])
            upper_blocks = np.unique(above)
            parent_src.append(block_keys)
            parent_dst.append(offset + len(blocks) + np.searchsorted(upper_blocks, parents))
        offset += len(blocks)
    tree = Graph(graph_id, "hierarchy", params={"source_graph": graph.graph_id, "method": method, "seed": params.seed})
    tree.add_nodes(
        "Community",
        np.concatenate(keys),
        algorithm=method,
        level=np.concatenate(level_col),
        block=np.concatenate(block_col),
        size=np.concatenate(size_col),
        classes=np.concatenate(classes_col),
        class_list=np.concatenate(class_list_col),
    )
    if parent_src:
        tree.add_edges("PARENT", "Community", "Community", np.concatenate(parent_src), np.concatenate(parent_dst))
    return tree


ANALYSES.register(
    AnalysisSpec(
        "hierarchy",
        HierarchyParams,
        hierarchy_client,
        kinds=("coactivation", "weights"),
        report="class-tree",
        summary="Class hierarchy (nested partition -> class tree) and Robinson-Foulds vs a reference.",
    )
)
