"""50 stochastic class-hierarchy runs on a 1,418-node co-activation graph, wall time with both cores used.

    python -m bench.hierarchy [--runs 50] [--workers 2] [--serial-runs 10] [--method nsbm|louvain-levels]
    python -m bench.hierarchy --levers [--runs 4]    # graph-tool's levers, each on the same runs

The graph: conv6's 1,408 hidden units + 10 outputs with a planted class hierarchy (the Fashion-MNIST reference
tree), about 34,000 co-activation edges. Anchor: the same kind of runs one at a time (workers=1), --serial-runs of
them (default 10) scaled to --runs.

--levers fits the nested SBM `--runs` times per setting through nsbm_fits (one graph-tool process per worker) and
reports per setting: wall time, mean seconds per fit (inside graph-tool), description length, RF to the tree:
  default       graph-tool's minimize_nested_blockmodel_dl as the analysis runs it (000's method);
  sweeps-3      3 merge and 3 Metropolis sweeps per multilevel move instead of 10 (fewer sweeps per move);
  warm-start    each fit starts from the previous fit's hierarchy (init_bs): later fits converge sooner, but the
                runs are no longer independent draws, which is what 000's mean +- std over 50 runs measures;
  refine-10     default, then 10 zero-temperature multiflip MCMC sweeps (the usual polish: costs, may lower DL).
"""

from __future__ import annotations

import argparse
import functools
import time
from typing import Any

import numpy as np

from bench.common import load, machine, record, timed
from graphstore.analysis.base import undirected_igraph
from graphstore.analysis.hierarchy import HierarchyParams, class_tree, hierarchy_client, nsbm_fits, output_units
from graphstore.analysis.trees import reference_tree, robinson_foulds
from graphstore.graph import Graph

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PATH = {
    "T-shirt/top": (0, 0, 0),
    "Shirt": (0, 0, 0),
    "Pullover": (0, 0, 1),
    "Coat": (0, 0, 2),
    "Dress": (0, 1, 3),
    "Trouser": (0, 1, 4),
    "Sandal": (1, 2, 5),
    "Sneaker": (1, 2, 6),
    "Ankle boot": (1, 2, 7),
    "Bag": (2, 3, 8),
}


def coactivation_graph(hidden: int = 1408, seed: int = 0) -> Graph:
    """Hidden units assigned to classes, edge probability falling with tree distance; outputs last."""
    rng = np.random.default_rng(seed)
    owner = np.concatenate([rng.integers(0, 10, hidden), np.arange(10)])
    codes = np.array([PATH[FASHION[c]] + (c,) for c in owner])
    n = len(codes)
    same = [codes[:, None, d] == codes[None, :, d] for d in range(4)]
    p = np.where(same[3], 0.25, np.where(same[2], 0.08, np.where(same[1], 0.03, np.where(same[0], 0.01, 0.002))))
    src, dst = np.nonzero(np.triu(rng.random((n, n)) < p, k=1))
    names = np.full(n, None, dtype=object)
    names[hidden:] = FASHION
    graph = Graph("bench-hierarchy", "coactivation")
    graph.add_nodes("Neuron", np.arange(n), class_name=names)
    graph.add_edges("COACTIVATES", "Neuron", "Neuron", src, dst, directed=False, w=rng.uniform(0.2, 1.0, len(src)))
    return graph


LEVERS: dict[str, dict[str, Any]] = {
    "default": {},
    "sweeps-3": {"mh_sweeps": 3, "merge_sweeps": 3},
    "warm-start": {"warm_start": True},
    "refine-10": {"refine_sweeps": 10},
}


def levers(graph: Graph, runs: int, workers: int, names: list[str]) -> None:
    """Each lever on the same seeds: wall time, seconds per fit, description length, RF to the planted tree."""
    params = HierarchyParams(reference="fashion-mnist", runs=runs, workers=workers, method="nsbm")
    g = undirected_igraph(graph, params)
    rows, classes = output_units(graph)
    tree = reference_tree("fashion-mnist")
    for name in names:
        tic = time.perf_counter()
        fits = nsbm_fits(g, list(range(runs)), "weight", workers, LEVERS[name])
        wall = time.perf_counter() - tic
        rf = np.array([robinson_foulds(tree, class_tree(levels, rows, classes))[0] for levels, _, _ in fits])
        dl = np.array([d for _, d, _ in fits])
        per_fit = np.mean([s for _, _, s in fits])
        print(
            f"{name}: {runs} fits on {workers} workers {wall:.1f} s wall, {per_fit:.1f} s per fit; "
            f"DL {dl.mean():.1f} +- {dl.std():.1f}; RF {rf.mean():.2f} +- {rf.std(ddof=1) if runs > 1 else 0:.2f} "
            f"({rf.tolist()})",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--serial-runs",
        type=int,
        default=10,
        help="runs of the one-worker anchor, scaled to --runs (50 nested-SBM fits on one worker take about an hour)",
    )
    parser.add_argument(
        "--method",
        default="nsbm",
        choices=("nsbm", "louvain-levels"),
        help="nsbm needs Debian's python3-graph-tool (000's method); louvain-levels is always there",
    )
    parser.add_argument("--levers", nargs="*", choices=tuple(LEVERS), help="compare graph-tool's levers (all if none)")
    parser.add_argument("--quick", action="store_true", help="2 louvain-levels runs: checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.method = 2, "louvain-levels"
    before = load()
    print(f"machine: {machine()}")
    graph = coactivation_graph()
    print(f"graph: {graph.node_count:,} nodes, {graph.edge_count:,} edges")
    if args.levers is not None:
        levers(graph, args.runs, args.workers, args.levers or list(LEVERS))
        return
    runs = {args.workers: args.runs, 1: min(args.serial_runs, args.runs)}
    times = {}
    for workers, count in runs.items():
        params = HierarchyParams(reference="fashion-mnist", runs=count, workers=workers, method=args.method)
        result, seconds = timed(functools.partial(hierarchy_client, graph, params))
        s = result.summary
        times[f"workers{workers}_s"] = round(seconds, 3)
        print(
            f"{count} {args.method} runs, {workers} worker(s): {seconds:.1f} s ({seconds / count:.1f} s per run); "
            f"RF {s['rf_mean']:.2f} +- {s['rf_std']:.2f} (normalised {s['rf_normalised_mean']:.3f})"
        )
    serial = times["workers1_s"] / runs[1] * args.runs  # one worker, scaled to every run
    speedup = serial / times[f"workers{args.workers}_s"]
    print(
        f"{args.runs} runs on one worker, scaled from {runs[1]}: {serial:.1f} s; {args.workers} workers {speedup:.2f}x"
    )
    record(
        f"hierarchy.{args.method}",
        {f"workers{args.workers}_s": times[f"workers{args.workers}_s"]},
        {"workers1_s": times["workers1_s"], "workers1_runs": runs[1], "workers1_scaled_s": round(serial, 3)},
        None,
        {"workers1_scaled": round(speedup, 3)},
        before,
        size={"runs": args.runs, "nodes": graph.node_count, "edges": graph.edge_count},
        note="anchor: the same runs on one worker (scaled from workers1_runs)",
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
