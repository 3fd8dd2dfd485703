"""Class graph: chunked multi-source Dijkstra with per-class sums vs networkx all-pairs shortest paths (003).

    python -m bench.class_graph [--n 10000] [--classes 100] [--k 4] [--dim 64] [--chunk 256] [--anchor-sources 200]

Synthetic clustered latents (one cluster per class, overlapping), union L1 kNN graph (k=4), then
graphstore.extract.class_graph.class_distances (memory: chunk x N floats). Anchor: what 003 did - networkx
shortest paths from every source (`single_source_dijkstra_path_length` per node, as in
`all_pairs_dijkstra_path_length`), timed on `--anchor-sources` sources and scaled to N as a rate (an extra row:
the common habit). The strongest well-known way: scipy.sparse.csgraph.dijkstra from the same sources, folded into
per-class sums with np.bincount, on `--scipy-sources` sources (a longer window than networkx's, so the load
averages out more), timed by the same clocks (wall and CPU) and scaled to N the same way; the class sums of the two
anchors are checked against each other on networkx's sources.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import RssPeak, load, machine, peak_rss_mib, ratios, record, timed, timed2


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
    parser.add_argument("--anchor-sources", type=int, default=200, help="sources networkx runs (scaled to N)")
    parser.add_argument("--scipy-sources", type=int, default=2000, help="sources scipy runs (scaled to N)")
    parser.add_argument("--spread", type=float, default=0.3, help="class centre scale (small = overlapping classes)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds): checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.classes, args.dim, args.anchor_sources, args.scipy_sources = 600, 10, 16, 20, 40
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
        cd, ours, ours_cpu = timed2(lambda: class_distances(adj, labels, args.classes, args.chunk))
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

    scipy_sources = np.arange(min(args.scipy_sources, args.n))

    def scipy_anchor() -> np.ndarray:
        block = dijkstra(adj, directed=True, indices=scipy_sources)
        block[~np.isfinite(block)] = 0
        return np.array([np.bincount(labels, weights=row, minlength=args.classes) for row in block])

    per_source, scipy_s, scipy_cpu = timed2(scipy_anchor)
    check = per_source[: len(sources)].sum(0)
    scipy_s, scipy_cpu = scipy_s * len(sources) / len(scipy_sources), scipy_cpu * len(sources) / len(scipy_sources)
    scale = args.n / len(sources)
    scaled = {"scipy_dijkstra_scaled_s": scipy_s * scale, "networkx_dijkstra_scaled_s": anchor_s * scale}
    sp_all, nx_all = scaled.values()
    print(
        f"class graph {args.n} samples, {args.classes} classes, k={args.k} ({len(a)} edges): ours "
        f"{ours:.2f} s for class distances (chunk {args.chunk}, RSS +{mem.increase_mib:.0f} MiB, process peak "
        f"{peak_rss_mib():.0f} MiB; {ours_cpu:.2f} s CPU) + kNN {knn_s:.2f} s + class kNN {knn_c * 1000:.1f} ms\n"
        f"  scipy Dijkstra + bincount {scipy_s * scale:.2f} s scaled from {len(scipy_sources)} sources to "
        f"all {args.n}; ratio {sp_all / ours:.2f}x (CPU: {scipy_cpu * scale:.1f} s, "
        f"{scipy_cpu * scale / ours_cpu:.2f}x)\n"
        f"  networkx Dijkstra {anchor_s:.2f} s for {len(sources)} sources -> "
        f"{nx_all:.0f} s; ratio {nx_all / ours:.1f}x (extra row)\n"
        f"  disconnected sample pairs {int(cd.disconnected.sum())}; class sums agree: {np.allclose(ref, check)}"
    )
    record(
        "class_graph.class_distances",
        {
            "seconds": round(ours, 4),
            "cpu_s": round(ours_cpu, 4),
            "knn_s": round(knn_s, 4),
            "rss_mib": round(mem.increase_mib),
        },
        {
            **{name: round(t, 3) for name, t in scaled.items()},
            "scipy_dijkstra_scaled_cpu_s": round(scipy_cpu * scale, 3),
        },
        None,
        {
            **ratios(ours, {"scipy_dijkstra": sp_all, "networkx_dijkstra": nx_all}),
            "scipy_cpu": round(scipy_cpu * scale / ours_cpu, 3),
        },
        before,
        size={"n": args.n, "classes": args.classes, "k": args.k, "networkx_sources": len(sources)}
        | {"scipy_sources": len(scipy_sources)},
        quick=args.quick,
    )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
