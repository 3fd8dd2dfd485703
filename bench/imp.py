"""One IMP pruning step (global magnitude threshold + mask application) on vgg16 width 1.0.

    python -m bench.imp [--size 32] [--rate 0.2] [--threads 1,2]

Ours: graphstore.pruning.imp.magnitude_prune (a strided sample brackets the threshold, then chunked passes in
one reused 4 MiB buffer: a counting + bracket-gather pass, kthvalue on the bracket, a mask pass; no concatenation
and no sort). Anchor: the naive step, torch.cat of every surviving |w|, torch.sort, threshold at index k, the same
mask comparison. Both on the same weights and masks (after one earlier 20% round, so pruned entries must be
excluded). Ours prunes exactly k (ties at the threshold split); the anchor prunes every tie, so the check is
"anchor's kept set within ours, and ours prunes exactly k". Ours runs its chunked passes on one torch thread
(imp.PASS_THREADS) whatever the process setting; the anchor uses the process's threads (each block's header).
vgg16 built for 32x32x3 / 10 classes has 33.6M prunable weights; --size 224 gives the 138M-weight model.
"""

from __future__ import annotations

import argparse
import os

import torch

from bench.common import RssPeak, machine, timed
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import make_model
from graphstore.pruning import imp
from graphstore.pruning.common import select_layers, weight_masks, weights_of
from graphstore.pruning.imp import magnitude_prune


def naive_step(weights: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], rate: float) -> dict:
    """Concatenate all surviving |w|, sort, threshold at the k-th: the anchor."""
    alive = torch.cat([w.abs()[masks[k]] for k, w in weights.items()])
    k = round(rate * alive.numel())
    threshold = alive.sort().values[k - 1]
    return {key: masks[key] & (w.abs() > threshold) for key, w in weights.items()}


def main() -> None:
    """Build the model, make one prior round of masks, time ours vs the anchor."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to time (comma-separated)")
    args = parser.parse_args()
    info = DataInfo("bench", (3, args.size, args.size), tuple(str(i) for i in range(10)))
    torch.manual_seed(0)
    model = make_model("vgg16", info, {"width": 1.0})
    masks = weight_masks(model, select_layers(model))
    weights = weights_of(model, masks)
    total = sum(m.numel() for m in masks.values())
    masks = magnitude_prune(weights, masks, args.rate)  # a prior round: excluded entries exist
    print(f"machine: {machine()}")
    print(f"vgg16 width 1.0 at {args.size}x{args.size}x3: {total:,} prunable weights, rate {args.rate}")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        print(f"-- torch threads {threads}, load {os.getloadavg()[0]:.2f}")
        with RssPeak() as ours_mem:
            ours, t_ours = timed(lambda: magnitude_prune(weights, masks, args.rate))
        with RssPeak() as naive_mem:
            naive, t_naive = timed(lambda: naive_step(weights, masks, args.rate))
        print(f"ours  (sample bracket + chunked passes): {t_ours:.3f} s, +{ours_mem.increase_mib:.0f} MiB RSS")
        print(f"naive (cat + sort):                      {t_naive:.3f} s, +{naive_mem.increase_mib:.0f} MiB RSS")
        alive = sum(int(m.sum()) for m in masks.values())
        exact = sum(int(m.sum()) for m in ours.values()) == alive - round(args.rate * alive)
        ties = sum(int((ours[k] & ~naive[k]).sum()) for k in ours)
        same = exact and all(bool((naive[k] <= ours[k]).all()) for k in ours)
        print(
            f"speed-up {t_naive / t_ours:.1f}x; ours prunes exactly k and differs from the anchor only by "
            f"re-keeping {ties} weights tied at the threshold (the anchor prunes every tie): {same}"
        )
    imp.PASS_THREADS = torch.get_num_threads()
    _, t_wide = timed(lambda: magnitude_prune(weights, masks, args.rate))
    print(
        f"ours with {imp.PASS_THREADS} threads in the chunked passes (library default 1): {t_wide:.3f} s, "
        f"load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
