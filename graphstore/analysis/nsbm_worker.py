"""Nested SBM levels with graph-tool, run by the Python that has graph-tool (Debian's python3-graph-tool).

Standalone on purpose (no graphstore imports): Debian's graph-tool is built for the system Python and its numpy,
so graphstore runs this file with that interpreter:  python3 nsbm_worker.py IN.npz OUT.npz
IN holds n, src, dst, weight (may be empty), seeds (one fit per seed, in one process so graph-tool is imported
once) and options (JSON: mh_sweeps, merge_sweeps, warm_start, refine_sweeps; {} = graph-tool's defaults).
OUT holds levels_<i> (L x n, finest first), dl_<i> (description length) and seconds_<i> for the i-th seed.
A fit is a function of (graph as given, seed, options): graph-tool runs on one OpenMP thread and its RNG gets a
nonzero seed (docs/METHODS.md D, "Reproducible fits").
"""

import json
import random
import sys
import time
from typing import Any

import numpy as np


def build(n, src, dst, weight):
    """The undirected graph-tool graph and its state arguments (degree-corrected, real-exponential weights)."""
    import graph_tool.all as gt  # deferred: only the system Python that runs this worker has graph-tool

    g = gt.Graph(directed=False)
    g.add_vertex(n)
    g.add_edge_list(np.column_stack([src, dst]))
    state_args: dict[str, Any] = {"deg_corr": True}
    if len(weight):
        prop = g.new_edge_property("double")
        prop.a = weight
        state_args.update(recs=[prop], rec_types=["real-exponential"])
    return g, state_args


def graph_tool_seed(seed):
    """graph-tool's RNG seed for a user seed >= 0: seed + 1, as graph-tool reads seed_rng(0) as "seed from
    std::random_device" (measured: seed 0 gave a new fit in every process), and + 1 keeps the seeds distinct."""
    return int(seed) + 1


def fit(g, state_args, seed, options, init_bs=None):
    """One minimisation of the nested SBM description length (graph-tool's minimize_nested_blockmodel_dl).

    options: mh_sweeps / merge_sweeps (sweeps per multilevel move, graph-tool's default 10 each), refine_sweeps
    (zero-temperature multiflip sweeps after the fit, 000's usual polish), init_bs (a previous fit: warm start).
    """
    import graph_tool.all as gt  # deferred: only the system Python that runs this worker has graph-tool

    gt.openmp_set_num_threads(1)  # parallel sweeps interleave by timing; one thread gives one order
    gt.seed_rng(graph_tool_seed(seed))
    np.random.seed(seed)
    random.seed(seed)
    mcmc = {k: int(options[k]) for k in ("mh_sweeps", "merge_sweeps") if k in options}
    state = gt.minimize_nested_blockmodel_dl(g, init_bs=init_bs, state_args=state_args, multilevel_mcmc_args=mcmc)
    for _ in range(int(options.get("refine_sweeps", 0))):
        state.multiflip_mcmc_sweep(beta=np.inf, niter=10)
    return state


def project(state, n):
    """The state's levels projected onto the vertices, finest first, up to the first single-block level."""
    membership = np.arange(n)
    levels = []
    for level in state.get_levels():
        membership = np.asarray(level.get_blocks().a)[membership]
        levels.append(membership.copy())
        if len(np.unique(membership)) == 1:
            break
    return np.vstack(levels) if levels else np.zeros((1, n), dtype=np.int64)


def nested_levels(n, src, dst, weight, seeds, options):
    """One fit per seed: (levels, description length, seconds) each."""
    g, state_args = build(n, src, dst, weight)
    out, previous = [], None
    for seed in seeds:
        tic = time.perf_counter()
        init = previous.get_bs() if previous is not None and options.get("warm_start") else None
        state = fit(g, state_args, int(seed), options, init)
        out.append((project(state, n), float(state.entropy()), time.perf_counter() - tic))
        previous = state
    return out


def main(argv):
    data = np.load(argv[1])
    options = json.loads(str(data["options"])) if "options" in data else {}
    seeds = data["seeds"] if "seeds" in data else [int(data["seed"])]
    fits = nested_levels(int(data["n"]), data["src"], data["dst"], data["weight"], seeds, options)
    arrays: dict[str, Any] = {}
    for i, (levels, dl, seconds) in enumerate(fits):
        arrays |= {f"levels_{i}": levels, f"dl_{i}": dl, f"seconds_{i}": seconds}
    np.savez(argv[2], **arrays)


if __name__ == "__main__":
    main(sys.argv)
