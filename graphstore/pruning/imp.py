"""Iterative magnitude pruning / lottery tickets (docs/METHODS.md B1): train, prune p of the survivors by |w|, rewind.

The prune step is a pure function of weights and masks (`magnitude_prune`), so the schedule is testable without
training: after t rounds at rate p the sparsity is 1 - (1 - p)^t up to rounding of weight counts. The global
threshold never sorts or concatenates all weights: a strided sample brackets the k-th smallest |w|, one counting
pass and one gather of the bracket find it exactly (`kth_smallest`), and ties at the threshold are split so that
exactly k weights go.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphstore.nn import distributed
from graphstore.nn.models import spec_of
from graphstore.nn.models.base import PrunableLayer
from graphstore.nn.train import config_dict
from graphstore.params import to_dict
from graphstore.progress import ProgressCallback
from graphstore.pruning import SCOPES, ImpParams
from graphstore.pruning.common import (
    Masks,
    PruningRun,
    RoundRecord,
    Start,
    rewind,
    rewind_state,
    select_layers,
    torch_threads,
    weight_masks,
    weights_of,
)
from graphstore.pruning.msf import mst_keep_masks


def expected_sparsity(rate: float, rounds: int) -> float:
    """1 - (1 - p)^t: the cumulative sparsity of t rounds at rate p."""
    return 1.0 - (1.0 - rate) ** rounds


CHUNK = 1 << 20  # entries per pass chunk (4 MiB of float32)
SAMPLE = 1 << 20  # strided-sample size that brackets the global threshold
PASS_THREADS = 1  # torch threads for the chunked passes: 4 MiB chunks are cache-sized, and on a shared machine
# intra-op threads mostly wait at each op's barrier (vgg16 at 224, load ~4: 1.4 s with 1 thread, 9.6 s with 2)


NAN = torch.tensor(math.nan)
Chunks = Callable[[], Iterator[torch.Tensor]]


def kth_smallest(scores: Sequence[torch.Tensor], k: int, valid: int, sample_size: int = 1 << 20) -> tuple[float, int]:
    """(v, c): the k-th smallest (1-based) non-negative entry v over all tensors and the count c of entries <= v.

    Negative and NaN entries are excluded (`valid` counts the others). No full sort and no concatenation of all
    entries: a strided sample brackets v, one counting pass and one gather of the bracket find it exactly.
    """
    flats = [s.reshape(-1) for s in scores]
    total = sum(f.numel() for f in flats)
    step = max(1, total // sample_size)
    sample = torch.cat([f[::step] for f in flats])
    return _select(lambda: iter(flats), sample[sample >= 0], k, valid, total)[:2]


def _select(chunks: Chunks, sample: torch.Tensor, k: int, valid: int, total: int) -> tuple[float, int, torch.Tensor]:
    """(v, c, ties): k-th smallest valid entry over `chunks()` (each call a fresh pass), the count of entries <= v,
    and the flat positions (over the concatenated chunks) of the entries equal to v; bracketed by `sample`."""
    ns = sample.numel()
    if ns >= 1000 and valid > 4 * ns:
        q = k / valid
        margin = 6.0 * math.sqrt(max(q * (1 - q), 1.0 / ns) / ns) + 2.0 / ns
        lo_rank, hi_rank = math.floor((q - margin) * ns), math.ceil((q + margin) * ns)
        lo = float(sample.kthvalue(lo_rank).values) if lo_rank >= 1 else 0.0
        hi = float(sample.kthvalue(hi_rank).values) if hi_rank <= ns else math.inf
        above, offset, parts, where = 0, 0, [], []
        for c in chunks():
            ge = c >= lo
            above += int(torch.count_nonzero(ge))
            idx = torch.nonzero(ge.logical_and_(c <= hi)).reshape(-1)
            parts.append(c[idx])
            where.append(idx + offset)
            offset += c.numel()
        below = total - above - (total - valid)
        band = torch.cat(parts)
        if 1 <= k - below <= band.numel():
            value = float(band.kthvalue(k - below).values)
            at = band == value
            return value, below + int(torch.count_nonzero(band <= value)), torch.cat(where)[at]
    every, where, offset = [], [], 0
    for c in chunks():
        idx = torch.nonzero(c >= 0).reshape(-1)
        every.append(c[idx])
        where.append(idx + offset)
        offset += c.numel()
    band = torch.cat(every)
    value = float(band.kthvalue(k).values)
    return value, int(torch.count_nonzero(band <= value)), torch.cat(where)[band == value]


def _score_chunks(
    weights: dict[str, torch.Tensor], masks: Masks, alive: dict[str, int], forced: Masks | None, keys: Sequence[str]
) -> Iterator[torch.Tensor]:
    """|w| chunk by chunk (pruned NaN, forced +inf) in one reused buffer; consume each before the next."""
    buf, chunk = None, CHUNK
    for key in keys:
        w, mask = weights[key].detach().reshape(-1), masks[key].reshape(-1)
        pin = forced[key].reshape(-1) if forced is not None and key in forced else None
        buf = (
            torch.empty(min(chunk, w.numel()), dtype=torch.float32, device=w.device)
            if buf is None or buf.numel() < min(chunk, w.numel())
            else buf
        )
        for i in range(0, w.numel(), chunk):
            part = torch.abs(w[i : i + chunk], out=buf[: min(chunk, w.numel() - i)])
            if alive[key] < w.numel():
                torch.where(mask[i : i + chunk], part, NAN, out=part)
            if pin is not None:
                part.masked_fill_(pin[i : i + chunk] & mask[i : i + chunk], math.inf)
            yield part


def _sample(
    weights: dict[str, torch.Tensor], masks: Masks, forced: Masks | None, keys: Sequence[str], step: int
) -> torch.Tensor:
    """Valid scores at every `step`-th entry (forced entries as +inf), for bracketing the threshold."""
    parts = []
    for key in keys:
        w, mask = weights[key].detach().reshape(-1)[::step].abs().float(), masks[key].reshape(-1)[::step]
        if forced is not None and key in forced:
            w = w.masked_fill(forced[key].reshape(-1)[::step], math.inf)
        parts.append(w[mask])
    return torch.cat(parts)


def _drop_smallest(
    weights: dict[str, torch.Tensor],
    masks: Masks,
    alive: dict[str, int],
    forced: Masks | None,
    keys: Sequence[str],
    k: int,
) -> Masks:
    """New masks for `keys` keeping every survivor except exactly the k smallest |w| (ties split in key order)."""
    if k <= 0:
        return {key: masks[key].clone() for key in keys}
    total, valid = sum(weights[key].numel() for key in keys), sum(alive[key] for key in keys)
    sample = _sample(weights, masks, forced, keys, max(1, total // SAMPLE))
    t, at_most, ties = _select(lambda: _score_chunks(weights, masks, alive, forced, keys), sample, k, valid, total)
    keep = {key: torch.empty(masks[key].shape, dtype=torch.bool, device=weights[key].device) for key in keys}
    flat_keep = [keep[key].reshape(-1) for key in keys]
    bounds = [(j, i) for j, key in enumerate(keys) for i in range(0, weights[key].numel(), CHUNK)]
    for (j, i), part in zip(bounds, _score_chunks(weights, masks, alive, forced, keys), strict=True):
        torch.gt(part, t, out=flat_keep[j][i : i + part.numel()])
    ties = ties[: max(0, at_most - k)]  # re-keep these entries equal to t (ties at the threshold) so exactly k go
    if ties.numel():
        ends = torch.tensor([weights[key].numel() for key in keys]).cumsum(0)
        owner = torch.searchsorted(ends, ties.cpu(), right=True)
        for j in owner.unique().tolist():
            start = int(ends[j - 1]) if j else 0
            flat_keep[j][ties[owner.to(ties.device) == j] - start] = True
    return keep


def magnitude_prune(
    weights: dict[str, torch.Tensor], masks: Masks, rate: float, scope: str = "global", forced: Masks | None = None
) -> Masks:
    """One pruning step: drop round(rate * survivors) smallest |w| (globally or per layer); forced entries stay.

    Pure: returns new bool masks for the keys of `weights` (CPU); inputs are not modified. If forced entries
    leave fewer than the budget to drop, every unforced survivor is dropped (the schedule then lags).
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    weights = {key: w.detach().to(masks[key].device) for key, w in weights.items()}  # masks decide the device
    alive = {key: int(torch.count_nonzero(masks[key])) for key in weights}
    pinned = {
        key: int(torch.count_nonzero(forced[key] & masks[key])) if forced and key in forced else 0 for key in weights
    }
    groups = [list(weights)] if scope == "global" else [[key] for key in weights]
    out: Masks = {}
    with torch_threads(PASS_THREADS):
        for keys in groups:
            n_alive = sum(alive[key] for key in keys)
            budget = min(n_alive - sum(pinned[key] for key in keys), round(rate * n_alive))
            out.update(_drop_smallest(weights, masks, alive, forced, keys, budget))
    return {key: m.to("cpu") for key, m in out.items()}


KeepFn = Callable[[nn.Module, list[tuple[str, PrunableLayer]], Masks], tuple[Masks, dict[str, float]]]


def run_imp(
    start: Start,
    params: ImpParams,
    config: Any,
    data_dir: str | Path,
    tracking_url: str | None,
    progress: ProgressCallback | None = None,
    rewind_to: dict[str, torch.Tensor] | None = None,
    kind: str = "prune-imp",
    keep_fn: KeepFn | None = None,
    method_params: Any = None,
    on_round: Callable[[RoundRecord], None] | None = None,
) -> PruningRun:
    """Run IMP from `start`: round 0 records the start, rounds 1..n prune, rewind, retrain; returns the run.

    `keep_fn(model, layers, masks) -> (forced masks, extra metrics)` lets a variant (T-IMP) force weights to
    stay before the magnitude fill; its metrics are logged with the round.
    """
    model, layers = start.model, select_layers(start.model, params.layers, params.exclude_output)
    masks = weight_masks(model, layers, start.masks)
    keys = [f"{name}.weight" for name, _ in layers]
    state = _rewind_target(start, params, data_dir, rewind_to)
    record = {
        "method": to_dict(method_params or params),
        "train": config_dict(config),
        "model": spec_of(model).to_dict(),
        "dataset": start.data.spec.to_dict(),
    }
    name = f"{kind}-{spec_of(model).name}-{start.data.spec.name}"
    with PruningRun(data_dir, tracking_url, kind, name, record, start, config.seed, config.device) as run:
        forced, extra = _measure(model, layers, masks, params, keep_fn)
        _notify(on_round, run.record_start(masks, extra))
        for r in range(1, params.rounds + 1):
            chosen = {key: masks[key] for key in keys}
            step = partial(magnitude_prune, weights_of(model, chosen), chosen, params.rate, params.scope, forced)
            masks = {**masks, **distributed.from_lead(step)}  # under torchrun: rank 0 decides, every rank applies
            rewind(model, state, masks)
            record_r = run.train_round(r, model, masks, config, progress)
            forced, extra = _measure(model, layers, masks, params, keep_fn)
            if extra:
                run.metrics(r, extra)
                record_r.metrics.update(extra)
            _notify(on_round, record_r)
    return run


def _measure(
    model: nn.Module, layers: list[tuple[str, PrunableLayer]], masks: Masks, params: ImpParams, keep_fn: KeepFn | None
) -> tuple[Masks | None, dict[str, float]]:
    """(forced masks or None, topology metrics) of the current weights, before the next pruning step; under
    torchrun only rank 0 measures (it alone decides the masks and logs the metrics)."""
    if distributed.rank() != 0:
        return None, {}
    if keep_fn is not None:
        return keep_fn(model, layers, masks)
    if not params.track_topology:
        return None, {}
    return None, mst_keep_masks(layers, masks)[1]


def _notify(fn: Callable[[RoundRecord], None] | None, record: RoundRecord) -> None:
    """Call the per-round callback if any."""
    if fn is not None:
        fn(record)


def _rewind_target(start: Start, params: ImpParams, data_dir: str | Path, given: dict | None) -> dict | None:
    """The state survivors are rewound to: theta_0, the epoch-k state, or None (keep trained weights)."""
    if params.rewind == "none":
        return None
    if params.rewind == "init":
        return start.theta0
    return given if given is not None else rewind_state(data_dir, start, params.rewind_epoch)
