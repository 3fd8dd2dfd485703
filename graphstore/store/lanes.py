"""Parallel writes without lock conflicts: an edge table's rows in rounds of node-disjoint lanes, a node table's
in contiguous row ranges (creating a node locks nothing another writer takes).

Creating a relationship locks both endpoints until commit, and commit is most of a Neo4j write, so writers that
share nodes wait for each other (or deadlock). Nodes are split into 2L blocks by key; the circle method pairs
the blocks into 2L - 1 rounds of L disjoint block pairs, every pair once; a lane writes the edges between the two
blocks of its pair (round 0 also those inside each block). Lanes of one round touch disjoint nodes, so L
writers run a round side by side without conflicts. The row order is a pure function of (src, dst, L), so a
resumed write sees the same rows in the same places.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """Rows [lo, hi) of the scheduled order that one lane writes in one round."""

    round: int
    lane: int
    lo: int
    hi: int


def block_pairs(lanes: int) -> list[list[tuple[int, int]]]:
    """For 2*lanes blocks: rounds of `lanes` disjoint unordered pairs (a, b), a < b, covering every pair once."""
    p = 2 * lanes
    ring = list(range(1, p))
    rounds = []
    for r in range(p - 1):
        order = [0, *ring[r:], *ring[:r]]
        rounds.append([(min(order[i], order[p - 1 - i]), max(order[i], order[p - 1 - i])) for i in range(lanes)])
    return rounds


def schedule(src: np.ndarray, dst: np.ndarray, lanes: int) -> tuple[np.ndarray, list[Segment]]:
    """(order, segments): a permutation of the rows and, per round and lane, the slice of it that lane writes.

    Rows of one segment keep their table order (a stable sort); segments are listed round by round."""
    blocks = 2 * lanes
    bs, bd = np.asarray(src) % blocks, np.asarray(dst) % blocks
    cell = np.full((blocks, blocks), -1, dtype=np.int64)  # block pair -> segment number
    for r, pairs in enumerate(block_pairs(lanes)):
        for lane, (a, b) in enumerate(pairs):
            cell[a, b] = cell[b, a] = r * lanes + lane
            if r == 0:
                cell[a, a] = cell[b, b] = lane
    seg = cell[bs, bd]
    order = np.argsort(seg, kind="stable")
    counts = np.bincount(seg, minlength=(blocks - 1) * lanes)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    segments = [
        Segment(s // lanes, s % lanes, int(bounds[s]), int(bounds[s + 1])) for s in range(len(counts)) if counts[s]
    ]
    return order, segments


def lanes_key(part: str, name: str) -> str:
    """Where a write's progress records how many lanes a table is written in: progress["lanes"][key]."""
    return f"{part}/{name}"


def split_rows(n: int, lanes: int) -> list[Segment]:
    """One round of `lanes` contiguous, nearly equal row ranges of a table of n rows (a node table's lanes)."""
    bounds = np.linspace(0, n, lanes + 1).round().astype(int)
    return [
        Segment(0, lane, int(bounds[lane]), int(bounds[lane + 1]))
        for lane in range(lanes)
        if bounds[lane] < bounds[lane + 1]
    ]
