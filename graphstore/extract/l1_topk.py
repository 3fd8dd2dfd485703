"""Exact L1 k-nearest-neighbour search among the rows of one matrix: a compiled, cache-blocked, multi-threaded kernel.

Why not faiss IndexFlat(METRIC_L1): it computes every distance twice and runs several times slower than the
arithmetic floor on this hardware (bench/knn.py). This kernel

- computes each unordered pair once (L1 is symmetric): blocks of B rows are paired (bi <= bj), and one block
  distance matrix feeds the candidate lists of both its row block and its column block;
- computes a block in 4 x 4 register tiles over the full dimension, so 8 rows are loaded per 16 distances and
  the two row blocks stay in the L2 cache; LLVM vectorises the inner loop over the dimension (AVX-512/AVX2);
- computes |a - b| summed as 2 sum max(a, b) - sum a - sum b (the rows' sums precomputed): two vector operations
  per term (max, add) instead of three (sub, abs, add), 1.4x the tile's rate (27-28 G terms per second on one
  core of the Intel machine against 19-20; the floor model's 16 lanes x 1 cycle is 36.8 G). The rows are centred
  first (each column minus its mean, rounded down to an integer) so that the cancellation error, bounded by the
  rows' absolute sums, is that of the data's spread, not of its offset;
- keeps, per thread, a sorted candidate list of the m = k + margin best (distance, index) pairs per row
  (insertion into a small buffer, skipped when a distance does not beat the list's last entry), so memory is
  the input and its centred copy plus threads x N x m x 12 bytes of candidates (fewer threads if that passed
  CANDIDATE_BUDGET) plus one B x B block per thread, never N x N; a shared list instead (rounds of disjoint
  block pairs) measured 60% more CPU time, from a barrier per round;
- merges the threads' lists (compiled, no temporaries), recomputes the candidates' distances in float64
  (summed in dimension order, as scipy's cdist does) and sorts them by (distance, index);
- then proves each row exact or recomputes it: the float32 distance 2 S - P_i - P_j is within
  (2 gamma + 8 u)(A_i + A_j) of the exact distance (u = 2^-24, gamma = (dim + 2) u / (1 - (dim + 2) u) for the
  float32 sum S in any order, A the rows' absolute sums after centring; see uncertain_rows), so a row whose last
  float32 candidate, lowered by that bound for the largest A_j, still exceeds its k-th float64 distance cannot have
  missed a neighbour. Other rows (many others within float32 rounding of the k-th distance; none in the
  benchmarks) are recomputed by a float64 scan over all rows. Integer-valued data with sums below 2^24 is exact
  in float32 and needs no check. So the result equals a float64 brute force with ties broken by the lower index.

Self is excluded by index (a duplicate row is still a neighbour at distance 0), as in graphstore.extract.knn.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numba import njit, prange

from graphstore.errors import GraphstoreError

MARGIN = 4  # extra float32 candidates per row, re-ranked in float64
TILE = 4  # register tile edge (rows x rows)
L2_BUDGET = 256 * 1024  # bytes of the two row blocks of one block pair (half the smallest common L2)
PROGRESS_STEPS = 32  # at most this many progress callbacks per search ...
STEP_WORK = 4e9  # ... each after at least this many abs-diff-adds (a kernel launch ends in a barrier of threads)
CANDIDATE_BUDGET = 2 * 2**30  # bytes of the threads' candidate lists (threads x N x m x 12); fewer threads beyond
FAST = {"reassoc", "contract", "nsz", "arcp"}  # fastmath without no-NaN/no-inf: the candidate lists start at +inf


class NonFiniteInput(GraphstoreError):
    """The vectors contain NaN or infinity, so distances are undefined."""


@njit(fastmath=FAST, cache=True)
def _tile(
    x: np.ndarray, sums: np.ndarray, i0: int, j0: int, out: np.ndarray, oi: int, oj: int, two: np.float32
) -> None:
    """L1 distances of rows i0..i0+3 to rows j0..j0+3 into out[oi:oi+4, oj:oj+4] (row indices clamped to N-1), as
    2 sum max(a, b) - sum a - sum b: two operations per term (max, add) where |a - b| takes three."""
    last = x.shape[0] - 1
    i0, i1, i2, i3 = min(i0, last), min(i0 + 1, last), min(i0 + 2, last), min(i0 + 3, last)
    j0, j1, j2, j3 = min(j0, last), min(j0 + 1, last), min(j0 + 2, last), min(j0 + 3, last)
    a0, a1, a2, a3 = x[i0], x[i1], x[i2], x[i3]
    b0, b1, b2, b3 = x[j0], x[j1], x[j2], x[j3]
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = np.float32(0.0)
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = np.float32(0.0)
    for t in range(x.shape[1]):
        p0, p1, p2, p3 = a0[t], a1[t], a2[t], a3[t]
        q0, q1, q2, q3 = b0[t], b1[t], b2[t], b3[t]
        s00 += max(p0, q0)
        s01 += max(p0, q1)
        s02 += max(p0, q2)
        s03 += max(p0, q3)
        s10 += max(p1, q0)
        s11 += max(p1, q1)
        s12 += max(p1, q2)
        s13 += max(p1, q3)
        s20 += max(p2, q0)
        s21 += max(p2, q1)
        s22 += max(p2, q2)
        s23 += max(p2, q3)
        s30 += max(p3, q0)
        s31 += max(p3, q1)
        s32 += max(p3, q2)
        s33 += max(p3, q3)
    r0, r1, r2, r3 = sums[i0], sums[i1], sums[i2], sums[i3]
    c0, c1, c2, c3 = sums[j0], sums[j1], sums[j2], sums[j3]
    out[oi, oj], out[oi, oj + 1] = two * s00 - (r0 + c0), two * s01 - (r0 + c1)
    out[oi, oj + 2], out[oi, oj + 3] = two * s02 - (r0 + c2), two * s03 - (r0 + c3)
    out[oi + 1, oj], out[oi + 1, oj + 1] = two * s10 - (r1 + c0), two * s11 - (r1 + c1)
    out[oi + 1, oj + 2], out[oi + 1, oj + 3] = two * s12 - (r1 + c2), two * s13 - (r1 + c3)
    out[oi + 2, oj], out[oi + 2, oj + 1] = two * s20 - (r2 + c0), two * s21 - (r2 + c1)
    out[oi + 2, oj + 2], out[oi + 2, oj + 3] = two * s22 - (r2 + c2), two * s23 - (r2 + c3)
    out[oi + 3, oj], out[oi + 3, oj + 1] = two * s30 - (r3 + c0), two * s31 - (r3 + c1)
    out[oi + 3, oj + 2], out[oi + 3, oj + 3] = two * s32 - (r3 + c2), two * s33 - (r3 + c3)


@njit(cache=True)
def _insert(dist: np.ndarray, idx: np.ndarray, t: int, row: int, d: np.float32, j: int) -> None:
    """Insert (d, j) into thread t's sorted candidate list of `row` if it beats the list's last entry."""
    pos = dist.shape[2] - 1
    if d > dist[t, row, pos] or (d == dist[t, row, pos] and j >= idx[t, row, pos]):
        return
    while pos > 0 and (dist[t, row, pos - 1] > d or (dist[t, row, pos - 1] == d and idx[t, row, pos - 1] > j)):
        dist[t, row, pos] = dist[t, row, pos - 1]
        idx[t, row, pos] = idx[t, row, pos - 1]
        pos -= 1
    dist[t, row, pos] = d
    idx[t, row, pos] = j


@njit(cache=True)
def _unrank(p: int, nb: int) -> tuple[int, int]:
    """The p-th block pair (bi, bj), bi <= bj, in row-major order over nb blocks."""
    bi = 0
    while bi < nb and p >= nb - bi:
        p -= nb - bi
        bi += 1
    return bi, bi + p


@njit(parallel=True, fastmath=FAST, cache=True)
def _search_pairs(
    x: np.ndarray, sums: np.ndarray, block: int, lo: int, hi: int, cand_d: np.ndarray, cand_i: np.ndarray
) -> None:
    """Block pairs lo..hi-1 (row-major, bi <= bj), thread t taking every T-th, into thread t's candidate lists;
    consecutive pairs share the row block bi, which stays cached."""
    n = x.shape[0]
    nb = (n + block - 1) // block
    threads = cand_d.shape[0]
    last = cand_d.shape[2] - 1
    for t in prange(threads):
        buf = np.empty((block, block), np.float32)
        bi, bj = _unrank(lo + t, nb)
        for _ in range(lo + t, hi, threads):
            r0 = bi * block
            c0 = bj * block
            bj += threads
            while bj >= nb and bi < nb:
                bi += 1
                bj -= nb - bi
            rows = min(block, n - r0)
            cols = min(block, n - c0)
            for ii in range(0, rows, TILE):
                for jj in range(0, cols, TILE):
                    _tile(x, sums, r0 + ii, c0 + jj, buf, ii, jj, np.float32(2.0))
            for r in range(rows):
                row = r0 + r
                bound = cand_d[t, row, last]
                for c in range(cols):
                    if buf[r, c] <= bound and row != c0 + c:
                        _insert(cand_d, cand_i, t, row, buf[r, c], c0 + c)
                        bound = cand_d[t, row, last]
            if r0 != c0:
                for c in range(cols):
                    col = c0 + c
                    bound = cand_d[t, col, last]
                    for r in range(rows):
                        if buf[r, c] <= bound:
                            _insert(cand_d, cand_i, t, col, buf[r, c], r0 + r)
                            bound = cand_d[t, col, last]


@njit(parallel=True, cache=True)
def _refine(x: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Float64 distances of each row to its candidates, sorted by (distance, index), first k kept."""
    n, m = cand.shape
    dist = np.empty((n, k), np.float64)
    nbr = np.empty((n, k), np.int64)
    for i in prange(n):
        d64 = np.empty(m, np.float64)
        for c in range(0, m, 4):  # four candidates at once: independent sums, each in dimension order
            j0, j1 = cand[i, c], cand[i, min(c + 1, m - 1)]
            j2, j3 = cand[i, min(c + 2, m - 1)], cand[i, min(c + 3, m - 1)]
            s0 = s1 = s2 = s3 = 0.0
            for t in range(x.shape[1]):
                a = np.float64(x[i, t])
                s0 += abs(a - np.float64(x[j0, t]))
                s1 += abs(a - np.float64(x[j1, t]))
                s2 += abs(a - np.float64(x[j2, t]))
                s3 += abs(a - np.float64(x[j3, t]))
            d64[c] = s0
            if c + 1 < m:
                d64[c + 1] = s1
            if c + 2 < m:
                d64[c + 2] = s2
            if c + 3 < m:
                d64[c + 3] = s3
        ids = cand[i].copy()
        for c in range(1, m):  # insertion sort by (distance, index); m is small
            pos = c
            while pos > 0 and (d64[pos - 1] > d64[pos] or (d64[pos - 1] == d64[pos] and ids[pos - 1] > ids[pos])):
                d64[pos - 1], d64[pos] = d64[pos], d64[pos - 1]
                ids[pos - 1], ids[pos] = ids[pos], ids[pos - 1]
                pos -= 1
        for c in range(k):
            dist[i, c] = d64[c]
            nbr[i, c] = ids[c]
    return dist, nbr


@njit(parallel=True, cache=True)
def _rows_exact(x: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The fallback: float64 distances of the given rows to every other row, k smallest by (distance, index)."""
    n, dim = x.shape
    dist = np.empty((len(rows), k), np.float64)
    nbr = np.empty((len(rows), k), np.int64)
    for r in prange(len(rows)):
        i = rows[r]
        best = np.full(k, np.inf)
        ids = np.full(k, n, np.int64)
        for j in range(n):
            if j == i:
                continue
            s = 0.0
            for t in range(dim):
                s += abs(np.float64(x[i, t]) - np.float64(x[j, t]))
            if s < best[k - 1]:  # j ascends, so an equal distance never displaces a lower index
                pos = k - 1
                while pos > 0 and best[pos - 1] > s:
                    best[pos] = best[pos - 1]
                    ids[pos] = ids[pos - 1]
                    pos -= 1
                best[pos] = s
                ids[pos] = j
        dist[r] = best
        nbr[r] = ids
    return dist, nbr


@njit(cache=True)
def _merge(cand_d: np.ndarray, cand_i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the m best (distance, index) of the threads' sorted lists: (indices, last float32 distance)."""
    threads, n, m = cand_d.shape
    out = np.empty((n, m), np.int64)
    last = np.empty(n, np.float32)
    head = np.zeros(threads, np.int64)
    for i in range(n):
        head[:] = 0
        for c in range(m):
            best = 0
            for t in range(1, threads):
                d, j = cand_d[t, i, head[t]], cand_i[t, i, head[t]]
                bd, bj = cand_d[best, i, head[best]], cand_i[best, i, head[best]]
                if d < bd or (d == bd and j < bj):
                    best = t
            out[i, c] = cand_i[best, i, head[best]]
            last[i] = cand_d[best, i, head[best]]
            head[best] += 1
    return out, last


@njit(cache=True)
def _all_integers(x: np.ndarray) -> bool:
    """Whether every value is an integer (stops at the first that is not)."""
    for v in x.ravel():  # noqa: SIM110 (a generator inside all() does not compile in numba)
        if v != np.floor(v):
            return False
    return True


def magnitude(x: np.ndarray) -> float:
    """The largest absolute value, without a temporary copy of x."""
    return max(float(x.max(initial=0.0)), -float(x.min(initial=0.0)))


def exact_in_float32(x: np.ndarray) -> bool:
    """Whether every float32 sum of the kernel over x is exact: integer values whose sums of maxima (twice those,
    minus the rows' sums) stay below 2^24."""
    return 4.0 * magnitude(x) * x.shape[1] < 2.0**24 and bool(_all_integers(x))


def centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x minus each column's mean rounded down (L1 distances do not change; the rows' absolute sums, which bound the
    kernel's rounding, shrink to the data's spread; the median would be optimal but costs 15% of a search), the
    rows' sums as float32 and their absolute sums. Integer data stays integer, so exact_in_float32 still applies."""
    xc = x - np.floor(x.mean(axis=0, dtype=np.float64)).astype(np.float32)
    rows = range(0, len(xc), 4096)  # |xc| a slice at a time: no second copy of the input
    absolute = np.concatenate([np.abs(xc[lo : lo + 4096]).sum(axis=1, dtype=np.float64) for lo in rows])
    return xc, xc.sum(axis=1, dtype=np.float64).astype(np.float32), absolute


def uncertain_rows(dist: np.ndarray, last32: np.ndarray, absolute: np.ndarray, dim: int) -> np.ndarray:
    """Rows whose float32 candidate list might have missed a neighbour: the list's last float32 distance, lowered by
    the float32 rounding bound, does not exceed the k-th float64 distance.

    The kernel's distance of rows i, j is 2 S - P_i - P_j (S the float32 sum of the dim maxima, P the rows' sums);
    against the exact distance of the uncentred rows it errs by at most (2 gamma + 8 u)(A_i + A_j), A the rows'
    absolute sums after centring: gamma = (dim + 2) u / (1 - (dim + 2) u) for S (u = 2^-24, any summation order,
    |max| <= |a| + |b|), u for each centred value, for P in float32, for P_i + P_j and the final subtraction. So a
    row whose last candidate, lowered by the bound for the largest A_j, still exceeds its k-th float64 distance
    cannot have missed a neighbour."""
    u = 2.0**-24
    gamma = (dim + 2) * u / (1 - (dim + 2) * u)
    lower = last32.astype(np.float64) - (2 * gamma + 8 * u) * 1.01 * (absolute + absolute.max(initial=0.0))
    return np.flatnonzero(~(lower > dist[:, -1] * (1 + (dim + 2) * 2.0**-52)))


def block_rows(dim: int) -> int:
    """Rows per block: two blocks of float32 rows fit the L2 budget; a multiple of the tile, 16..256."""
    rows = L2_BUDGET // (2 * 4 * max(dim, 1))
    return int(min(256, max(16, rows // TILE * TILE)))


def pair_count(n: int, block: int) -> int:
    """Block pairs (bi <= bj) over ceil(n / block) row blocks."""
    nb = -(-n // block)
    return nb * (nb + 1) // 2


def l1_topk(
    x: np.ndarray,
    k: int,
    progress: Callable[[int, int], None] | None = None,
    threads: int | None = None,
    block: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(distances float64, neighbours int64) of shape (N, k): each row's k nearest other rows under L1, exact,
    sorted by distance with ties broken by the lower index; progress(done, total) over block pairs."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    if x.ndim != 2 or not 1 <= k <= n - 1:
        raise GraphstoreError(
            f"l1_topk needs a 2-d array and 1 <= k <= N-1; got shape {x.shape}, k={k}.",
            "Pass an (N, dim) matrix and a smaller k.",
        )
    if not np.isfinite(magnitude(x)):  # NaN propagates through max/min, infinities show as the magnitude
        raise NonFiniteInput(
            "The vectors contain NaN or infinity; L1 distances are undefined.",
            "Check the recorded latents (a diverged model?) or drop the affected samples.",
        )
    xc, sums, absolute = centred(x)
    if max(2 * magnitude(x), 4 * magnitude(xc)) * x.shape[1] >= float(np.finfo(np.float32).max):
        raise NonFiniteInput(
            "The vectors are so large that their L1 distances overflow float32.",
            "Check the recorded latents (a diverged model?) or rescale them.",
        )
    m = min(k + MARGIN, n - 1)
    threads = max(1, min(threads or numba.get_num_threads(), CANDIDATE_BUDGET // (n * m * 12)))
    block = block_rows(x.shape[1]) if block is None else max(TILE, block // TILE * TILE)
    pairs = pair_count(n, block)
    cand_d = np.full((threads, n, m), np.inf, np.float32)
    cand_i = np.full((threads, n, m), n, np.int64)
    parts = int(np.clip(pairs * block * block * x.shape[1] // STEP_WORK, 1, PROGRESS_STEPS))
    steps = np.unique(np.linspace(0, pairs, parts + 1).astype(np.int64))
    for lo, hi in zip(steps[:-1], steps[1:], strict=True):
        _search_pairs(xc, sums, block, int(lo), int(hi), cand_d, cand_i)
        if progress is not None:
            progress(int(hi), pairs)
    cand, last32 = _merge(cand_d, cand_i)
    exact = exact_in_float32(xc)
    del cand_d, cand_i, xc
    dist, nbr = _refine(x, cand, k)
    if m < n - 1 and not exact:
        unsure = uncertain_rows(dist, last32, absolute, x.shape[1])
        if len(unsure):
            dist[unsure], nbr[unsure] = _rows_exact(x, unsure, k)
    return dist, nbr
