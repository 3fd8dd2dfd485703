"""Every benchmark in bench/ runs in its --quick mode and stores its records through the one JSON writer.

Each bench is a fresh `python -m bench.NAME --quick` process (as scripts/run-bench.sh runs them), writing to a
temporary results file; each record must carry the fields the results file promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"benchmark", "ours", "anchor", "floor", "ratios", "machine", "load_before", "load_after", "date"}
# bench module -> record names it must write in quick mode
BENCHES = {
    "coactivation": {"coactivation.spearman", "coactivation.conv6_end_to_end"},
    "imp": {"imp.prune_step.threads1"},
    "knn": {"knn.l1_exact", "knn.l1_exact_large"},
    "class_graph": {"class_graph.class_distances"},
    "train": {"train.small-cnn"},
    "ingest": {"ingest.embedded_write"},
    "topology": {"topology.mst_np"},
    "multilayer": {"multilayer.delta"},
    "communities": {"communities.louvain"},
    "hierarchy": {"hierarchy.louvain-levels"},
    "cli_startup": {"cli_startup.runs_list", "cli_startup.--help"},
    "foreign_models": {"foreign_models.resnet18"},
}


def run_quick(name: str, results: Path) -> subprocess.CompletedProcess:
    """One bench in quick mode with its records going to `results`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_TEST_")}
    env["GRAPHSTORE_BENCH_RESULTS"] = str(results)
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-m", f"bench.{name}", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BENCHES))
def test_bench_quick_writes_records(name: str, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    proc = run_quick(name, results)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    rows = json.loads(results.read_text())
    names = {row["benchmark"] for row in rows}
    assert BENCHES[name] <= names, names
    for row in rows:
        assert set(row) >= FIELDS, row
        assert row["quick"] is True
        assert row["ours"], row
        assert isinstance(row["load_before"], float) and isinstance(row["load_after"], float)
    if name == "hierarchy":  # the one-worker anchor, scaled to every run, gives the parallel speed-up
        (row,) = rows
        assert row["anchor"]["workers1_runs"] == 2 and row["ratios"]["workers1_scaled"] > 0


def test_record_replaces_only_its_own_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rerun of one benchmark replaces its record and keeps the others (one writer, whole-file rename)."""
    from bench.common import RESULTS_ENV, record

    results = tmp_path / "results.json"
    monkeypatch.setenv(RESULTS_ENV, str(results))
    record("a", {"seconds": 1.0}, None, None, {}, 0.5)
    record("b", {"seconds": 2.0}, {"x_s": 4.0}, {"seconds": 0.5}, {"x": 2.0}, 0.5)
    record("a", {"seconds": 3.0}, None, None, {}, 0.5)
    rows = json.loads(results.read_text())
    assert [(r["benchmark"], r["ours"]["seconds"]) for r in rows] == [("a", 3.0), ("b", 2.0)]
    assert not list(tmp_path.glob("*.tmp"))
