"""Module detection in sculpted (masked) MLPs and its scoring against a Boolean task's ground truth (METHODS E).

Units are the inputs, the hidden units and the outputs of a masked MLP; an edge is a kept weight. After removing
units without incoming or outgoing edges (repeated until stable), each unit's feature vector is the binarised
row of F = A + A^2 + ... + A^L (the later units it reaches). Per layer, units are clustered agglomeratively
(cosine distance, average linkage) with the k in [2, n-1] minimising the distance-based modularity Q; when k is 2
or n-1, or min Q > threshold, a clusterability test picks between that clustering, all units separate and a
single cluster (see `clusterability`). Input units are clustered too (an input group merged into no hidden
module is a level-1 module, as the overlap tasks' ground truth has it); output units are single-unit clusters.
Clusters are then merged bottom-up from the inputs (Edges(i->j)/Edges(i->*) and Edges(i->j)/Edges(*->j)
above the merge thresholds; only the second for output units). A module's level is 1 + the longest path to it
in the module graph (sources are level 1); output units merged into no hidden module count as modules (they
combine modules; `count_outputs` turns this off). Interpretation choices (the paper's code has no scorer and
the slides omit the test) are documented on the functions.

    result = score_modules(detect_modules(masks_of(model, masks), ModuleParams()), boolean_task("reused"))
    result = analyse_checkpoint("data/runs/12/round_21_epoch_60.pt")  # scored when the task has a ground truth
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import pdist, squareform

from graphstore.errors import GraphstoreError
from graphstore.nn.checkpoint import load_checkpoint
from graphstore.nn.datasets.boolean_modular import boolean_task
from graphstore.nn.models.base import prunable


@dataclass(frozen=True)
class ModuleParams:
    """Module detection in a sculpted MLP: per-layer clustering, clusterability test, bottom-up merging."""

    modularity_threshold: float = field(
        default=-0.2,
        metadata={"help": "Apply the clusterability test when the best modularity Q is above this (or k is 2 or n-1)."},
    )
    merge_out: float = field(
        default=0.9,
        metadata={"help": "Merge j into i when Edges(i->j)/Edges(i->*) exceeds this (not checked for output units)."},
    )
    merge_in: float = field(default=0.9, metadata={"help": "... and Edges(i->j)/Edges(*->j) exceeds this."})
    features: str = field(
        default="forward",
        metadata={
            "help": "Unit features: units reached within L hops forward (METHODS E), or along edges either way.",
            "choices": ("forward", "undirected"),
        },
    )
    clusterability: str = field(
        default="expected",
        metadata={
            "help": "Clusterability test: the authors' (cluster unions against expected overlap) or the older "
            "pairwise z rule, which splits reused modules.",
            "choices": ("expected", "pairwise"),
        },
    )
    count_outputs: bool = field(
        default=True,
        metadata={"help": "Count output units that merged into no hidden module as modules (they combine modules)."},
    )

    def __post_init__(self) -> None:
        if not (0 < self.merge_out <= 1 and 0 < self.merge_in <= 1):
            raise GraphstoreError(
                f"merge thresholds must be in (0, 1], got {self.merge_out}, {self.merge_in}.",
                "Use e.g. --merge-out 0.9 --merge-in 0.9.",
            )


@dataclass
class DetectedModule:
    """One detected module: its level, its units as (layer, index) pairs, and the inputs feeding it."""

    level: int
    units: list[tuple[int, int]]
    inputs: list[int]


@dataclass
class ModuleResult:
    """Detected modules, modules per level, the pruned architecture, and the score against a task (if any)."""

    modules: list[DetectedModule]
    modules_per_level: list[int]
    arch: list[int]
    ground_truth: list[int] | None = None
    truth_inputs: list[list[int]] | None = None
    success: bool | None = None
    reasons: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- graph


def live_masks(masks: list[np.ndarray]) -> list[np.ndarray]:
    """Masks ([out, in] bool, forward order) with every edge of a unit lacking in- or out-edges removed."""
    m = [np.asarray(x, dtype=bool).copy() for x in masks]
    while True:
        changed = False
        for i in range(len(m) - 1):  # hidden layer i+1: needs incoming (m[i] rows) and outgoing (m[i+1] cols)
            alive = m[i].any(1) & m[i + 1].any(0)
            if not alive.all() and (m[i][~alive].any() or m[i + 1][:, ~alive].any()):
                m[i][~alive], m[i + 1][:, ~alive], changed = False, False, True
        if not changed:
            return m


def layout(masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Layer index and index-within-layer of every unit (inputs are layer 0)."""
    sizes = [masks[0].shape[1], *(x.shape[0] for x in masks)]
    layer = np.repeat(np.arange(len(sizes)), sizes)
    return layer, np.concatenate([np.arange(s) for s in sizes])


def adjacency(masks: list[np.ndarray]) -> np.ndarray:
    """Binary forward adjacency over all units: A[u, v] = 1 when a kept weight goes from u to v."""
    sizes = [masks[0].shape[1], *(x.shape[0] for x in masks)]
    start = np.concatenate([[0], np.cumsum(sizes)])
    a = np.zeros((start[-1], start[-1]), dtype=np.int64)
    for i, m in enumerate(masks):  # one block per weight matrix
        a[start[i] : start[i + 1], start[i + 1] : start[i + 2]] = m.T
    return a


def reach_features(a: np.ndarray, depth: int) -> np.ndarray:
    """Binarised A + A^2 + ... + A^depth: which later units each unit reaches."""
    total, power = np.zeros_like(a), np.eye(len(a), dtype=np.int64)
    for _ in range(depth):
        power = np.minimum(power @ a, 1)
        total |= power
    return total.astype(bool)


# ---------------------------------------------------------------- clustering


def modularity(dist: np.ndarray, labels: np.ndarray) -> float:
    """Distance-based modularity Q = sum_c [sum_{i,j in c} D_ij - (sum_{i in c} sum_j D_ij)^2], D summing to 1."""
    d = dist / dist.sum() if dist.sum() > 0 else dist
    onehot = labels[:, None] == np.unique(labels)[None, :]
    within = np.einsum("ic,ij,jc->", onehot, d, onehot)
    return float(within - ((onehot.T @ d.sum(1)) ** 2).sum())


def overlap_z(features: np.ndarray) -> np.ndarray:
    """Pairwise z of the observed target overlap against E = N x, x = k_i k_j / N^2, sigma = sqrt(N x (1 - x))."""
    f = features.astype(float)
    n = max(f.shape[1], 1)
    x = np.outer(f.sum(1), f.sum(1)) / n**2
    sigma = np.sqrt(n * x * (1 - x))
    return np.where(sigma > 0, (f @ f.T - n * x) / np.where(sigma > 0, sigma, 1), 0.0)


def partition_z(z: np.ndarray, labels: np.ndarray) -> float:
    """Support for a partition: mean z of within-cluster pairs minus mean z of between-cluster pairs.

    Single cluster -> mean z of all pairs; all separate -> minus that; a clustering -> both terms.
    """
    upper = np.triu(np.ones_like(z, dtype=bool), 1)
    same = labels[:, None] == labels[None, :]
    within, between = z[upper & same], z[upper & ~same]
    return float((within.mean() if within.size else 0.0) - (between.mean() if between.size else 0.0))


def pairwise_clusterability(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The older graphstore rule (`--clusterability pairwise`): keep `labels`, or switch to all-separate or
    single-cluster, whichever partition has the larger mean within-minus-between pairwise overlap z.

    It scores every pair of units, so a reused module whose units feed different consumers (the minterms
    m1, m2, m3 of the reused task: m1 and m3 share no targets) looks like separate units and is split.
    Ties favour the single cluster, then the clustering.
    """
    z = overlap_z(features)
    n = len(labels)
    candidates = [np.zeros(n, dtype=int), labels, np.arange(n)]
    scores = [partition_z(z, c) for c in candidates]
    return candidates[int(np.argmax(scores))]


def overlap_test(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, float, float]:
    """k_a, k_b, observed overlap k_ab, expected overlap E = N x and sigma = sqrt(N x (1 - x)), x = k_a k_b / N^2."""
    n = max(len(a), 1)
    ka, kb, kab = int(a.sum()), int(b.sum()), int((a & b).sum())
    x = ka * kb / n**2
    return ka, kb, kab, n * x, float(np.sqrt(n * x * (1 - x)))


def cosine_tree(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average-linkage tree and condensed cosine distances of binary features (units without targets stay defined)."""
    f = features.astype(float)
    f[f.sum(1) == 0, :] = 1e-9
    condensed = np.nan_to_num(pdist(f, "cosine"), nan=1.0).clip(0, None)
    return linkage(condensed, "average"), condensed


def cut(features: np.ndarray, k: int) -> np.ndarray:
    """Exactly k agglomerative clusters (cosine distance, average linkage), as scikit-learn's n_clusters gives."""
    return cut_tree(cosine_tree(features)[0], n_clusters=k)[:, 0]


def separate_evidence(features: np.ndarray) -> float | None:
    """Evidence that a layer's units are all separate, or None when the test does not say so.

    The closest pair (the two-unit cluster of the (n-1)-clustering) is compared with chance: separate when its
    overlap is below both the larger degree and the expected overlap, or zero. Evidence = (E - k_ab) / sigma.
    """
    labels = cut(features, len(features) - 1) if len(features) > 2 else np.zeros(len(features), dtype=int)
    pair = np.flatnonzero(labels == np.bincount(labels).argmax())[:2]
    ka, kb, kab, e, sigma = overlap_test(features[pair[0]], features[pair[1]])
    if not ((kab < max(ka, kb) and kab <= e) or kab < 1):
        return None
    return (e - kab) / sigma if sigma > 0 else e - kab


def single_evidence(features: np.ndarray) -> float | None:
    """Evidence that a layer's units form a single cluster, or None when the test does not say so.

    The units are split in two clusters and each cluster's features OR-ed: one cluster when the two unions
    overlap at least once and at least as expected by chance, or one union contains the other.
    Evidence = (k_ab - E) / sigma. Because the unions are compared, a reused module whose units feed
    different consumers (m1 -> f, m2 -> f and g, m3 -> g) is one cluster: {m1, m2} reaches all that m3 reaches.
    """
    labels = cut(features, 2)
    ka, kb, kab, e, sigma = overlap_test(features[labels == 0].any(0), features[labels == 1].any(0))
    if not ((kab >= 1 and kab >= e) or kab >= max(ka, kb)):
        return None
    return (kab - e) / sigma if sigma > 0 else kab - e


def clusterability(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The authors' clusterability test (METHODS E step 4): single cluster, all separate, or keep `labels`.

    Both tests run; when both say yes, the larger evidence wins (ties to the single cluster); when neither
    does, the clustering is kept, so a clean split (two input pairs with disjoint targets) survives.
    """
    n, features = len(labels), features.astype(bool)
    single, separate = single_evidence(features), separate_evidence(features)
    if single is not None and (separate is None or single >= separate):
        return np.zeros(n, dtype=int)
    if separate is not None:
        return np.arange(n)
    return labels


def cluster_layer(features: np.ndarray, params: ModuleParams) -> np.ndarray:
    """Cluster labels (0..k-1) of one layer's units from their reach features."""
    n = len(features)
    if n < 2:
        return np.zeros(n, dtype=int)
    test = pairwise_clusterability if params.clusterability == "pairwise" else clusterability
    if n == 2:
        return test(features, np.array([0, 1]))
    tree, condensed = cosine_tree(features)
    dist = squareform(condensed)
    cuts = [cut_tree(tree, n_clusters=k)[:, 0] for k in range(2, n)]
    qs = np.array([modularity(dist, c) for c in cuts])
    best = int(np.flatnonzero(qs <= qs.min() + 1e-12)[-1])  # ties to larger k
    k = len(np.unique(cuts[best]))
    labels = np.unique(cuts[best], return_inverse=True)[1]
    if k in (2, n - 1) or qs[best] > params.modularity_threshold:
        labels = test(features, labels)
    return np.unique(labels, return_inverse=True)[1]


# ---------------------------------------------------------------- merging and levels


def merge_bottom_up(a: np.ndarray, layer: np.ndarray, clusters: np.ndarray, params: ModuleParams) -> np.ndarray:
    """Module label per unit: layer by layer from the inputs, merge cluster j into the module i feeding it.

    Edges(i->*) counts the edges leaving module i's units in the layer just below (the authors'
    merge_clusters.py `conn` rows), not those its lower layers send elsewhere."""
    module = clusters.copy()
    last = layer.max()
    for lv in range(1, last + 1):
        below, here = layer < lv, layer == lv
        mods, mod_idx = np.unique(module[below], return_inverse=True)
        cls, cl_idx = np.unique(module[here], return_inverse=True)
        bi = np.eye(len(mods), dtype=np.int64)[mod_idx]  # units below x modules
        bj = np.eye(len(cls), dtype=np.int64)[cl_idx]  # units here x clusters
        edges = bi.T @ a[np.ix_(below, here)] @ bj  # Edges(i->j)
        top = layer[below] == lv - 1  # Edges(i->*): out-edges of module i's units in the layer just below
        out_i = bi.T @ (a[np.ix_(below, here)].sum(1) * top)
        in_j = edges.sum(0)  # Edges(*->j): all incoming edges come from lower layers
        frac_out = edges / np.maximum(out_i, 1)[:, None]
        frac_in = edges / np.maximum(in_j, 1)[None, :]
        ok = frac_in > params.merge_in
        if lv < last:
            ok &= frac_out > params.merge_out
        target = np.where(ok.any(0), mods[ok.argmax(0)], cls)
        module[here] = target[cl_idx]
    return module


def module_levels(a: np.ndarray, module: np.ndarray) -> np.ndarray:
    """Level of each module (sorted unique labels): 1 + longest path from a source module."""
    mods, idx = np.unique(module, return_inverse=True)
    onehot = np.eye(len(mods), dtype=np.int64)[idx]
    dag = (onehot.T @ a @ onehot) > 0
    np.fill_diagonal(dag, False)
    level = np.ones(len(mods), dtype=np.int64)
    for _ in range(len(mods)):  # longest-path relaxation, at most one pass per module
        new = np.maximum(1, ((level[:, None] + 1) * dag).max(0))
        if (new == level).all():
            break
        level = new
    return level


# ---------------------------------------------------------------- entry points


def detect_modules(masks: list[np.ndarray], params: ModuleParams | None = None) -> ModuleResult:
    """Modules of a masked MLP given its weight masks ([out, in] bool, forward order, output layer last)."""
    params = params or ModuleParams()
    if not masks:
        raise GraphstoreError("No weight masks to analyse.", "Pass a sculpted MLP checkpoint (it stores masks).")
    live = live_masks(masks)
    layer, index = layout(live)
    a = adjacency(live)
    alive = (a.sum(0) + a.sum(1)) > 0
    if not alive.any():
        raise GraphstoreError("The masked network has no edges left.", "Sculpt with a lower --p-edge.")
    a, layer, index = a[np.ix_(alive, alive)], layer[alive], index[alive]
    undirected = params.features == "undirected"
    feats = reach_features(a | a.T if undirected else a, len(live))
    np.fill_diagonal(feats, False)
    clusters = np.zeros(len(layer), dtype=np.int64)
    offset, last = 0, layer.max()
    for lv in range(last + 1):
        here = layer == lv
        cols = layer != lv if undirected else layer > lv
        lab = np.arange(here.sum()) if lv == last else cluster_layer(feats[np.ix_(here, cols)], params)
        clusters[here], offset = lab + offset, offset + int(lab.max()) + 1
    module = merge_bottom_up(a, layer, clusters, params)
    arch = [int((layer == lv).sum()) for lv in range(last + 1)]
    return _result(a, layer, index, module, arch, params.count_outputs)


def _result(
    a: np.ndarray, layer: np.ndarray, index: np.ndarray, module: np.ndarray, arch: list[int], count_outputs: bool
) -> ModuleResult:
    """Modules with levels and input sets; outputs-only modules dropped unless count_outputs."""
    mods, idx = np.unique(module, return_inverse=True)
    levels = module_levels(a, module)
    onehot = np.eye(len(mods), dtype=bool)[idx]
    is_input, last = layer == 0, layer.max()
    fed = ((a[is_input] @ onehot) > 0) | onehot[is_input]  # inputs x modules: feeding it or merged into it
    keep = (onehot & (layer < last)[:, None]).any(0) | count_outputs
    found = [
        DetectedModule(
            int(levels[m]),
            [(int(layer[u]), int(index[u])) for u in np.flatnonzero(onehot[:, m])],
            sorted(int(i) for i in index[is_input][fed[:, m]]),
        )
        for m in np.flatnonzero(keep)
    ]
    found.sort(key=lambda d: (d.level, d.inputs, d.units))
    depth = max((d.level for d in found), default=0)
    per_level = [sum(d.level == lv for d in found) for lv in range(1, depth + 1)]
    return ModuleResult(found, per_level, arch)


def score_modules(result: ModuleResult, task: Any) -> ModuleResult:
    """Success = modules per level equal the ground truth and level-1 input sets equal the sub-functions'."""
    truth = list(task.modules_per_level)
    truth_inputs = sorted(sorted(s) for s in task.first_level_inputs())
    found_inputs = sorted(d.inputs for d in result.modules if d.level == 1)
    reasons = []
    if result.modules_per_level != truth:
        reasons.append(f"modules per level {result.modules_per_level} != ground truth {truth}")
    if found_inputs != truth_inputs:
        reasons.append(f"first-level input sets {found_inputs} != ground truth {truth_inputs}")
    result.ground_truth, result.truth_inputs = truth, truth_inputs
    result.success, result.reasons = not reasons, reasons
    return result


def masks_of(model: Any, masks: dict[str, Any]) -> list[np.ndarray]:
    """The model's prunable-layer masks as numpy bool arrays (all-True where a layer has none)."""
    return [
        np.asarray(masks[f"{n}.weight"].cpu().numpy(), dtype=bool)
        if f"{n}.weight" in masks
        else np.ones(tuple(m.weight.shape), dtype=bool)
        for n, m in prunable(model).prunable_layers()
    ]


def analyse_checkpoint(path: Any, params: ModuleParams | None = None) -> ModuleResult:
    """Detect modules in a checkpoint's masked MLP; score them when its dataset is a boolean-modular task."""
    ckpt = load_checkpoint(path)
    model = ckpt.build_model()
    if any(mod.weight.dim() != 2 for _, mod in prunable(model).prunable_layers()):
        raise GraphstoreError(
            f"{path} is not an MLP checkpoint.", "Module detection needs a sculpted MLP (graphstore prune sculpt ...)."
        )
    result = detect_modules(masks_of(model, ckpt.masks or {}), params)
    spec = ckpt.dataset.to_dict()
    if spec.get("name") == "boolean-modular":
        p = spec.get("params", {})
        result = score_modules(result, boolean_task(p.get("task", "reused"), int(p.get("outputs", 0) or 0)))
    return result
