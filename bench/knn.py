"""Exact L1 kNN: the project's faiss IndexFlat(METRIC_L1) search vs scikit-learn's brute-force manhattan.

    python -m bench.knn [--n 10000] [--dim 512] [--k 16] [--large 50000] [--anchor-n 10000]

1. N x dim latents (synthetic, clustered), k nearest others: graphstore.extract.knn.knn_search vs
   sklearn.neighbors.NearestNeighbors(algorithm="brute", metric="manhattan"), neighbours compared.
2. --large rows (default 50,000 x 512): time and peak RSS of our exact search plus the union graph (the whole
   process must stay well within 24 GiB; the 50k x 50k distance matrix alone would be 9.3 GiB in float32).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from bench.common import RssPeak, machine, peak_rss_mib, timed


def latents(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered non-negative vectors, like pooled post-ReLU features."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dim)).astype(np.float32)
    x = centres[rng.integers(0, 100, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return np.maximum(x, 0)


def main() -> None:
    from sklearn.neighbors import NearestNeighbors

    from graphstore.extract.knn import knn_search, union_edges

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--anchor-n", type=int, default=10000, help="rows the sklearn anchor queries (scaled)")
    args = parser.parse_args()
    print(machine(), f"load {os.getloadavg()[0]:.2f}")
    x = latents(args.n, args.dim)
    (dist, nbr), ours = timed(lambda: knn_search(x, args.k, "l1"))
    q = min(args.anchor_n, args.n)
    model = NearestNeighbors(n_neighbors=args.k + 1, algorithm="brute", metric="manhattan").fit(x)
    (_, ref), anchor = timed(lambda: model.kneighbors(x[:q]))
    scaled = anchor * args.n / q
    same = np.mean(nbr[:q] == ref[:, 1:])
    print(f"exact L1 kNN {args.n} x {args.dim}, k={args.k}: ours (faiss IndexFlat L1) {ours:.2f} s; "
          f"scikit-learn brute manhattan {anchor:.2f} s for {q} queries -> {scaled:.2f} s for {args.n}; "
          f"ratio {scaled / ours:.1f}x; same neighbours {same:.4f}")
    if args.large:
        big = latents(args.large, args.dim, seed=1)
        with RssPeak() as mem:
            (d2, n2), seconds = timed(lambda: knn_search(big, args.k, "l1"))
            a, *_ = union_edges(d2, n2, args.k)
        print(f"exact L1 kNN {args.large} x {args.dim}, k={args.k}: {seconds:.1f} s, {len(a)} union edges; "
              f"RSS +{mem.increase_mib:.0f} MiB during the search, process peak {peak_rss_mib() / 1024:.2f} GiB "
              f"(input {big.nbytes / 2**30:.2f} GiB)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
