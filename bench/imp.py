"""One IMP pruning step (global magnitude threshold + mask application) on vgg16 width 1.0.

    python -m bench.imp [--size 32] [--rate 0.2] [--threads 1,2] [--reps 2] [--quick]

Ours: graphstore.pruning.imp.magnitude_prune (a strided sample brackets the threshold, then chunked passes in
one reused 4 MiB buffer: a counting + bracket-gather pass, kthvalue on the bracket, a mask pass; no concatenation
and no sort). Anchors, each the same global step on the same weights and masks (after one earlier 20% round, so
pruned entries must be excluded), timed by perf_counter around the whole call:
- cat + kthvalue: torch.cat of every surviving |w|, torch.kthvalue(k), the same mask comparison (what a careful
  user writes; the strongest anchor);
- cat + topk: torch.cat, topk(k, largest=False), its largest value as the threshold;
- cat + sort: torch.cat, torch.sort, threshold at index k (an extra row: the common habit).
Ours prunes exactly k (ties at the threshold split); the anchors prune every tie, so the check is "each anchor's
kept set within ours, and ours prunes exactly k". Ours runs its chunked passes on one torch thread
(imp.PASS_THREADS) whatever the process setting; the anchors use the process's threads (each block's header).
vgg16 built for 32x32x3 / 10 classes has 33.6M prunable weights; --size 224 gives the 138M-weight model.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from bench.common import RssPeak, best, load, machine, ratios, record
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import make_model
from graphstore.pruning import imp
from graphstore.pruning.common import select_layers, weight_masks, weights_of
from graphstore.pruning.imp import magnitude_prune

Masks = dict[str, torch.Tensor]


def _alive(weights: Masks, masks: Masks) -> torch.Tensor:
    return torch.cat([w.abs()[masks[k]] for k, w in weights.items()])


def _apply(weights: Masks, masks: Masks, threshold: torch.Tensor) -> Masks:
    return {key: masks[key] & (w.abs() > threshold) for key, w in weights.items()}


def sort_step(weights: Masks, masks: Masks, rate: float) -> Masks:
    """Concatenate all surviving |w|, sort, threshold at the k-th."""
    alive = _alive(weights, masks)
    k = round(rate * alive.numel())
    return _apply(weights, masks, alive.sort().values[k - 1])


def kthvalue_step(weights: Masks, masks: Masks, rate: float) -> Masks:
    """Concatenate all surviving |w|, threshold at torch.kthvalue(k) (selection, no sort)."""
    alive = _alive(weights, masks)
    k = round(rate * alive.numel())
    return _apply(weights, masks, alive.kthvalue(k).values)


def topk_step(weights: Masks, masks: Masks, rate: float) -> Masks:
    """Concatenate all surviving |w|, threshold at the largest of topk(k, largest=False)."""
    alive = _alive(weights, masks)
    k = round(rate * alive.numel())
    return _apply(weights, masks, alive.topk(k, largest=False, sorted=False).values.max())


ANCHORS: dict[str, Callable[[Masks, Masks, float], Masks]] = {
    "cat_kthvalue": kthvalue_step,
    "cat_topk": topk_step,
    "cat_sort": sort_step,
}


def one_setting(weights: Masks, masks: Masks, args: argparse.Namespace, threads: int) -> None:
    """Ours and every anchor at `threads` torch threads: times, memory, agreement, one record."""
    torch.set_num_threads(threads)
    before = load()
    print(f"-- torch threads {threads}, load {before}")
    with RssPeak() as ours_mem:
        ours, t_ours = best(lambda: magnitude_prune(weights, masks, args.rate), args.reps)
    print(f"ours  (sample bracket + chunked passes): {t_ours:.3f} s, +{ours_mem.increase_mib:.0f} MiB RSS")
    alive = sum(int(m.sum()) for m in masks.values())
    exact = sum(int(m.sum()) for m in ours.values()) == alive - round(args.rate * alive)
    times: dict[str, float | None] = {}
    for name, step in ANCHORS.items():
        with RssPeak() as mem:
            kept, times[name] = best(lambda step=step: step(weights, masks, args.rate), args.reps)
        within = all(bool((kept[k] <= ours[k]).all()) for k in ours)
        print(
            f"{name:<13} {times[name]:.3f} s, +{mem.increase_mib:.0f} MiB RSS; {times[name] / t_ours:.2f}x ours; "
            f"kept set within ours: {within}"
        )
    print(f"ours prunes exactly k: {exact}")
    record(
        f"imp.prune_step.threads{threads}",
        {"seconds": round(t_ours, 4), "rss_increase_mib": round(ours_mem.increase_mib), "exact_k": exact},
        {f"{name}_s": round(t, 4) for name, t in times.items() if t is not None},
        None,
        ratios(t_ours, times),
        before,
        size={"vgg16_side": args.size, "rate": args.rate, "reps": args.reps, "torch_threads": threads},
        quick=args.quick,
    )


def main() -> None:
    """Build the model, make one prior round of masks, time ours vs the anchors."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to time (comma-separated)")
    parser.add_argument("--reps", type=int, default=2, help="calls per method; the fastest is kept")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="a narrow vgg16 (seconds): checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.width, args.threads, args.reps = 0.125, "1", 1
    info = DataInfo("bench", (3, args.size, args.size), tuple(str(i) for i in range(10)))
    torch.manual_seed(0)
    model = make_model("vgg16", info, {"width": args.width})
    masks = weight_masks(model, select_layers(model))
    weights = weights_of(model, masks)
    total = sum(m.numel() for m in masks.values())
    masks = magnitude_prune(weights, masks, args.rate)  # a prior round: excluded entries exist
    print(f"machine: {machine()}")
    print(f"vgg16 width {args.width} at {args.size}x{args.size}x3: {total:,} prunable weights, rate {args.rate}")
    for threads in (int(t) for t in args.threads.split(",")):
        one_setting(weights, masks, args, threads)
    imp.PASS_THREADS = torch.get_num_threads()
    _, t_wide = best(lambda: magnitude_prune(weights, masks, args.rate), args.reps)
    print(
        f"ours with {imp.PASS_THREADS} threads in the chunked passes (library default 1): {t_wide:.3f} s, load {load()}"
    )


if __name__ == "__main__":
    main()
