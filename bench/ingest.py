"""Graph write throughput against the limits of each store, all in one run on the same graph.

    python -m bench.ingest [--scale 1.0] [--sample 20000] [--batch-size 20000] [--run-dir DIR] [--only X] [--pairs 2]

The graph: 200k Neuron nodes (layer property) and 2M random WEIGHT edges (w, abs_w) at --scale 1.
Embedded (Ladybug): the store's write (bounded COPY pieces, progress per piece) vs the bare `COPY ... FROM` of the
same Arrow tables, whole, into a fresh database: time and peak RSS increase of each.
Neo4j (needs GRAPHSTORE_TEST_NEO4J_URI, `eval "$(graphstore services env)"`):
- limit: `neo4j-admin database import full` of the same graph as CSV, with the cached distribution's jars and a
  copy of the running server's neo4j.conf (same heap / page cache), into a scratch DBMS home; wall time of the
  importer process (JVM start included) and of the CSV writing;
- ours: `Neo4jStore.write_graph` into the running server (through graphstore's write plugin when the server has
  it, with GRAPHSTORE_NEO4J_WRITERS parallel lanes, default 2), after a warm-up write of a --warmup fraction of
  the graph (the first write after a server start runs while the JIT compiles and G1 sizes the heap: 1.3-1.8x
  slower; --warmup 0 measures that);
- anchor: one auto-commit CREATE per relationship on a --sample of the edges;
- drop vs write: the written graph dropped in the call (what a server without APOC does), then --pairs rounds of
  a write, a --replace over it (its drop phase timed apart) and a drop, each followed by the wait for the server's
  background delete (graphstore.store.neo4j_drop); each line gives the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import RssPeak, load, machine, neo4j_settings, peak_rss_mib, record, timed
from graphstore.config import Settings
from graphstore.graph import Graph


def random_graph(graph_id: str, n: int, m: int, seed: int = 0) -> Graph:
    """n Neuron nodes with a layer property, m random WEIGHT edges with w and abs_w."""
    rng = np.random.default_rng(seed)
    graph = Graph(graph_id, "weights", params={"bench": "ingest"})
    layers = np.asarray([f"l{i}" for i in range(8)], dtype=object)
    graph.add_nodes("Neuron", np.arange(n), layer=layers[np.arange(n) % 8])
    w = rng.standard_normal(m)
    graph.add_edges("WEIGHT", "Neuron", "Neuron", rng.integers(0, n, m), rng.integers(0, n, m), w=w, abs_w=np.abs(w))
    return graph


def payload_bytes(graph: Graph) -> int:
    """Bytes of the graph's columns (keys, endpoints, properties; strings as UTF-8): what any write must move."""

    def size(values: np.ndarray) -> int:
        values = np.asarray(values)
        return sum(len(str(v).encode()) for v in values) if values.dtype == object else values.nbytes

    nodes = sum(size(t.keys) + sum(size(v) for v in t.props.values()) for t in graph.nodes.values())
    edges = sum(size(t.src) + size(t.dst) + sum(size(v) for v in t.props.values()) for t in graph.edges.values())
    return nodes + edges


def bytes_floor(graph: Graph, folder: str) -> dict[str, float]:
    """Seconds to write and fsync the graph's payload bytes in `folder` (the store writes' bytes-moved floor)."""
    nbytes = payload_bytes(graph)
    block = np.random.default_rng(0).integers(0, 255, min(nbytes, 64 * 2**20), dtype=np.uint8).tobytes()
    path = os.path.join(folder, "bench-bytes-floor")
    start = time.perf_counter()
    with open(path, "wb") as fh:
        left = nbytes
        while left > 0:
            left -= fh.write(block[: min(left, len(block))])
        fh.flush()
        os.fsync(fh.fileno())
    seconds = time.perf_counter() - start
    os.unlink(path)
    return {"seconds": round(seconds, 4), "bytes": nbytes, "mib_per_s": round(nbytes / seconds / 2**20, 1)}


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


def bare_copy(graph: Graph, path: str) -> dict[str, float]:
    """The bare Ladybug COPY of the same Arrow tables the store builds (whole tables, fresh database)."""
    import ladybug
    import pyarrow as pa

    from graphstore.store.embedded import uid_column

    db = ladybug.Database(path)
    conn = ladybug.Connection(db)
    conn.execute("CREATE NODE TABLE Neuron(uid STRING, graph_id STRING, key INT64, layer STRING, PRIMARY KEY(uid))")
    conn.execute("CREATE REL TABLE WEIGHT(FROM Neuron TO Neuron, graph_id STRING, w DOUBLE, abs_w DOUBLE)")
    nodes, edges = graph.nodes["Neuron"], graph.edges["WEIGHT"]
    order = np.argsort(edges.src, kind="stable")
    with RssPeak() as rss:
        start = time.perf_counter()
        node_table = pa.table(
            {
                "uid": graph.uid_array(nodes.keys),
                "graph_id": pa.repeat(pa.scalar(graph.graph_id), len(nodes)),
                "key": pa.array(nodes.keys),
                "layer": pa.array(nodes.props["layer"]),
            }
        )
        conn.execute("COPY Neuron FROM $t", {"t": node_table})
        mid = time.perf_counter()
        edge_table = pa.table(
            {
                "from": uid_column(graph, "Neuron", edges.src[order]),
                "to": uid_column(graph, "Neuron", edges.dst[order]),
                "graph_id": pa.repeat(pa.scalar(graph.graph_id), len(edges)),
                "w": edges.props["w"][order],
                "abs_w": edges.props["abs_w"][order],
            }
        )
        conn.execute("COPY WEIGHT FROM $t", {"t": edge_table})
        end = time.perf_counter()
    conn.close()
    db.close()
    return {"total_s": end - start, "edge_s": end - mid, "rss_increase_mib": rss.increase_mib}


def run_importer(graph: Graph, server_conf: Path, dist: Path, scratch: Path) -> dict[str, float]:
    """neo4j-admin import of the graph into a scratch DBMS home with the running server's settings."""
    from graphstore.store.neo4j_import import run_import, write_csvs

    home = scratch / "home"
    for sub in ("conf", "data", "logs", "run", "import"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    conf = [
        line
        for line in server_conf.read_text().splitlines()
        if not line.startswith(
            (
                "server.directories.data",
                "server.directories.logs",
                "server.directories.run",
                "server.directories.import",
            )
        )
    ]
    conf += [f"server.directories.{d}={home / d}" for d in ("data", "logs", "run", "import")]
    (home / "conf" / "neo4j.conf").write_text("\n".join(conf) + "\n")
    (node_files, rel_files), csv_s = timed(lambda: write_csvs([graph], scratch / "csv"))
    output, import_s = timed(lambda: run_import(home, dist, node_files, rel_files))
    internal = re.search(r"IMPORT DONE in (?:(\d+)m )?(\d+)s (\d+)ms", output)
    internal_s = (
        int(internal.group(1) or 0) * 60 + int(internal.group(2)) + int(internal.group(3)) / 1000
        if internal
        else float("nan")
    )
    return {"csv_s": csv_s, "import_s": import_s, "internal_s": internal_s}


def per_row_rate(store, graph: Graph, sample: int) -> float:
    """Relationships/s for one auto-commit CREATE statement per relationship (the anchor)."""
    edges = graph.edges["WEIGHT"]
    stub = Graph(graph.graph_id + "-rows", "weights")
    stub.nodes = graph.nodes
    store.write_graph(stub, replace=True)
    uids = stub.uids(np.arange(len(graph.nodes["Neuron"])))
    cypher = "MATCH (a:Neuron {uid: $s}) MATCH (b:Neuron {uid: $t}) CREATE (a)-[:WEIGHT {w: $w, abs_w: $a}]->(b)"
    with store._driver.session(database=store.database) as session:

        def run() -> None:
            for i in range(sample):
                session.run(
                    cypher,
                    {
                        "s": uids[edges.src[i]],
                        "t": uids[edges.dst[i]],
                        "w": float(edges.props["w"][i]),
                        "a": float(edges.props["abs_w"][i]),
                    },
                ).consume()

        _, seconds = timed(run)
    store.drop_graph(stub.graph_id)
    return sample / seconds


def replace_timed(store, graph: Graph) -> tuple[float, float]:
    """Seconds of one `write_graph(replace=True)` over the stored graph, and of its delete phase alone (with
    background drops: retiring the old graph; its records are deleted after the write)."""
    delete, marks = store._delete_graph, {}

    def timed_delete(graph_id: str) -> None:
        delete(graph_id)
        marks["deleted"] = time.perf_counter()

    store._delete_graph = timed_delete
    try:
        start = time.perf_counter()
        store.write_graph(graph, replace=True)
    finally:
        store._delete_graph = delete
    return time.perf_counter() - start, marks["deleted"] - start


def drop_vs_write(store, graph: Graph, write_s: float, pairs: int) -> dict[str, float]:
    """Drop, replace and write side by side. The graph just written is first dropped synchronously (what a server
    without APOC does: halves in two lanes when writers > 1); then `pairs` times: a write, a --replace over it
    (its drop phase timed apart, the old graph's background delete waited for after it), and a drop (the call,
    then its background delete). Ends with the graph dropped; returns the last pair's figures."""
    background, store.background_drops = store.background_drops, False
    (_, sync_s) = timed(lambda: store.drop_graph(graph.graph_id))
    store.background_drops = background
    print(
        f"neo4j drop in the call (no APOC): {sync_s:.1f} s (the write before it {write_s:.1f} s: "
        f"{sync_s / write_s:.2f})"
    )
    out: dict[str, float] = {"sync_drop_s": sync_s, "sync_drop_over_write": sync_s / write_s}
    how = "retire + background delete" if store.background_drops else "in the call"
    for pair in range(1, pairs + 1):
        write_s = write_timed(store, graph)["total_s"]
        replace_s, replace_drop_s = replace_timed(store, graph)
        (_, replace_bg_s) = timed(lambda: store.wait_for_drops(3600))
        (_, drop_s) = timed(lambda: store.drop_graph(graph.graph_id))
        (_, drop_bg_s) = timed(lambda: store.wait_for_drops(3600))
        print(
            f"neo4j pair {pair} (drop: {how}; load {os.getloadavg()[0]:.1f}): write {write_s:.1f} s; replace "
            f"{replace_s:.1f} s, of which its drop {replace_drop_s:.1f} s, then {replace_bg_s:.1f} s of background "
            f"delete; drop {drop_s:.1f} s, then {drop_bg_s:.1f} s of background delete; drop / write "
            f"{drop_s / write_s:.2f}, replace / write {replace_s / write_s:.2f}, replace's drop / write "
            f"{replace_drop_s / write_s:.2f}"
        )
        out |= {
            "write_s": write_s,
            "replace_s": replace_s,
            "replace_drop_s": replace_drop_s,
            "replace_background_s": replace_bg_s,
            "drop_s": drop_s,
            "drop_background_s": drop_bg_s,
            "drop_over_write": drop_s / write_s,
            "replace_over_write": replace_s / write_s,
        }
    return out


def server_files(run_dir: str | None) -> tuple[Path, Path] | None:
    """(neo4j.conf, distribution dir) of the local server in run_dir (`graphstore services start --run-dir`)."""
    uri = os.environ.get("GRAPHSTORE_TEST_NEO4J_URI", "")
    for state_file in Path(run_dir).glob("**/state.json") if run_dir else []:
        state = json.loads(state_file.read_text())
        if state.get("bolt_uri") == uri:
            return state_file.parent / "conf" / "neo4j.conf", Path(state["dist"])
    return None


def embedded_part(graph: Graph, m: int, quick: bool) -> None:
    """The store's embedded write vs the bare COPY, each into a fresh database, and the bytes floor."""
    from graphstore.store.embedded import EmbeddedStore

    before = load()
    with tempfile.TemporaryDirectory() as tmp:
        bare = bare_copy(graph, f"{tmp}/bare.lbdb")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(f"{tmp}/bench.lbdb") as store:
        ours = write_timed(store, graph)
    with tempfile.TemporaryDirectory() as tmp:
        floor = bytes_floor(graph, tmp)
    print(
        f"embedded bare COPY (limit): {bare['total_s']:.2f} s total ({m / bare['edge_s']:,.0f} edges/s), "
        f"RSS +{bare['rss_increase_mib']:.0f} MiB"
    )
    print(
        f"embedded store write (COPY pieces of {store.copy_rows:,} rows): {ours['total_s']:.2f} s total "
        f"({m / ours['edge_s']:,.0f} edges/s), RSS +{ours['rss_increase_mib']:.0f} MiB"
    )
    print(
        f"embedded ratio store / bare COPY: {ours['total_s'] / bare['total_s']:.2f}x time; bytes floor (write + "
        f"fsync {floor['bytes'] / 2**20:.0f} MiB of payload at {floor['mib_per_s']} MiB/s): {floor['seconds']:.2f} s, "
        f"ours / floor {ours['total_s'] / floor['seconds']:.1f}"
    )
    record(
        "ingest.embedded_write",
        {k: round(v, 3) for k, v in ours.items()},
        {f"bare_copy_{k}": round(v, 3) for k, v in bare.items()},
        floor,
        {
            "ours_over_bare_copy": round(ours["total_s"] / bare["total_s"], 3),
            "ours_over_bytes_floor": round(ours["total_s"] / floor["seconds"], 3),
        },
        before,
        size={"nodes": len(graph.nodes["Neuron"]), "edges": m},
        quick=quick,
    )


def neo4j_part(graph: Graph, m: int, args: argparse.Namespace) -> None:
    """Importer (limit), the store's write and the per-row anchor, on the same server settings."""
    before = load()
    neo = neo4j_settings()
    if neo is None:
        print('neo4j: skipped (GRAPHSTORE_TEST_NEO4J_URI not set; run `eval "$(graphstore services env)"`)')
        return
    from graphstore.store.neo4j_store import Neo4jStore

    files = None if args.skip_import else server_files(args.run_dir)
    limit = None
    if files is not None:
        with tempfile.TemporaryDirectory() as tmp:
            limit = run_importer(graph, files[0], files[1], Path(tmp))
            shutil.rmtree(tmp, ignore_errors=True)
        print(
            f"neo4j-admin import (limit): {limit['import_s']:.1f} s wall ({limit['internal_s']:.1f} s reported "
            f"by the importer), CSV writing {limit['csv_s']:.1f} s; {m / limit['import_s']:,.0f} rel/s wall"
        )
    else:
        print("neo4j-admin import: skipped (pass --run-dir of the local server the test variables point at)")
    writers = int(os.environ.get("GRAPHSTORE_NEO4J_WRITERS", "2"))
    with Neo4jStore(neo["uri"], neo["user"], neo["password"], batch_size=args.batch_size, writers=writers) as store:
        if args.warmup > 0:
            warm = random_graph(
                "bench-ingest-warmup", int(len(graph.nodes["Neuron"]) * args.warmup), int(m * args.warmup)
            )
            (_, warm_s) = timed(lambda: (store.write_graph(warm, replace=True), store.drop_graph(warm.graph_id)))
            (_, bg_s) = timed(lambda: store.wait_for_drops(3600))  # not beside the timed write
            print(
                f"neo4j warm-up: wrote and dropped a {args.warmup:.0%} graph in {warm_s:.1f} s (JIT), then "
                f"{bg_s:.1f} s of its background delete"
            )
        ours = write_timed(store, graph)
        print(
            f"neo4j store write ({store.write_path}, {store.writers} writers, batches of {args.batch_size:,}): "
            f"{ours['total_s']:.1f} s total "
            f"(edges {ours['edge_s']:.1f} s, {m / ours['edge_s']:,.0f} rel/s; "
            f"{m / ours['total_s']:,.0f} rel/s over the whole write), RSS +{ours['rss_increase_mib']:.0f} MiB"
        )
        drops = drop_vs_write(store, graph, ours["total_s"], args.pairs)
        row_rate = None if args.skip_anchor else per_row_rate(store, graph, args.sample)
    if row_rate is not None:
        print(f"neo4j per-row CREATE (anchor, {args.sample:,}-edge sample): {row_rate:,.0f} rel/s")
        print(f"ratio store / per-row: {m / ours['total_s'] / row_rate:.1f}x")
    if limit is not None:
        print(
            f"ratio store / importer (whole graph, wall): {limit['import_s'] / ours['total_s']:.2f} "
            f"(CSV writing included: {(limit['import_s'] + limit['csv_s']) / ours['total_s']:.2f}; "
            f"importer-reported time: {limit['internal_s'] / ours['total_s']:.2f})"
        )
    with tempfile.TemporaryDirectory() as tmp:
        floor = bytes_floor(graph, tmp)
    anchor = {f"importer_{k}": round(v, 3) for k, v in (limit or {}).items()}
    anchor["per_row_create_rel_per_s"] = None if row_rate is None else round(row_rate, 1)
    record(
        "ingest.neo4j_write",
        {k: round(v, 3) for k, v in ours.items()} | {"warmup": args.warmup, "writers": writers},
        anchor,
        floor,
        {
            "importer_over_ours": None if limit is None else round(limit["import_s"] / ours["total_s"], 3),
            "ours_over_per_row": None if row_rate is None else round(m / ours["total_s"] / row_rate, 2),
            "ours_over_bytes_floor": round(ours["total_s"] / floor["seconds"], 3),
        },
        before,
        size={"nodes": len(graph.nodes["Neuron"]), "edges": m, "batch_size": args.batch_size},
        importer="measured" if limit is not None else "not measured (no --run-dir)",
        quick=args.quick,
    )
    record(
        "ingest.neo4j_drop",
        {k: round(v, 3) for k, v in drops.items() if not k.endswith("_over_write")},
        {"write_s": round(drops.get("write_s", ours["total_s"]), 3)},
        None,
        {k: round(v, 3) for k, v in drops.items() if k.endswith("_over_write")},
        before,
        size={"nodes": len(graph.nodes["Neuron"]), "edges": m},
        pairs=args.pairs,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 200k nodes / 2M edges")
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument(
        "--batch-size", type=int, default=Settings().batch_size, help="rows per Neo4j batch (the store's default)"
    )
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--run-dir", default=None, help="run dir of the local server (for its neo4j.conf)")
    parser.add_argument("--only", choices=("embedded", "neo4j"), default=None)
    parser.add_argument("--pairs", type=int, default=2, help="Neo4j write / replace / drop rounds after the first")
    parser.add_argument("--skip-anchor", action="store_true", help="skip the per-row CREATE anchor")
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.3,
        help="first write and drop a graph this fraction of the size (a running server is warm; 0: measure it cold)",
    )
    parser.add_argument("--quick", action="store_true", help="1%% of the graph, embedded only: the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.only = 0.01, "embedded"
    n, m = int(200_000 * args.scale), int(2_000_000 * args.scale)
    print(f"machine: {machine()}; load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    graph = random_graph("bench-ingest", n, m)
    print(f"graph: {n:,} nodes, {m:,} edges (in-memory Graph, RSS now {peak_rss_mib():.0f} MiB)")
    if args.only != "neo4j":
        embedded_part(graph, m, args.quick)
    if args.only != "embedded":
        neo4j_part(graph, m, args)
    print(f"process peak RSS: {peak_rss_mib():.0f} MiB; load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
