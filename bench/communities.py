"""Community detection on a 1,000,000-edge kNN graph: our client path (igraph Louvain, leidenalg Leiden) vs
networkx's louvain_communities (the habit of 003), and GDS Louvain inside Neo4j on the same graph.

    python -m bench.communities [--points 100000] [--k 13] [--anchor-edges 200000] [--no-gds]

The kNN graph: Gaussian clusters in 16 dimensions, exact L2 kNN (faiss), undirected union, about 1M edges.
networkx is run on the first --anchor-edges edges (a subgraph) and reported as edges/s; pass --anchor-edges 0 to
run it on the whole graph (several minutes).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from bench.common import load, machine, neo4j_settings, ratios, record, timed
from graphstore.analysis.communities import CommunityParams, leiden_client, louvain_client
from graphstore.graph import Graph


def knn_graph(points: int, k: int, seed: int = 0) -> Graph:
    """Undirected union kNN graph of Gaussian clusters (faiss exact L2)."""
    import faiss

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (50, 16)).astype(np.float32)
    x = (centres[rng.integers(0, 50, points)] + rng.normal(0, 1, (points, 16))).astype(np.float32)
    index = faiss.IndexFlatL2(16)
    index.add(x)
    _, nbrs = index.search(x, k + 1)
    src = np.repeat(np.arange(points), k)
    dst = nbrs[:, 1:].reshape(-1)
    pairs = np.unique(np.sort(np.column_stack([src, dst]), axis=1), axis=0)
    graph = Graph("bench-communities", "knn")
    graph.add_nodes("Sample", np.arange(points))
    graph.add_edges("KNN", "Sample", "Sample", pairs[:, 0], pairs[:, 1], directed=False)
    return graph


def networkx_rate(graph: Graph, edges: int) -> tuple[float, float]:
    """(seconds, edges/s) of networkx louvain_communities on the first `edges` edges."""
    import networkx as nx

    table = graph.edges["KNN"]
    m = len(table) if edges <= 0 else min(edges, len(table))
    g = nx.Graph()
    g.add_edges_from(zip(table.src[:m].tolist(), table.dst[:m].tolist(), strict=True))
    _, seconds = timed(lambda: nx.community.louvain_communities(g, seed=0))
    return seconds, m / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=13)
    parser.add_argument("--anchor-edges", type=int, default=200_000)
    parser.add_argument("--no-gds", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no GDS (seconds): the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.points, args.anchor_edges, args.no_gds = 2000, 5000, True
    before = load()
    print(f"machine: {machine()}")
    graph, seconds = timed(lambda: knn_graph(args.points, args.k))
    m = len(graph.edges["KNN"])
    print(f"kNN graph: {args.points:,} nodes, {m:,} undirected edges (built in {seconds:.1f} s)")
    louvain, t_louvain = timed(lambda: louvain_client(graph, CommunityParams()))
    print(
        f"igraph Louvain: {t_louvain:.2f} s, {louvain.summary['communities']} communities, "
        f"modularity {louvain.summary['modularity']:.4f}"
    )
    leiden, t_leiden = timed(lambda: leiden_client(graph, CommunityParams()))
    print(
        f"leidenalg Leiden: {t_leiden:.2f} s, {leiden.summary['communities']} communities, "
        f"modularity {leiden.summary['modularity']:.4f}"
    )
    nx_seconds, nx_rate = networkx_rate(graph, args.anchor_edges)
    anchor_full = m / nx_rate
    print(
        f"networkx louvain_communities (anchor): {nx_rate:,.0f} edges/s "
        f"({nx_seconds:.1f} s on {min(m, args.anchor_edges or m):,} edges; {anchor_full:.0f} s at {m:,} edges)"
    )
    print(f"ratio networkx / igraph Louvain at {m:,} edges: {anchor_full / t_louvain:.1f}x")
    neo = neo4j_settings()
    gds_s = None
    if args.no_gds or neo is None:
        print("GDS: skipped (set GRAPHSTORE_TEST_NEO4J_URI via `graphstore services env`)")
    else:
        gds_s = gds_time(graph, neo)
    record(
        "communities.louvain",
        {"igraph_louvain_s": round(t_louvain, 3), "leiden_s": round(t_leiden, 3), "gds_louvain_s": gds_s},
        {"networkx_louvain_scaled_s": round(anchor_full, 2)},
        None,
        ratios(t_louvain, {"networkx_scaled": anchor_full}),
        before,
        size={"points": args.points, "k": args.k, "edges": m, "networkx_edges": min(m, args.anchor_edges or m)},
        modularity=round(louvain.summary["modularity"], 4),
        quick=args.quick,
    )


def gds_time(graph: Graph, neo: dict[str, str]) -> float:
    """Write the graph into Neo4j and time projection + gds.louvain.write."""
    from graphstore.analysis import gds
    from graphstore.store.neo4j_store import Neo4jStore

    with Neo4jStore(neo["uri"], neo["user"], neo["password"], batch_size=50_000) as store:
        report = store.write_graph(graph, replace=True)
        print(f"neo4j write: {report.edges / report.seconds:,.0f} relationships/s ({report.seconds:.1f} s)")
        params = CommunityParams(rel_types="KNN")

        def run() -> list:
            row = gds.write(store, "louvain", graph.graph_id, params, writeProperty="louvain")
            return [[row["communityCount"], row["modularity"]]]

        rows, seconds = timed(run)
        print(
            f"GDS Louvain (projection + write, 2 cores): {seconds:.2f} s, {rows[0][0]} communities, "
            f"modularity {rows[0][1]:.4f}"
        )
        store.drop_graph(graph.graph_id)
    return round(seconds, 3)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
