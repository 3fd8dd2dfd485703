"""Nested SBM levels with graph-tool, run by the Python that has graph-tool (Debian's python3-graph-tool).

Standalone on purpose (no graphstore imports): Debian's graph-tool is built for the system Python and its numpy,
so graphstore runs this file with that interpreter:  python3 nsbm_worker.py IN.npz OUT.npz
IN holds n, src, dst, weight (may be empty) and seed; OUT holds levels (L x n), finest first.
"""

import sys

import numpy as np


def nested_levels(n, src, dst, weight, seed):
    """Degree-corrected nested SBM (real-exponential edge covariate when weighted), projected onto vertices."""
    import graph_tool.all as gt  # deferred: only the system Python that runs this worker has graph-tool

    gt.seed_rng(seed)
    np.random.seed(seed)
    g = gt.Graph(directed=False)
    g.add_vertex(n)
    g.add_edge_list(np.column_stack([src, dst]))
    state_args = {"deg_corr": True}
    if len(weight):
        prop = g.new_edge_property("double")
        prop.a = weight
        state_args.update(recs=[prop], rec_types=["real-exponential"])
    state = gt.minimize_nested_blockmodel_dl(g, state_args=state_args)
    membership = np.arange(n)
    levels = []
    for level in state.get_levels():
        membership = np.asarray(level.get_blocks().a)[membership]
        levels.append(membership.copy())
        if len(np.unique(membership)) == 1:
            break
    return np.vstack(levels) if levels else np.zeros((1, n), dtype=np.int64)


def main(argv):
    data = np.load(argv[1])
    levels = nested_levels(int(data["n"]), data["src"], data["dst"], data["weight"], int(data["seed"]))
    np.savez(argv[2], levels=levels)


if __name__ == "__main__":
    main(sys.argv)
