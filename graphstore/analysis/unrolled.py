"""The unrolled (Toeplitz) graph of a convolution and its maximum spanning forest in bounded memory (METHODS F).

004 (Thm. 3.2, App. A) counts a convolution as the fully connected layer of its Toeplitz matrix: input nodes are the
positions of the *padded* input, H'_in W'_in per channel with H'_in = H_in + 2 p_h; output nodes are the
H_out W_out positions per output channel, H_out = (H'_in - k_h) / s_h + 1; each kernel weight w[o, i, a, b] is an
edge from input (i, y s_h + a d_h, x s_w + b d_w) to output (o, y, x) for every output position (y, x), so a
channel pair has k_h k_w H_out W_out edges. 004's per-layer ratio (App. E) is that of one channel pair:
k_h k_w H_out W_out / (H'_in W'_in + H_out W_out - 1).

The whole layer's unrolled graph has C_in C_out k_h k_w H_out W_out edges (7.2 M for a 3x3 32 -> 32 conv on
28 x 28), so it is never materialised. Its MSF comes from Kruskal in chunks: the kernel weights are sorted once by
descending |w| (all edges of one weight share its value); each chunk expands the next weights into at most
`chunk_edges` edges, maps their endpoints to the current component roots, drops loops, keeps the first
(heaviest) edge per root pair, and takes scipy's spanning forest of that contracted graph with the edge's rank as
its weight (minimum rank = maximum |w|, ties broken by rank). The union of those forests is the MSF (Kruskal's
cut property, chunk by chunk). Memory: O(nodes + chunk_edges). The forest usually spans every node long before
the last weight, and the loop stops as soon as it does (a layer with isolated nodes reads every edge). Time and
memory are measured in bench/RESULTS.md (bench/topology.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

CHUNK_EDGES = 1 << 16  # ~12 MiB peak; smaller chunks also stop sooner once the forest spans every node


@dataclass(frozen=True)
class ConvGeometry:
    """The shape of a 2-D convolution as a graph: channels, kernel, input size, padding, stride, dilation."""

    c_in: int
    c_out: int
    kernel: tuple[int, int]
    in_size: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)

    @property
    def padded(self) -> tuple[int, int]:
        """(H'_in, W'_in) = input size plus padding on both sides."""
        return self.in_size[0] + 2 * self.padding[0], self.in_size[1] + 2 * self.padding[1]

    @property
    def out_size(self) -> tuple[int, int]:
        """(H_out, W_out) of the convolution."""
        hp, wp = self.padded
        span_h = self.dilation[0] * (self.kernel[0] - 1) + 1
        span_w = self.dilation[1] * (self.kernel[1] - 1) + 1
        return (hp - span_h) // self.stride[0] + 1, (wp - span_w) // self.stride[1] + 1

    @property
    def n_in(self) -> int:
        """Input nodes of the whole layer's unrolled graph (padded positions of every input channel)."""
        return self.c_in * self.padded[0] * self.padded[1]

    @property
    def n_out(self) -> int:
        """Output nodes of the whole layer's unrolled graph."""
        return self.c_out * self.out_size[0] * self.out_size[1]

    def pair_counts(self) -> tuple[int, int]:
        """(edges, spanning-tree edges) of one channel pair's dense unrolled graph: 004's per-layer convention."""
        hp, wp = self.padded
        positions = self.out_size[0] * self.out_size[1]
        return self.kernel[0] * self.kernel[1] * positions, hp * wp + positions - 1


def conv_geometry(conv: object, in_size: tuple[int, int]) -> ConvGeometry:
    """The geometry of a torch Conv2d (groups = 1, numeric padding) applied to an input of `in_size`."""
    groups, padding = getattr(conv, "groups", 1), getattr(conv, "padding")  # noqa: B009 - any Conv2d-like object
    if groups != 1 or isinstance(padding, str):
        raise ValueError(f"The unrolled graph needs groups=1 and numeric padding (got groups={groups}, {padding=}).")
    return ConvGeometry(
        int(getattr(conv, "in_channels")),  # noqa: B009
        int(getattr(conv, "out_channels")),  # noqa: B009
        tuple(getattr(conv, "kernel_size")),  # noqa: B009
        (int(in_size[0]), int(in_size[1])),
        tuple(padding),
        tuple(getattr(conv, "stride")),  # noqa: B009
        tuple(getattr(conv, "dilation")),  # noqa: B009
    )


@dataclass
class UnrolledForest:
    """The MSF of a conv layer's unrolled graph: endpoints (unrolled node numbers), |w| and rank of each edge."""

    out_nodes: np.ndarray
    in_nodes: np.ndarray
    magnitudes: np.ndarray
    ranks: np.ndarray
    edges: int


def unrolled_msf(kernel: np.ndarray, geom: ConvGeometry, chunk_edges: int = CHUNK_EDGES) -> UnrolledForest:
    """Maximum spanning forest of the unrolled graph of a (C_out, C_in, k_h, k_w) magnitude kernel (0 = no edge).

    Input node (i, y, x) is i H'W' + y W' + x over the padded input; output node (o, y, x) is o H_out W_out +
    y W_out + x. An edge's rank is its position in the order of descending |w| (ties: kernel index, then output
    position), the order that also defines the top-k edges for the overlap.
    """
    (hp, wp), (ho, wo) = geom.padded, geom.out_size
    positions, n_in = ho * wo, geom.n_in
    nodes = n_in + geom.n_out
    flat = np.abs(np.asarray(kernel, dtype=np.float32)).reshape(-1)
    present = np.flatnonzero(flat > 0)
    order = present[np.argsort(-flat[present], kind="stable")]
    o, i, a, b = np.unravel_index(order, kernel.shape)
    base_in = i * hp * wp + a * geom.dilation[0] * wp + b * geom.dilation[1]
    base_out = n_in + o * positions
    oy, ox = np.divmod(np.arange(positions, dtype=np.int64), wo)
    off_in, off_out = oy * geom.stride[0] * wp + ox * geom.stride[1], np.arange(positions, dtype=np.int64)
    parent = np.arange(nodes, dtype=np.int64)
    step = max(1, chunk_edges // max(1, positions))
    found: list[np.ndarray] = []
    total = 0
    for s in range(0, len(order), step):
        u = (base_in[s : s + step, None] + off_in[None, :]).reshape(-1)
        v = (base_out[s : s + step, None] + off_out[None, :]).reshape(-1)
        picked = _chunk_forest(parent, u, v, nodes)
        if picked.size:
            found.append(picked + s * positions)
            total += picked.size
        if total >= nodes - 1:
            break
    ranks = np.concatenate(found) if found else np.zeros(0, np.int64)
    weight_at = order[ranks // positions]
    pos = ranks % positions
    out_nodes = base_out[ranks // positions] + pos - n_in
    in_nodes = base_in[ranks // positions] + off_in[pos]
    return UnrolledForest(out_nodes, in_nodes, flat[weight_at], ranks, int(present.size) * positions)


def _chunk_forest(parent: np.ndarray, u: np.ndarray, v: np.ndarray, nodes: int) -> np.ndarray:
    """Positions (into u, v) of the spanning-forest edges this chunk adds; merges their components in `parent`.

    `parent` is kept flat (every node points at its root), so a root lookup is one gather.
    """
    ru, rv = parent[u], parent[v]
    live = np.flatnonzero(ru != rv)
    if not live.size:
        return live
    lo, hi = np.minimum(ru[live], rv[live]), np.maximum(ru[live], rv[live])
    _, first = np.unique(lo * nodes + hi, return_index=True)  # the heaviest (lowest-rank) edge per root pair
    live, lo, hi = live[first], lo[first], hi[first]
    roots, inverse = np.unique(np.concatenate([lo, hi]), return_inverse=True)
    k = live.size
    graph = coo_matrix((live + 1.0, (inverse[:k], inverse[k:])), shape=(roots.size, roots.size)).tocsr()
    tree = minimum_spanning_tree(graph)
    _, labels = connected_components(tree, directed=False)
    _, rep_at = np.unique(labels, return_index=True)
    parent[roots] = roots[rep_at][labels]
    parent[:] = parent[parent]
    return np.sort(tree.tocoo().data.astype(np.int64) - 1)
