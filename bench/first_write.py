"""The first write after `graphstore services start` against a warm write on the same server, with and without
the start's warm-up (graphstore.services.neo4j_warmup), each pair on a fresh throw-away server.

    python -m bench.first_write [--scale 0.25] [--rounds 2] [--batch-size 20000]

Each round starts a fresh server twice (with the warm-up, then without; the order alternates between rounds) in a
temporary run dir, and on each: opens the store (schema, plugin check: what a first command pays), writes
`bench.ingest`'s graph (first write), writes a second graph of the same size beside it (the code compiled, the store
files still growing: what separates the JIT's share of a first write from the store's growth), drops both in the
call, writes the first again (warm write: compiled, freed ids and pages reused), then stops and purges the server.
The ratio first / warm is paired (one server, one process); every line carries the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import load, machine, record, timed
from bench.ingest import random_graph
from graphstore.graph import Graph
from graphstore.services import neo4j_server
from graphstore.store.neo4j_store import Neo4jStore


def one_server(graph: Graph, second: Graph, warm_up: bool, batch_size: int) -> dict[str, Any]:
    """Start a fresh server (warm-up or not), then the store's open, first write, a second graph of the same size
    beside it (compiled code, but the store files still grow), both dropped, and the warm write on it (compiled,
    and the freed ids and pages reused)."""
    root = Path(tempfile.mkdtemp(prefix="bench-first-write-"))
    root.chmod(0o755)
    run_dir = root / "neo4j"
    try:
        (state, start_s) = timed(lambda: neo4j_server.start_neo4j(run_dir, warm_up=warm_up))
        out: dict[str, Any] = {"warm_up": warm_up, "start_s": start_s, "warm_up_s": None, "load_start": load()}
        if state.get("warm_up"):
            out["warm_up_s"], out["warm_up_error"] = state["warm_up"]["seconds"], state["warm_up"]["error"]
        started = time.perf_counter()
        with Neo4jStore(state["bolt_uri"], state["user"], state["password"], batch_size=batch_size) as store:
            out["open_s"] = time.perf_counter() - started
            (_, out["first_s"]) = timed(lambda: store.write_graph(graph))
            out["load_first"] = load()
            (_, out["second_s"]) = timed(lambda: store.write_graph(second))
            store.background_drops = False
            (_, out["drop_s"]) = timed(lambda: store.drop_graph(graph.graph_id))
            store.drop_graph(second.graph_id)
            (_, out["warm_s"]) = timed(lambda: store.write_graph(graph))
            out["load_warm"] = load()
        out["first_over_warm"] = out["first_s"] / out["warm_s"]
        out["second_over_warm"] = out["second_s"] / out["warm_s"]
        out["open_first_over_warm"] = (out["open_s"] + out["first_s"]) / out["warm_s"]
        return out
    finally:
        neo4j_server.stop_neo4j(run_dir, purge=True)
        root.rmdir()


def show(row: dict[str, Any]) -> None:
    """One line per server."""
    print(
        f"{'warm-up' if row['warm_up'] else 'no warm-up'}: start {row['start_s']:.1f} s (warm-up "
        f"{row['warm_up_s']} s), store open {row['open_s']:.1f} s, first write {row['first_s']:.1f} s "
        f"(load {row['load_first']:.1f}), second graph beside it {row['second_s']:.1f} s, drop {row['drop_s']:.1f} s, "
        f"warm write {row['warm_s']:.1f} s "
        f"(load {row['load_warm']:.1f}): first / warm {row['first_over_warm']:.2f} "
        f"(store open included {row['open_first_over_warm']:.2f}; second / warm {row['second_over_warm']:.2f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.25, help="1.0 = bench.ingest's 200k nodes / 2M edges")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="1%% of the graph, one round: the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.rounds = 0.01, 1
    n, m = int(200_000 * args.scale), int(2_000_000 * args.scale)
    print(f"machine: {machine()}; load: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {n:,} nodes, {m:,} edges")
    graph, second = random_graph("bench-first-write", n, m), random_graph("bench-first-write-2", n, m)
    before, rows = load(), []
    for rnd in range(args.rounds):
        for warm_up in (True, False) if rnd % 2 == 0 else (False, True):
            rows.append(one_server(graph, second, warm_up, args.batch_size))
            show(rows[-1])
    best = {key: min(r["first_over_warm"] for r in rows if r["warm_up"] is key) for key in (True, False)}
    grown = min(r["second_over_warm"] for r in rows if r["warm_up"])
    print(
        f"best first / warm: with the warm-up {best[True]:.2f}, without {best[False]:.2f}; a second graph beside the "
        f"first (compiled, store files growing) / warm: {grown:.2f}"
    )
    record(
        "first_write.neo4j",
        {"first_over_warm_with_warm_up": round(best[True], 3)},
        {"first_over_warm_without_warm_up": round(best[False], 3)},
        None,
        {
            "with_warm_up": round(best[True], 3),
            "without_warm_up": round(best[False], 3),
            "second_graph_with_warm_up": round(grown, 3),
        },
        before,
        size={"nodes": n, "edges": m, "batch_size": args.batch_size},
        runs=[{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
    )


if __name__ == "__main__":
    main()
