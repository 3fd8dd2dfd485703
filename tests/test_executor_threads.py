"""Experiment cells in a process pool share the cores instead of each running a torch thread per core."""

from __future__ import annotations

import os

import torch

from graphstore.experiments.executor import cell_pool, cores_per_worker


def test_each_pool_worker_gets_its_share_of_the_cores() -> None:
    cores = len(os.sched_getaffinity(0))
    assert cores_per_worker(1) == cores and cores_per_worker(cores * 4) == 1
    assert cores_per_worker(2) == max(1, cores // 2)
    with cell_pool(2) as pool:
        seen = {pool.submit(torch.get_num_threads).result() for _ in range(4)}
    assert seen == {max(1, cores // 2)}
