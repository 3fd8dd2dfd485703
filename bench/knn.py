"""Exact L1 kNN: the project's kernel (graphstore.extract.l1_topk) vs faiss IndexFlat(METRIC_L1), scikit-learn's
brute-force manhattan and the arithmetic floor of this machine.

    python -m bench.knn [--n 10000] [--dim 512] [--k 16] [--anchor-n 2000] [--large 50000]

1. N x dim float32 latents (synthetic, clustered), k nearest others, all on the same input: ours
   (graphstore.extract.knn.knn_search, metric l1), faiss IndexFlat L1, scikit-learn
   NearestNeighbors(algorithm="brute", metric="manhattan") on --anchor-n queries scaled to N, and the floor.
   Neighbours are compared. Each time is given as wall seconds and CPU seconds (all threads): on a shared machine
   the wall time depends on the load, the CPU time much less, so the ratios are given for both.
2. The floor: N^2 x dim absolute-difference-adds (every ordered pair, as faiss and scikit-learn compute them) at
   one abs-diff-add per float32 lane per cycle on every core: lanes = 8 for a 256-bit data path (AVX2; also
   AVX-512 on AMD Zen 4, which runs 512-bit operations as two 256-bit halves), the clock from /proc/cpuinfo.
   Our kernel computes each unordered pair once, so it can go below this floor.
3. --large rows (default 50,000 x 512): our time and the RSS increase during the search (bounded by the
   candidate lists, threads x N x (k + 4), not by N^2: the 50k x 50k distances alone would be 9.3 GiB).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import RssPeak, machine, peak_rss_mib


def latents(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered non-negative vectors, like pooled post-ReLU features."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dim)).astype(np.float32)
    x = centres[rng.integers(0, 100, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return np.maximum(x, 0)


def timed2(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def cpu_model() -> tuple[int, float, int, str]:
    """(cores, clock GHz, float32 lanes of one abs-diff-add per cycle, how the lanes were chosen) from /proc/cpuinfo."""
    cores = len(os.sched_getaffinity(0))
    mhz, flags, vendor = 0.0, set(), ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "cpu MHz" and not mhz:
                mhz = float(value)
            elif key == "flags" and not flags:
                flags = set(value.split())
            elif key == "vendor_id" and not vendor:
                vendor = value.strip()
    if "avx512f" in flags and vendor == "GenuineIntel":
        lanes, why = 16, "AVX-512 (512-bit data path)"
    elif "avx2" in flags:
        lanes = 8
        why = "256-bit data path (AVX-512 listed, run as 2 x 256 bit on AMD)" if "avx512f" in flags else "AVX2"
    else:
        lanes, why = 4, "SSE"
    return cores, mhz / 1000, lanes, why


def main() -> None:
    import faiss
    from sklearn.neighbors import NearestNeighbors

    from graphstore.extract.knn import knn_search, union_edges
    from graphstore.extract.l1_topk import MARGIN, block_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--anchor-n", type=int, default=2000, help="queries scikit-learn answers (scaled to N)")
    parser.add_argument("--large", type=int, default=50000)
    args = parser.parse_args()
    n, dim, k = args.n, args.dim, args.k
    print(machine(), f"load {os.getloadavg()[0]:.2f}")
    x = latents(n, dim)

    _, warm, _ = timed2(lambda: knn_search(x[:64], 4, "l1"))  # loads (or compiles) the numba kernel
    (dist, nbr), ours, ours_cpu = timed2(lambda: knn_search(x, k, "l1"))
    print(
        f"ours: {ours:.2f} s wall, {ours_cpu:.2f} s CPU (first call in the process, kernel load: {warm:.2f} s), "
        f"load {os.getloadavg()[0]:.2f}"
    )

    def flat_l1() -> tuple[np.ndarray, np.ndarray]:
        index = faiss.IndexFlat(dim, faiss.METRIC_L1)
        index.add(x)
        return index.search(x, k + 1)

    (_, fidx), fai, fai_cpu = timed2(flat_l1)
    print(f"faiss IndexFlat L1: {fai:.2f} s wall, {fai_cpu:.2f} s CPU, load {os.getloadavg()[0]:.2f}")

    q = min(args.anchor_n, n)
    model = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="manhattan").fit(x)
    (_, ref), skl, skl_cpu = timed2(lambda: model.kneighbors(x[:q]))
    scale = n / q
    print(
        f"scikit-learn brute manhattan: {skl:.2f} s wall, {skl_cpu:.2f} s CPU for {q} queries -> "
        f"{skl * scale:.2f} s wall, {skl_cpu * scale:.2f} s CPU scaled to {n}, load {os.getloadavg()[0]:.2f}"
    )

    cores, ghz, lanes, why = cpu_model()
    work = float(n) * n * dim
    floor = work / (cores * lanes * ghz * 1e9)
    print(
        f"floor: {work:.3g} abs-diff-adds / ({cores} cores x {lanes} lanes [{why}] x {ghz:.3f} GHz) = {floor:.2f} s "
        f"wall = {floor * cores:.2f} s CPU; each pair once (ours): {work / 2:.3g} -> {floor / 2:.2f} s"
    )
    print(
        f"same neighbours: faiss {np.mean(fidx[:, 1:] == nbr):.4f}, "
        f"scikit-learn {np.mean(ref[:, 1:] == nbr[:q]):.4f} (faiss/sklearn keep self at rank 0; float32 ties)"
    )
    print(
        f"ratios, wall: ours/floor {ours / floor:.2f}, faiss/ours {fai / ours:.1f}x, "
        f"scikit-learn/ours {skl * scale / ours:.1f}x"
    )
    print(
        f"ratios, CPU:  ours/floor {ours_cpu / (floor * cores):.2f}, faiss/ours {fai_cpu / ours_cpu:.1f}x, "
        f"scikit-learn/ours {skl_cpu * scale / ours_cpu:.1f}x; ours {work / 2 / ours_cpu / 1e9:.1f} G "
        f"abs-diff-adds per CPU second"
    )

    if args.large:
        big = latents(args.large, dim, seed=1)
        threads = cores
        bound = threads * args.large * (k + MARGIN) * 12 + threads * block_rows(dim) ** 2 * 4
        with RssPeak() as mem:
            (d2, n2), seconds, cpu2 = timed2(lambda: knn_search(big, k, "l1"))
        a, *_ = union_edges(d2, n2, k)
        print(
            f"exact L1 kNN {args.large} x {dim}, k={k}: {seconds:.1f} s wall, {cpu2:.1f} s CPU "
            f"({float(args.large) ** 2 * dim / 2 / cpu2 / 1e9:.1f} G abs-diff-adds per CPU second), "
            f"{len(a)} union edges; RSS +{mem.increase_mib:.0f} MiB during the search (candidate lists and blocks: "
            f"{bound / 2**20:.0f} MiB, result {(d2.nbytes + n2.nbytes) / 2**20:.0f} MiB), process peak "
            f"{peak_rss_mib() / 1024:.2f} GiB (input {big.nbytes / 2**30:.2f} GiB)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
