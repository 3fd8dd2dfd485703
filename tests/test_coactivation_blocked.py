"""The co-activation graph's blocked correlation (docs/METHODS.md C2, docs/SCALING.md): Z Z^T a row strip at a
time gives the whole matrix's edges, and its peak memory stays far below the U x U matrix it never builds."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from graphstore.extract.coactivation import correlated_pairs, spearman, strip_rows

TOLERANCE = 2e-6  # float32 GEMM rounding: strips of other shapes may sum a dot product in another order


def tied_activations(seed: int, n: int, u: int) -> np.ndarray:
    """Post-ReLU-like activations: shared factors (so many pairs correlate), exact zeros, integer ties, a dead unit,
    -0.0 beside 0.0, and a constant unit."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)) @ rng.standard_normal((4, u)) + rng.standard_normal((n, u))
    x = np.maximum(x, 0).astype(np.float32)
    x[:, 3] = np.round(x[:, 3])
    x[:, 5] = 0.0
    x[::2, 6] = -0.0
    x[:, 9 % u] = 1.5
    return x


def dense_edges(x: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """The whole-matrix path: spearman then the row-major upper triangle's pairs >= threshold."""
    rho, live = spearman(x)
    i, j = np.nonzero(np.triu(rho >= threshold, k=1))  # row-major, i < j
    return i, j, rho[i, j].astype(np.float64), live, rho


@pytest.mark.parametrize("seed, n, u", [(0, 40, 60), (1, 7, 33), (2, 300, 130)])
@pytest.mark.parametrize("entries", [1, 2 * 61, 7 * 61, 1 << 24])
@pytest.mark.parametrize("threshold", [0.5, 0.0, -0.3])
def test_strips_give_the_whole_matrix_edges(seed, n, u, entries, threshold):
    """Any strip height (1 row, several, the whole matrix): the same live units and the same pairs in the same
    row-major order, rho within float32 rounding (bit-identical when one strip holds the matrix); a pair may
    differ only where its rho is within that rounding of the threshold."""
    x = tied_activations(seed, n, u)
    i, j, r, live, rho = dense_edges(x, threshold)
    bi, bj, br, blive = correlated_pairs(x, threshold, chunk=16, entries=entries)
    assert np.array_equal(live, blive) and live.sum() == u - 2
    assert bi.dtype == np.int32 and br.dtype == np.float32
    dense_pairs = set(zip(i.tolist(), j.tolist(), strict=True))
    ours = set(zip(bi.tolist(), bj.tolist(), strict=True))
    for a, b in dense_pairs ^ ours:
        assert abs(float(rho[a, b]) - threshold) < TOLERANCE, (a, b, rho[a, b])
    common = np.array(sorted(dense_pairs & ours)).reshape(-1, 2)
    assert len(common) > 0.9 * len(dense_pairs) > 0
    assert np.all(np.diff(bi.astype(np.int64) * u + bj) > 0)  # row-major, each pair once, i < j
    assert np.all(bi < bj)
    assert (
        np.abs(br[np.isin(bi * u + bj, common[:, 0] * u + common[:, 1])] - rho[common[:, 0], common[:, 1]]).max(
            initial=0
        )
        < TOLERANCE
    )
    if strip_rows(int(live.sum()), entries) >= live.sum():
        assert np.array_equal(i, bi) and np.array_equal(j, bj) and np.array_equal(r, br.astype(np.float64))


@pytest.mark.parametrize("sample_chunk", [0, 1, 13])
def test_sample_chunks_keep_the_edges(sample_chunk):
    """The product accumulated over sample chunks (sample_chunk) keeps the same edges within rounding."""
    x = tied_activations(3, 50, 40)
    i, j, _, _, rho = dense_edges(x, 0.4)
    bi, bj, br, _ = correlated_pairs(x, 0.4, entries=5 * 40, sample_chunk=sample_chunk)
    for a, b in set(zip(i.tolist(), j.tolist(), strict=True)) ^ set(zip(bi.tolist(), bj.tolist(), strict=True)):
        assert abs(float(rho[a, b]) - 0.4) < 1e-5
    assert np.allclose(br, rho[bi, bj], atol=1e-5) and len(bi) > 20


PEAK_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    import torch
    from graphstore.extract.coactivation import correlated_pairs
    n, u = 24, 16000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, u)).astype(np.float32)
    correlated_pairs(x[:, :300], 0.99)  # numba kernels, thread pools, BLAS buffers: before the measurement
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    i, j, r, live = correlated_pairs(x, 0.8)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"added": after - before, "edges": len(i), "live": int(live.sum())}))
    """
)


def test_peak_memory_stays_far_below_the_dense_matrix():
    """16,000 units over 24 samples: the U x U float32 matrix alone would be 1,024 MB; the blocked path's peak RSS
    (a fresh process, getrusage, torch's allocations included) grows by less than 160 MB (x and Z 1.5 MB each, one
    strip of 64 MB, its boolean mask 16 MB, the edges)."""
    proc = subprocess.run([sys.executable, "-c", PEAK_CHILD], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    dense = 16000 * 16000 * 4
    assert got["live"] == 16000 and got["edges"] > 0
    assert got["added"] < 160 * 2**20 < dense / 6, got
