"""MST + neural persistence of vgg16's first FC layer at 224 input (25,088 x 4,096, random normal weights).

    python -m bench.topology [--rows 25088] [--cols 4096] [--scipy-slice]

Ours: graphstore.analysis.mst (dense bipartite Prim on the matrix, no edge list). Anchor: scipy.sparse.csgraph.
minimum_spanning_tree on the same weights as a bipartite sparse graph with negated |w| (Kruskal on an edge list).
scipy on the full 102.8M-edge layer takes ~33 s and +3.5 GiB here; --scipy-slice runs it (and ours, for a
like-for-like ratio) on the 12,544 x 2,048 top-left block instead.
Memory: RSS increase over each call (sampled every 10 ms), the weights themselves excluded.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

from bench.common import RssPeak, load, machine, ratios, record, timed
from graphstore.analysis.mst import maximum_spanning_forest, neural_persistence


def ours(w: np.ndarray) -> tuple[float, float, int]:
    """(total MST weight, NP_2, edges) via the dense Prim."""
    out, inp = maximum_spanning_forest(w)
    mag = np.abs(w[out, inp]).astype(np.float64)
    return float(mag.sum()), neural_persistence(mag / np.abs(w).max())[0], len(out)


def anchor(w: np.ndarray) -> tuple[float, float, int]:
    """(total MST weight, NP_2, edges) via scipy's minimum_spanning_tree on negated |w| (bipartite graph)."""
    m, n = w.shape
    rows = np.repeat(np.arange(n, n + m, dtype=np.int32), n)
    cols = np.tile(np.arange(n, dtype=np.int32), m)
    graph = coo_matrix((-np.abs(w).astype(np.float64).reshape(-1), (rows, cols)), shape=(n + m, n + m)).tocsr()
    del rows, cols
    tree = minimum_spanning_tree(graph).tocoo()
    mag = -tree.data
    return float(mag.sum()), neural_persistence(mag / np.abs(w).max())[0], tree.nnz


def run(label: str, fn, w: np.ndarray) -> tuple[float, float]:
    """Time one call with its RSS increase; print and return (seconds, total weight)."""
    with RssPeak() as mem:
        (total, np2, edges), seconds = timed(lambda: fn(w))
    print(
        f"{label:<34} {w.shape[1]:>6} x {w.shape[0]:<5} {seconds:8.2f} s  +{mem.increase_mib / 1024:5.2f} GiB  "
        f"edges {edges}  total {total:.6f}  NP {np2:.6f}"
    )
    return seconds, total


def main() -> None:
    """Ours on the full layer, then ours and scipy on the same input (the full layer, or the slice)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=25_088)
    parser.add_argument("--cols", type=int, default=4_096)
    parser.add_argument("--scipy-slice", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds): checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.cols = 400, 100
    before = load()
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.2f}")
    w = np.random.default_rng(0).standard_normal((args.cols, args.rows), dtype=np.float32)  # (out, in)
    full, _ = run("ours (dense Prim), full layer", ours, w)
    piece = np.ascontiguousarray(w[: args.cols // 2, : args.rows // 2]) if args.scipy_slice else w
    ours_s, ours_total = run("ours (dense Prim), scipy's input", ours, piece)
    scipy_s, scipy_total = run("anchor (scipy Kruskal)", anchor, piece)
    print(
        f"same total weight: {np.isclose(ours_total, scipy_total, rtol=1e-9)}; "
        f"speed-up on scipy's input {scipy_s / ours_s:.1f}x; full layer {full:.2f} s"
    )
    record(
        "topology.mst_np" + ("_slice" if args.scipy_slice else ""),
        {"seconds": round(ours_s, 4), "full_layer_s": round(full, 4)},
        {"scipy_minimum_spanning_tree_s": round(scipy_s, 4)},
        None,
        ratios(ours_s, {"scipy": scipy_s}),
        before,
        size={"rows": piece.shape[1], "cols": piece.shape[0]},
        same_total=bool(np.isclose(ours_total, scipy_total, rtol=1e-9)),
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
