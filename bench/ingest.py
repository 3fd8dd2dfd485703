"""Graph write throughput: the project's writers (embedded COPY, Neo4j batched UNWIND) vs per-row CREATE.

    python bench/ingest.py [--nodes 200000] [--edges 2000000] [--sample 20000] [--batch-size 20000]

Anchor: the per-row habit (one `CREATE` per relationship in its own auto-commit statement, as with a naive
driver loop or py2neo), measured on a sample of edges into the same Neo4j, reported as a rate.
Neo4j runs when GRAPHSTORE_TEST_NEO4J_URI is set (`eval "$(graphstore services env)"`).
Memory: the RSS increase over the write (sampled every 10 ms) and the process peak RSS.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from bench.common import RssPeak, machine, neo4j_settings, peak_rss_mib, timed
from graphstore.graph import Graph


def random_graph(graph_id: str, n: int, m: int, seed: int = 0) -> Graph:
    """n Neuron nodes with a layer property, m random WEIGHT edges with w and abs_w."""
    rng = np.random.default_rng(seed)
    graph = Graph(graph_id, "weights", params={"bench": "ingest"})
    graph.add_nodes("Neuron", np.arange(n), layer=np.asarray(["l" + str(i % 8) for i in range(n)], dtype=object))
    w = rng.standard_normal(m)
    graph.add_edges("WEIGHT", "Neuron", "Neuron", rng.integers(0, n, m), rng.integers(0, n, m), w=w, abs_w=np.abs(w))
    return graph


def write_timed(store, graph: Graph) -> dict[str, float]:
    """Write once; seconds for nodes and edges separately and the RSS increase during the write."""
    marks: dict[str, float] = {}
    start = time.perf_counter()

    def mark(step: str, done: int, total: int) -> None:
        if step.startswith("nodes"):
            marks["nodes_done"] = time.perf_counter()

    with RssPeak() as rss:
        store.write_graph(graph, replace=True, on_progress=mark)
    end = time.perf_counter()
    return {"total_s": end - start, "edge_s": end - marks["nodes_done"], "rss_increase_mib": rss.increase_mib}


def per_row_rate(store, graph: Graph, sample: int) -> float:
    """Relationships/s for one auto-commit CREATE statement per relationship (the anchor)."""
    edges = graph.edges["WEIGHT"]
    stub = Graph(graph.graph_id + "-rows", "weights")
    stub.nodes = graph.nodes
    store.write_graph(stub, replace=True)
    uids = stub.uids(np.arange(len(graph.nodes["Neuron"])))
    cypher = ("MATCH (a:Neuron {uid: $s}) MATCH (b:Neuron {uid: $t}) "
              "CREATE (a)-[:WEIGHT {graph_id: $g, w: $w, abs_w: $a}]->(b)")
    with store._driver.session(database=store.database) as session:
        def run() -> None:
            for i in range(sample):
                session.run(cypher, {"s": uids[edges.src[i]], "t": uids[edges.dst[i]], "g": stub.graph_id,
                                     "w": float(edges.props["w"][i]), "a": float(edges.props["abs_w"][i])}).consume()
        _, seconds = timed(run)
    store.drop_graph(stub.graph_id)
    return sample / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=2_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    graph = random_graph("bench-ingest", args.nodes, args.edges)
    print(f"graph: {args.nodes:,} nodes, {args.edges:,} edges (in-memory Graph, RSS now {peak_rss_mib():.0f} MiB)")

    from graphstore.store.embedded import EmbeddedStore

    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(f"{tmp}/bench.lbdb") as store:
        emb = write_timed(store, graph)
    print(f"embedded (Ladybug COPY): {args.edges / emb['edge_s']:,.0f} edges/s "
          f"(edges {emb['edge_s']:.2f} s, total {emb['total_s']:.2f} s, "
          f"RSS +{emb['rss_increase_mib']:.0f} MiB during the write)")

    neo = neo4j_settings()
    if neo is None:
        print("neo4j: skipped (GRAPHSTORE_TEST_NEO4J_URI not set; run `eval \"$(graphstore services env)\"`)")
        return
    from graphstore.store.neo4j_store import Neo4jStore

    with Neo4jStore(neo["uri"], neo["user"], neo["password"], batch_size=args.batch_size) as store:
        batched = write_timed(store, graph)
        batched_rate = args.edges / batched["edge_s"]
        print(f"neo4j (UNWIND batches of {args.batch_size:,}): {batched_rate:,.0f} relationships/s "
              f"(edges {batched['edge_s']:.1f} s, total {batched['total_s']:.1f} s, "
              f"RSS +{batched['rss_increase_mib']:.0f} MiB during the write)")
        row_rate = per_row_rate(store, graph, args.sample)
        print(f"neo4j per-row CREATE (anchor, {args.sample:,}-edge sample): {row_rate:,.0f} relationships/s")
        print(f"ratio batched / per-row: {batched_rate / row_rate:.1f}x")
        store.drop_graph(graph.graph_id)
    print(f"process peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
