"""Class graph: chunked multi-source Dijkstra with per-class sums vs networkx all-pairs shortest paths (003).

    python -m bench.class_graph [--n 10000] [--classes 100] [--k 4] [--dim 64] [--chunk 256] [--anchor-sources 200]

Synthetic clustered latents (one cluster per class, overlapping), union L1 kNN graph (k=4), then
graphstore.extract.class_graph.class_distances (memory: chunk x N floats). Anchor: what 003 did - networkx
shortest paths from every source (`single_source_dijkstra_path_length` per node, as in
`all_pairs_dijkstra_path_length`), timed on `--anchor-sources` sources and scaled to N as a rate (an extra row:
the common habit). The strongest well-known way: scipy.sparse.csgraph.dijkstra from the same sources, folded into
per-class sums with np.bincount, timed by the same clock and scaled to N the same way; the class sums of the two
anchors are checked against each other.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import RssPeak, load, machine, peak_rss_mib, ratios, record, timed


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
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds): checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.classes, args.dim, args.anchor_sources = 600, 10, 16, 20
    before = load()
    print(machine(), f"load {before}")
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

    def scipy_anchor() -> np.ndarray:
        block = dijkstra(adj, directed=True, indices=sources)
        block[~np.isfinite(block)] = 0
        return np.array([np.bincount(labels, weights=row, minlength=args.classes) for row in block]).sum(0)

    check, scipy_s = timed(scipy_anchor)
    scale = args.n / len(sources)
    scaled = {"scipy_dijkstra_scaled_s": scipy_s * scale, "networkx_dijkstra_scaled_s": anchor_s * scale}
    sp_all, nx_all = scaled.values()
    print(
        f"class graph {args.n} samples, {args.classes} classes, k={args.k} ({len(a)} edges): ours "
        f"{ours:.2f} s for class distances (chunk {args.chunk}, RSS +{mem.increase_mib:.0f} MiB, process peak "
        f"{peak_rss_mib():.0f} MiB) + kNN search {knn_s:.2f} s + class kNN {knn_c * 1000:.1f} ms\n"
        f"  scipy Dijkstra + bincount {scipy_s:.2f} s for {len(sources)} sources -> "
        f"{sp_all:.1f} s for all {args.n}; ratio {sp_all / ours:.2f}x\n"
        f"  networkx Dijkstra {anchor_s:.2f} s for {len(sources)} sources -> "
        f"{nx_all:.0f} s; ratio {nx_all / ours:.1f}x (extra row)\n"
        f"  disconnected sample pairs {int(cd.disconnected.sum())}; class sums agree: {np.allclose(ref, check)}"
    )
    record(
        "class_graph.class_distances",
        {"seconds": round(ours, 4), "knn_s": round(knn_s, 4), "rss_increase_mib": round(mem.increase_mib)},
        {name: round(t, 3) for name, t in scaled.items()},
        None,
        ratios(ours, scaled),
        before,
        size={"n": args.n, "classes": args.classes, "k": args.k, "dim": args.dim, "anchor_sources": len(sources)},
        quick=args.quick,
    )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
