"""Exact L1 kNN: the project's kernel (graphstore.extract.l1_topk) vs faiss IndexFlat(METRIC_L1), scikit-learn's
brute-force manhattan and the arithmetic floor of this machine.

    python -m bench.knn [--n 10000] [--dim 512] [--k 16] [--anchor-n 2000] [--large 50000]

1. N x dim float32 latents (synthetic, clustered), k nearest others, all on the same input: ours
   (graphstore.extract.knn.knn_search, metric l1), faiss IndexFlat L1, scikit-learn
   NearestNeighbors(algorithm="brute", metric="manhattan") on --anchor-n queries scaled to N, and the floor.
   Neighbours are compared. Each time is given as wall seconds and CPU seconds (all threads): on a shared machine
   the wall time depends on the load, the CPU time much less, so the ratios are given for both.
2. Two floors, at one abs-diff-add per float32 lane per cycle on every core: lanes = 8 for a 256-bit data path
   (AVX2; also AVX-512 on AMD Zen 4, which runs 512-bit operations as two 256-bit halves), 16 for AVX-512 on
   Intel, the clock from /proc/cpuinfo. The same-work floor counts what our kernel computes, each unordered pair
   once: N (N - 1) / 2 x dim; the all-pairs floor counts N^2 x dim (every ordered pair, as faiss and
   scikit-learn compute them). Ours is judged against the same-work floor.
3. --large rows (default 50,000 x 512): our time and the RSS increase during the search (bounded by the
   candidate lists, threads x N x (k + 4), and the centred copy of the input, not by N^2: the 50k x 50k
   distances alone would be 9.3 GiB).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from bench.common import RssPeak, load, machine, peak_rss_mib, ratios, record, timed2


def latents(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered non-negative vectors, like pooled post-ReLU features."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dim)).astype(np.float32)
    x = centres[rng.integers(0, 100, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return np.maximum(x, 0)


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


def tile_rate(dim: int, rows: int = 16, reps: int = 20000) -> float:
    """Abs-diff-adds per CPU second of the kernel's 4 x 4 register tile alone, one thread, on `rows` L1-resident
    rows (no candidate lists, no L2 traffic): what the kernel's inner loop can do on this machine at best."""
    import time

    from numba import njit

    from graphstore.extract.l1_topk import TILE, _tile

    @njit
    def sweep(x: np.ndarray, sums: np.ndarray, out: np.ndarray, reps: int) -> None:
        for _ in range(reps):
            for i in range(0, x.shape[0], TILE):
                for j in range(0, x.shape[0], TILE):
                    _tile(x, sums, i, j, out, i, j, np.float32(2.0))

    x = latents(rows, dim)
    sums = x.sum(axis=1, dtype=np.float64).astype(np.float32)
    out = np.empty((rows, rows), np.float32)
    sweep(x, sums, out, 1)
    best = 0.0
    for _ in range(3):
        cpu = time.process_time()
        sweep(x, sums, out, reps)
        best = max(best, reps * rows * rows * dim / (time.process_time() - cpu))
    return best


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
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds of ours and the anchors")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds): checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.dim, args.anchor_n, args.large, args.reps = 600, 32, 200, 800, 2
    before = load()
    n, dim, k = args.n, args.dim, args.k
    print(machine(), f"load {os.getloadavg()[0]:.2f}")
    x = latents(n, dim)

    _, warm, _ = timed2(lambda: knn_search(x[:64], 4, "l1"))  # loads (or compiles) the numba kernel

    def flat_l1() -> tuple[np.ndarray, np.ndarray]:
        index = faiss.IndexFlat(dim, faiss.METRIC_L1)
        index.add(x)
        return index.search(x, k + 1)

    q = min(args.anchor_n, n)
    model = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="manhattan").fit(x)
    scale = n / q
    runs: dict[str, list[float]] = {}
    for _ in range(args.reps):  # interleaved: every method sees the same spread of a shared machine's load
        for name, fn in (
            ("ours", lambda: knn_search(x, k, "l1")),
            ("faiss", flat_l1),
            ("sklearn", lambda: model.kneighbors(x[:q])),
        ):
            result, wall, cpu = timed2(fn)
            runs.setdefault(f"{name}_wall", []).append(wall)
            runs.setdefault(f"{name}_cpu", []).append(cpu)
            runs.setdefault("load", []).append(load())
            if name == "ours":
                dist, nbr = result
            elif name == "faiss":
                fidx = result[1]
            else:
                ref = result[1]
    med = {key: float(np.median(values)) for key, values in runs.items() if key != "load"}
    ours, ours_cpu, fai, fai_cpu = med["ours_wall"], med["ours_cpu"], med["faiss_wall"], med["faiss_cpu"]
    skl, skl_cpu = med["sklearn_wall"], med["sklearn_cpu"]
    print(
        f"medians of {args.reps} interleaved rounds (load {runs['load']}): ours {ours:.2f} s wall, {ours_cpu:.2f} s "
        f"CPU (first call in the process, kernel load: {warm:.2f} s); faiss IndexFlat L1 {fai:.2f} s wall, "
        f"{fai_cpu:.2f} s CPU; scikit-learn brute manhattan {skl:.2f} s wall, {skl_cpu:.2f} s CPU for {q} queries "
        f"-> {skl * scale:.2f} s wall, {skl_cpu * scale:.2f} s CPU scaled to {n}"
    )
    tile = tile_rate(dim)
    print(f"the kernel's register tile alone, L1-resident rows, one thread: {tile / 1e9:.1f} G abs-diff-adds/s")

    cores, ghz, lanes, why = cpu_model()
    rate = cores * lanes * ghz * 1e9
    all_work, work = float(n) * n * dim, float(n) * (n - 1) / 2 * dim
    floor, all_floor = work / rate, all_work / rate
    print(
        f"same-work floor (each unordered pair once, as ours): {work:.3g} abs-diff-adds / ({cores} cores x {lanes} "
        f"lanes [{why}] x {ghz:.3f} GHz) = {floor:.2f} s wall = {floor * cores:.2f} s CPU; all-pairs floor "
        f"(N^2, as faiss and scikit-learn): {all_work:.3g} -> {all_floor:.2f} s"
    )
    print(
        f"same neighbours: faiss {np.mean(fidx[:, 1:] == nbr):.4f}, "
        f"scikit-learn {np.mean(ref[:, 1:] == nbr[:q]):.4f} (faiss/sklearn keep self at rank 0; float32 ties)"
    )
    print(
        f"ratios, wall: ours/same-work floor {ours / floor:.2f}, ours/all-pairs floor {ours / all_floor:.2f}, "
        f"faiss/ours {fai / ours:.1f}x, scikit-learn/ours {skl * scale / ours:.1f}x"
    )
    print(
        f"ratios, CPU:  ours/same-work floor {ours_cpu / (floor * cores):.2f}, faiss/ours {fai_cpu / ours_cpu:.1f}x, "
        f"scikit-learn/ours {skl_cpu * scale / ours_cpu:.1f}x; ours {work / ours_cpu / 1e9:.1f} G "
        f"abs-diff-adds per CPU second"
    )
    record(
        "knn.l1_exact",
        {"wall_s": round(ours, 4), "cpu_s": round(ours_cpu, 4), "kernel_load_s": round(warm, 3)},
        {
            "faiss_indexflat_l1_wall_s": round(fai, 4),
            "faiss_indexflat_l1_cpu_s": round(fai_cpu, 4),
            "sklearn_brute_scaled_wall_s": round(skl * scale, 4),
            "sklearn_brute_scaled_cpu_s": round(skl_cpu * scale, 4),
        },
        {
            "same_work_s": round(floor, 4),
            "all_pairs_s": round(all_floor, 4),
            "model": f"{cores} cores x {lanes} float32 lanes [{why}] x {ghz:.3f} GHz, one abs-diff-add per lane-cycle",
            "tile_g_per_s_one_thread": round(tile / 1e9, 2),
            "model_g_per_s_one_core": round(rate / cores / 1e9, 2),
            "tile_bound_cpu_s": round(work / tile, 4),
        },
        {
            "ours_over_same_work_floor_wall": round(ours / floor, 3),
            "ours_over_same_work_floor_cpu": round(ours_cpu / (floor * cores), 3),
            "ours_over_all_pairs_floor_wall": round(ours / all_floor, 3),
            "ours_over_tile_bound_cpu": round(ours_cpu / (work / tile), 3),
            **ratios(ours, {"faiss": fai, "sklearn_scaled": skl * scale}),
        },
        before,
        size={"n": n, "dim": dim, "k": k, "sklearn_queries": q, "reps": args.reps},
        runs={key: [round(v, 3) for v in values] for key, values in runs.items()},
        same_neighbours={"faiss": float(np.mean(fidx[:, 1:] == nbr)), "sklearn": float(np.mean(ref[:, 1:] == nbr[:q]))},
        quick=args.quick,
    )

    if args.large:
        big = latents(args.large, dim, seed=1)
        before_large = load()
        threads = cores
        bound = (
            threads * args.large * (k + MARGIN) * 12 + threads * block_rows(dim) ** 2 * 4 + big.nbytes
        )  # + centred copy
        with RssPeak() as mem:
            (d2, n2), seconds, cpu2 = timed2(lambda: knn_search(big, k, "l1"))
        a, *_ = union_edges(d2, n2, k)
        large_floor = float(args.large) * (args.large - 1) / 2 * dim / rate
        record(
            "knn.l1_exact_large",
            {"wall_s": round(seconds, 3), "cpu_s": round(cpu2, 3), "rss_increase_mib": round(mem.increase_mib)},
            None,
            {
                "same_work_s": round(large_floor, 4),
                "all_pairs_s": round(2 * large_floor * args.large / (args.large - 1), 4),
            },
            {"ours_over_same_work_floor_wall": round(seconds / large_floor, 3)},
            before_large,
            size={"n": args.large, "dim": dim, "k": k},
            rss_bound_mib=round(bound / 2**20),
            quick=args.quick,
        )
        print(
            f"exact L1 kNN {args.large} x {dim}, k={k}: {seconds:.1f} s wall, {cpu2:.1f} s CPU "
            f"({float(args.large) ** 2 * dim / 2 / cpu2 / 1e9:.1f} G abs-diff-adds per CPU second), "
            f"{len(a)} union edges; RSS +{mem.increase_mib:.0f} MiB during the search (candidate lists, blocks, "
            f"centred copy: "
            f"{bound / 2**20:.0f} MiB, result {(d2.nbytes + n2.nbytes) / 2**20:.0f} MiB), process peak "
            f"{peak_rss_mib() / 1024:.2f} GiB (input {big.nbytes / 2**30:.2f} GiB)"
        )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
