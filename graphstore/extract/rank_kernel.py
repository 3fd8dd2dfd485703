"""The compiled step of the co-activation ranks: average ranks of sorted (value | position) keys, scattered back.

After graphstore.extract.coactivation sorts a chunk of units' packed uint64 keys (value bits high, sample position
low), one pass per unit finds the tie groups (runs of equal value bits) and writes each group's mean position
(minus a centre, optionally divided by the unit's norm) at the positions of its members. The same result as numpy
running max/min accumulations and put_along_axis, in one pass over each row instead of eight (measured 4-6x less
time for this step); the function holds no GIL, so the caller's thread pool ranks chunks in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def scatter_ranks(keys: np.ndarray, out: np.ndarray, centre: float, norms: np.ndarray | None) -> None:
    """From each row of sorted keys, the average rank (0-based) minus `centre` at each value's position in out;
    with `norms`, each row is divided by its norm (recorded in norms; 0 for a constant row). Ties share their
    mean position. Exact: ranks and their squares are exact in float64 below 2^24 samples."""
    u, n = keys.shape
    low = np.uint64(0xFFFFFFFF)
    for r in range(u):
        norm = np.float32(1.0)
        if norms is not None:
            ss, p = 0.0, 0
            while p < n:
                q, v = p, keys[r, p] >> np.uint64(32)
                while q + 1 < n and keys[r, q + 1] >> np.uint64(32) == v:
                    q += 1
                c = (p + q) * 0.5 - centre
                ss += c * c * (q - p + 1)
                p = q + 1
            norms[r] = np.sqrt(ss)
            norm = np.float32(norms[r]) if norms[r] > 1e-9 else np.float32(np.inf)
        p = 0
        while p < n:
            q, v = p, keys[r, p] >> np.uint64(32)
            while q + 1 < n and keys[r, q + 1] >> np.uint64(32) == v:
                q += 1
            value = np.float32((p + q) * 0.5 - centre) / norm
            for t in range(p, q + 1):
                out[r, keys[r, t] & low] = value
            p = q + 1


@njit(nogil=True, cache=True)
def packed_keys(bits: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Order-preserving uint64 keys of columns lo..hi-1 of float32 `bits` (N, U), viewed as uint32, one row per
    column: value bits (sign flipped, or all bits for a negative value; -0.0 as 0.0) high, sample position low.

    Fuses numpy's transpose copy and five elementwise passes into one pass (the 256 rows written stay in L1)."""
    n = bits.shape[0]
    out = np.empty((hi - lo, n), np.uint64)
    sign = np.uint32(0x80000000)
    for s in range(n):
        for c in range(lo, hi):
            b = bits[s, c]
            if b == sign:
                b = np.uint32(0)
            b = ~b if b & sign else b | sign
            out[c - lo, s] = (np.uint64(b) << np.uint64(32)) | np.uint64(s)
    return out
