"""docs/DESIGN.md's "Where to add things" kept true: each example there is written, as it stands, into a temporary
plugin package named in GRAPHSTORE_PLUGINS, and the command line must find it (and run it) through its registry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graphstore.analysis.base import ANALYSES
from graphstore.extract.registry import KINDS
from graphstore.report.graphs import GRAPH_SECTIONS, declared_sections

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "DESIGN.md"
CLI = (sys.executable, "-m", "graphstore.cli.main")
EXAMPLE = re.compile(r"```(python|toml)\n(# (\S+)\n.*?)```", re.S)
POINTS = {
    "model": "toy_plugin/model.py",
    "dataset": "toy_plugin/dataset.py",
    "graph kind": "toy_plugin/kind.py",
    "analysis": "toy_plugin/analysis.py",
    "experiment pipeline": "toy_plugin/pipeline.py",
    "experiment definition": "experiments/toy.toml",
    "store backend": "toy_plugin/backend.py",
    "named query": "toy_plugin/query.py",
}


def examples() -> dict[str, str]:
    """File path (the example's first comment line) -> text, from the "Where to add things" section."""
    section = DESIGN.read_text().split("\n## Where to add things\n", 1)[1].split("\n## ", 1)[0]
    return {path: body for _, body, path in EXAMPLE.findall(section)}


@pytest.fixture(scope="module")
def plugin_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding toy_plugin/ (one module per example) and experiments/toy.toml, as DESIGN.md shows them."""
    root = tmp_path_factory.mktemp("extension-points")
    for path, body in examples().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    (root / "toy_plugin" / "__init__.py").write_text("")
    return root


def plugins(root: Path) -> str:
    """Every module of toy_plugin, as GRAPHSTORE_PLUGINS lists them."""
    return ",".join(f"toy_plugin.{p.stem}" for p in sorted((root / "toy_plugin").glob("[a-z]*.py")))


def run(root: Path, *args: str, modules: str | None = None) -> subprocess.CompletedProcess[str]:
    """`graphstore ARGS` in `root`, with toy_plugin importable and named in GRAPHSTORE_PLUGINS, data under root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update(
        {
            "COLUMNS": "200",
            "GRAPHSTORE_CONFIG": "",
            "GRAPHSTORE_DATA_DIR": str(root / "data"),
            "GRAPHSTORE_LOG_DIR": str(root / "logs"),
            "GRAPHSTORE_PLUGINS": plugins(root) if modules is None else modules,
            "PYTHONPATH": os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])]),
        }
    )
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=root, timeout=600)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must succeed."""
    assert result.returncode == 0, f"rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_design_shows_one_example_for_every_extension_point() -> None:
    found = examples()
    missing = {point: path for point, path in POINTS.items() if path not in found}
    assert not missing, f"docs/DESIGN.md 'Where to add things' lacks examples for {missing}"
    for path in (p for p in found if p.endswith(".py")):
        assert ".register(" in found[path], f"{path} registers nothing"


def test_the_toy_model_and_dataset_are_listed_and_train(plugin_root: Path) -> None:
    listing = ok(run(plugin_root, "train", "--list"))
    assert "toy-net" in listing and "A one-hidden-layer toy network." in listing and "toy-data" in listing
    trained = ok(run(plugin_root, "train", "--model", "toy-net", "--dataset", "toy-data", "--epochs", "1"))
    assert "test accuracy" in trained and (plugin_root / "data" / "runs" / "1" / "epoch_1.pt").is_file()


def test_a_toy_kind_goes_into_the_toy_backend_and_the_toy_analysis_and_query_read_it(plugin_root: Path) -> None:
    assert "toy-kind" in ok(run(plugin_root, "ingest", "--list"))
    assert "toy-count" in ok(run(plugin_root, "analyze", "--help"))
    assert "toy_graphs" in ok(run(plugin_root, "query", "--list"))
    ok(run(plugin_root, "train", "--model", "mlp", "--model-opt", "hidden=4", "--dataset", "toy-data", "--epochs", "1"))
    store = ("--graph-store", "toy://lab")
    ingested = ok(run(plugin_root, *store, "ingest", "--run", "1", "--graphs", "toy-kind", "--graph-id-prefix", "t"))
    assert "t-toy-kind" in ingested and (plugin_root / "data" / "toy" / "lab").exists()
    counted = ok(run(plugin_root, *store, "analyze", "toy-count", "--graph", "t-toy-kind"))
    assert '"nodes": 0' in counted
    assert ok(run(plugin_root, *store, "query", "toy_graphs")).split()[-1] == "1"
    assert "t-toy-kind" in ok(run(plugin_root, *store, "store", "list"))


def test_the_toy_experiment_is_listed_and_runs(plugin_root: Path) -> None:
    listing = ok(run(plugin_root, "experiment", "list"))
    assert "toy" in listing and "A toy grid" in listing
    ran = ok(run(plugin_root, "experiment", "run", "toy"))
    assert "a=1   completed" in ran and "a=2   completed" in ran
    assert "3.5 ± 0.71 (n=2)" in ran  # the mean of a + b over a = 1, 2 with b = 2


def test_an_unknown_store_scheme_lists_the_registered_ones(plugin_root: Path) -> None:
    result = run(plugin_root, "--graph-store", "nope://user:Sekr3t@host", "store", "list")
    assert result.returncode == 2 and "Error: Unknown graph store scheme 'nope'." in result.stderr, result.stderr
    assert "bolt, bolt+s, bolt+ssc, file, neo4j, neo4j+s, neo4j+ssc, toy" in result.stderr
    assert "Traceback" not in result.stderr and "Sekr3t" not in result.stdout + result.stderr


def test_a_plugin_that_does_not_import_is_a_clear_error(plugin_root: Path) -> None:
    result = run(plugin_root, "train", "--list", modules="toy_plugin.model,toy_plugin.no_such_module")
    assert result.returncode == 2, result.stderr
    assert "Error: Cannot import plugin module 'toy_plugin.no_such_module'" in result.stderr
    assert "Hint:" in result.stderr and "GRAPHSTORE_PLUGINS" in result.stderr and "Traceback" not in result.stderr


def test_every_report_section_an_analysis_or_kind_declares_has_a_drawer() -> None:
    declared = declared_sections()
    assert set(declared) <= set(GRAPH_SECTIONS.names()), sorted(set(declared) - set(GRAPH_SECTIONS.names()))
    assert {a.name for a in declared["centrality"].analyses} == {
        "betweenness",
        "degree",
        "eigenvector",
        "kcore",
        "pagerank",
    }
    assert [k.name for k in declared["multilayer"].kinds] == ["multilayer"]
    assert all(a.writes for a in ANALYSES.entries() if a.report in ("centrality", "communities"))
    assert {k.report for k in KINDS.entries()} == {"", "class-graph", "knn-hubness", "multilayer"}
