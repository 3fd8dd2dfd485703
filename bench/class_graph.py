"""Class graph: chunked multi-source Dijkstra with per-class sums vs networkx all-pairs shortest paths (003).

    python -m bench.class_graph [--n 10000] [--classes 100] [--k 4] [--dim 64] [--chunk 256] [--anchor-sources 200]

Synthetic clustered latents (one cluster per class, overlapping), union L1 kNN graph (k=4), then
graphstore.extract.class_graph.class_distances (memory: chunk x N floats). Anchor: what 003 did - networkx
shortest paths from every source (`single_source_dijkstra_path_length` per node, as in
`all_pairs_dijkstra_path_length`), timed on `--anchor-sources` sources and scaled to N as a rate; the class sums of
those sources are checked against scipy's Dijkstra from the same sources.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from bench.common import RssPeak, machine, peak_rss_mib, timed


def main() -> None:
    import networkx as nx

    from graphstore.extract.class_graph import class_distances, class_knn, sample_graph
    from graphstore.extract.knn import knn_search, union_edges

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--anchor-sources", type=int, default=200)
    parser.add_argument("--spread", type=float, default=0.3, help="class centre scale (small = overlapping classes)")
    args = parser.parse_args()
    print(machine(), f"load {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, args.classes, args.n)
    centres = rng.standard_normal((args.classes, args.dim)).astype(np.float32) * args.spread
    x = centres[labels] + rng.standard_normal((args.n, args.dim)).astype(np.float32)
    (dist, nbr), knn_s = timed(lambda: knn_search(x, args.k, "l1"))
    a, b, d, _, _ = union_edges(dist, nbr, args.k)
    adj = sample_graph(args.n, a, b, d)
    with RssPeak() as mem:
        cd, ours = timed(lambda: class_distances(adj, labels, args.classes, args.chunk))
    edges, knn_c = timed(lambda: class_knn(cd.mean, 4))
    g = nx.Graph()
    g.add_nodes_from(range(args.n))
    g.add_weighted_edges_from(zip(a.tolist(), b.tolist(), np.maximum(d, 1e-12).tolist(), strict=True))
    sources = np.arange(args.anchor_sources)

    def anchor() -> np.ndarray:
        sums = np.zeros(args.classes)
        for s in sources.tolist():
            lengths = nx.single_source_dijkstra_path_length(g, s)
            sums += np.bincount(labels[list(lengths)], weights=list(lengths.values()), minlength=args.classes)
        return sums

    ref, anchor_s = timed(anchor)
    from scipy.sparse.csgraph import dijkstra

    block = dijkstra(adj, directed=True, indices=sources)
    block[~np.isfinite(block)] = 0
    check = np.array([np.bincount(labels, weights=row, minlength=args.classes) for row in block]).sum(0)
    scaled = anchor_s * args.n / len(sources)
    print(
        f"class graph {args.n} samples, {args.classes} classes, k={args.k} ({len(a)} edges): ours "
        f"{ours:.2f} s for class distances (chunk {args.chunk}, RSS +{mem.increase_mib:.0f} MiB, process peak "
        f"{peak_rss_mib():.0f} MiB) + kNN search {knn_s:.2f} s + class kNN {knn_c * 1000:.1f} ms; networkx "
        f"Dijkstra {anchor_s:.2f} s for {len(sources)} sources -> {scaled:.0f} s for all {args.n}; ratio "
        f"{scaled / ours:.1f}x; disconnected sample pairs {int(cd.disconnected.sum())}; "
        f"class sums agree: {np.allclose(ref, check)}"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
