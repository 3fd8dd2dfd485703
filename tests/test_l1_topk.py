"""The exact L1 kernel equals a float64 brute force (scipy cdist + stable argsort): ties by index, self excluded,
every block and thread split; bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

from graphstore.errors import GraphstoreError
from graphstore.extract.l1_topk import NonFiniteInput, block_rows, exact_in_float32, l1_topk, pair_count


def brute(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: all float64 distances, self at +inf, stable sort (ties by the lower index)."""
    d = cdist(x.astype(np.float64), x.astype(np.float64), "cityblock")
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), order


def assert_same(x: np.ndarray, k: int, **kwargs) -> None:
    dist, nbr = l1_topk(x, k, **kwargs)
    ref_d, ref_i = brute(x, k)
    assert nbr.dtype == np.int64 and dist.dtype == np.float64 and nbr.shape == (len(x), k)
    assert np.array_equal(nbr, ref_i)
    assert np.allclose(dist, ref_d, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("n", "dim", "k", "block", "threads"),
    [
        (300, 33, 16, None, None),  # one block (block_rows(33) = 256 > 300 / 2) plus a partial one
        (301, 64, 7, 16, 2),  # 19 blocks, the last one 13 rows; the tile (4) does not divide 13 either
        (257, 512, 16, 64, 3),  # the bench's shape; more threads than cores
        (50, 5, 49, 8, 1),  # k = N - 1: every other row, in order
    ],
)
def test_random_floats_equal_brute_force(n, dim, k, block, threads):
    x = np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)
    assert_same(x, k, block=block, threads=threads)


@pytest.mark.parametrize("block", [4, 8, 12, 64])
def test_integer_data_ties_broken_by_lower_index(block):
    rng = np.random.default_rng(block)
    x = rng.integers(0, 3, (203, 4)).astype(np.float32)  # 81 distinct rows: many duplicates and equal distances
    dist, nbr = l1_topk(x, 12, block=block)
    assert (dist[:, 0] == 0).mean() > 0.5  # most rows have a duplicate, which is a neighbour at distance 0
    assert_same(x, 12, block=block)


def test_result_independent_of_blocks_and_threads():
    x = np.random.default_rng(5).integers(-4, 5, (130, 9)).astype(np.float32)
    runs = [l1_topk(x, 10, block=b, threads=t) for b in (4, 16, 256) for t in (1, 2, 5)]
    for dist, nbr in runs[1:]:
        assert np.array_equal(nbr, runs[0][1]) and np.array_equal(dist, runs[0][0])


def test_self_excluded_by_index_duplicates_kept():
    x = np.array([[0.0], [1.0], [1.0], [1.0], [5.0]], dtype=np.float32)
    dist, nbr = l1_topk(x, 2)
    assert nbr.tolist() == [[1, 2], [2, 3], [1, 3], [1, 2], [1, 2]]
    assert dist.tolist() == [[1, 1], [0, 0], [0, 0], [0, 0], [4, 4]]


@pytest.mark.parametrize("k", [0, 5, 9])
def test_k_outside_one_to_n_minus_one_refused(k):
    with pytest.raises(GraphstoreError, match="1 <= k <= N-1"):
        l1_topk(np.zeros((5, 3), np.float32), k)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_refused(bad):
    x = np.ones((6, 3), np.float32)
    x[4, 1] = bad
    with pytest.raises(NonFiniteInput) as info:
        l1_topk(x, 2)
    assert "latents" in info.value.hint


def test_progress_reaches_all_block_pairs():
    calls: list[tuple[int, int]] = []
    l1_topk(
        np.random.default_rng(6).standard_normal((100, 3)).astype(np.float32),
        3,
        lambda done, total: calls.append((done, total)),
        block=8,
    )
    total = pair_count(100, 8)
    assert total == 13 * 14 // 2 and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted({d for d, _ in calls})


def test_block_rows_fit_the_cache_budget():
    assert block_rows(512) == 64 and block_rows(4096) == 16 and block_rows(3) == 256
    assert all(b % 4 == 0 for b in map(block_rows, range(1, 3000, 37)))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(2, 40), dim=st.integers(1, 20), block=st.sampled_from([4, 8, 20, 64]))
def test_property_equals_brute_force(data, n, dim, block):
    x = data.draw(arrays(np.float32, (n, dim), elements=st.integers(-3, 3).map(float)))
    k = data.draw(st.integers(1, n - 1))
    assert_same(x, k, block=block, threads=data.draw(st.integers(1, 3)))


def test_near_ties_below_float32_resolution_are_recomputed(monkeypatch):
    """Row 0's distances to all others differ only below float32 resolution at 512: its float32 candidate list
    is arbitrary, the rounding bound flags it and the float64 fallback restores the brute-force order."""
    from graphstore.extract import l1_topk as kernel

    rng = np.random.default_rng(8)
    n, dim = 200, 512
    x = np.ones((n, dim), np.float32)
    x[0] = 0
    x[np.arange(1, n), np.arange(1, n) % dim] += rng.uniform(0, 5e-5, n - 1).astype(np.float32)
    assert_same(x, 3)
    monkeypatch.setattr(kernel, "uncertain_rows", lambda *_: np.empty(0, np.int64))
    _, unchecked = l1_topk(x, 3)
    assert not np.array_equal(unchecked[0], brute(x, 3)[1][0])  # without the check this row would be wrong


def test_exact_in_float32_only_for_small_integers():
    assert exact_in_float32(np.array([[0, 3], [-7, 2]], np.float32))
    assert not exact_in_float32(np.array([[0, 0.5]], np.float32))
    assert not exact_in_float32(np.full((1, 512), 2.0**14, np.float32))


def test_overflowing_magnitudes_refused():
    with pytest.raises(NonFiniteInput, match="overflow"):
        l1_topk(np.full((4, 32), 1e37, np.float32), 2)


def test_far_offset_data_equals_brute_force_without_fallback(monkeypatch):
    """2 sum max - sum a - sum b cancels the rows' sums: centring the columns first keeps the rounding bound at the
    data's spread, so rows 10^4 away from the origin are still proven exact without the float64 scan."""
    from graphstore.extract import l1_topk as kernel

    rng = np.random.default_rng(9)
    x = (1e4 + rng.standard_normal((300, 64)) * [0.5]).astype(np.float32)
    flagged: list[int] = []
    check = kernel.uncertain_rows
    monkeypatch.setattr(kernel, "uncertain_rows", lambda *a: flagged.append(len(check(*a))) or check(*a))
    assert_same(x, 8, block=32)
    assert flagged == [0]


def test_negative_and_mixed_sign_floats_equal_brute_force():
    rng = np.random.default_rng(10)
    x = (rng.standard_normal((211, 40)) * rng.uniform(0.1, 30, 40)).astype(np.float32) - 5
    assert_same(x, 9, block=16, threads=2)
