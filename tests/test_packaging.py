"""Packaging: pyproject's package list matches the source tree, and the built wheel installs and runs on its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

from graphstore.tracking.db import SHIPPED_HEAD

ROOT = Path(__file__).resolve().parents[1]
# The card's layout: these top-level directories install inside the package.
# Run by the fresh venv's python: a 3-neuron, 2-edge weight graph "x" into the embedded store at argv[1].
WRITE_GRAPH = """
import sys
import numpy as np
from graphstore.graph import Graph
from graphstore.store.embedded import EmbeddedStore
g = Graph("x", "weights")
g.add_nodes("Neuron", np.arange(3), layer=["in", "in", "out"])
g.add_edges("WEIGHT", "Neuron", "Neuron", [0, 1], [2, 2], w=np.array([0.5, -1.0]))
store = EmbeddedStore(sys.argv[1])
try:
    store.init_schema()
    store.write_graph(g)
finally:
    store.close()
"""
TOP_LEVEL_SUBPACKAGES = {
    "graphstore.cli": "cli",
    "graphstore.cypher": "cypher",
    "graphstore.migrations": "migrations",
    "graphstore.experiment_defs": "experiments",
}


def setuptools_config() -> dict:
    """The [tool.setuptools] table of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]


def package_roots(base: Path = ROOT) -> dict[str, Path]:
    """Package name -> source directory: graphstore/ itself plus the top-level directories mapped into it."""
    return {"graphstore": base / "graphstore", **{pkg: base / d for pkg, d in TOP_LEVEL_SUBPACKAGES.items()}}


def on_disk_packages() -> set[str]:
    """Every directory holding an __init__.py under the package roots, as a dotted package name."""
    found = set()
    for pkg, root in package_roots().items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            found.add(".".join([pkg, *rel.parts]))
    return found


def test_packages_list_matches_source_tree():
    """A package on disk that pyproject does not list would be missing from the wheel (and vice versa)."""
    listed = set(setuptools_config()["packages"])
    on_disk = on_disk_packages()
    missing = sorted(on_disk - listed)
    stale = sorted(listed - on_disk)
    assert not missing, f"packages on disk but not in pyproject [tool.setuptools] packages: {missing}"
    assert not stale, f"packages in pyproject [tool.setuptools] packages with no __init__.py on disk: {stale}"


def test_package_dir_maps_top_level_directories():
    """cli/, cypher/ and migrations/ install as graphstore.cli, graphstore.cypher and graphstore.migrations."""
    package_dir = setuptools_config().get("package-dir", {})
    for pkg, directory in TOP_LEVEL_SUBPACKAGES.items():
        assert package_dir.get(pkg) == directory, f"[tool.setuptools.package-dir] must map {pkg!r} = {directory!r}"
        assert (ROOT / directory / "__init__.py").is_file(), f"{directory}/__init__.py is missing"
    assert package_dir.get("graphstore", "graphstore") == "graphstore"


def test_python_directories_are_packages_or_package_data():
    """A directory of .py files without __init__.py is shipped only if package-data names it (migrations/versions)."""
    package_data = setuptools_config().get("package-data", {})
    orphans = []
    for pkg, root in package_roots().items():
        for directory in {p.parent for p in root.rglob("*.py")} - {p.parent for p in root.rglob("__init__.py")}:
            if "__pycache__" in directory.parts:
                continue
            owner, rel = pkg, directory.relative_to(root).parts
            patterns = package_data.get(owner, [])
            if not any(fnmatch(f"{'/'.join(rel)}/x.py", pattern) for pattern in patterns):
                orphans.append(str(directory.relative_to(ROOT)))
    assert not orphans, f"directories with .py files that are neither packages nor package-data: {sorted(orphans)}"


def copy_sources(dest: Path) -> Path:
    """Copy what the build needs (pyproject, readme, the mapped directories) so the build never writes into ROOT."""
    config = setuptools_config()
    dest.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", dest)
    shutil.copy2(ROOT / "README.md", dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for directory in sorted(set(config.get("package-dir", {}).values()) | {"graphstore"}):
        shutil.copytree(ROOT / directory, dest / directory, ignore=ignore)
    return dest


def build_wheel(src: Path, tmp_path: Path) -> Path:
    """Build the wheel offline with the project venv's setuptools (no build isolation, no index)."""
    dist = tmp_path / "dist"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(dist.glob("graphstore-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def make_venv(path: Path) -> Path:
    """A fresh venv that sees the project venv's site-packages (no torch reinstall) but not its .pth hooks."""
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A path line in a .pth only extends sys.path; .pth files inside that path (the editable finder) are not run.
    deps = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    (Path(purelib) / "_graphstore_deps.pth").write_text("\n".join(deps) + "\n")
    return python


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment without any GRAPHSTORE_* or PYTHON* setting of the caller, pointed at data_dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHSTORE_", "PYTHON"))}
    env.update({"GRAPHSTORE_DATA_DIR": str(data_dir), "COLUMNS": "200"})
    return env


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path):
    """Build the wheel, install it (not editable) in a fresh venv, and run the CLI from a directory outside the repo."""
    src = copy_sources(tmp_path / "src")
    wheel = build_wheel(src, tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg, root in package_roots(src).items():
        for source in root.rglob("*"):
            if (
                source.is_file()
                and source.suffix in {".py", ".cypher", ".mako", ".xml", ".nwk", ".toml"}
                and "__pycache__" not in source.parts
            ):
                shipped = "/".join([*pkg.split("."), *source.relative_to(root).parts])
                assert shipped in names, f"{source.relative_to(src)} is not in the wheel as {shipped}"

    venv = tmp_path / "venv"
    python = make_venv(venv)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    data_dir = tmp_path / "data"
    env = clean_env(data_dir)
    probe = (
        "import sys, graphstore, graphstore.cli.main as m; "
        "print(graphstore.__file__); print(m.__file__); "
        "print(any('editable' in type(f).__name__.lower() or 'editable' in str(f) for f in sys.meta_path))"
    )
    where = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert where.returncode == 0, where.stderr
    init_file, cli_file, editable = where.stdout.split()
    assert Path(init_file).resolve().is_relative_to(venv.resolve()), init_file
    assert Path(cli_file).resolve().is_relative_to(venv.resolve()), cli_file
    assert editable == "False", "the project's editable finder is active in the fresh venv"

    graphstore = str(venv / "bin" / "graphstore")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([graphstore, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)

    helped = cli("--help")
    assert helped.returncode == 0, helped.stderr
    assert "Usage: graphstore" in helped.stdout
    for command in ("train", "query", "db", "store", "runs"):
        assert command in helped.stdout, command

    db_url = f"sqlite:///{tmp_path / 'tracking.db'}"
    upgraded = cli("--database-url", db_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert f"-> {SHIPPED_HEAD}" in upgraded.stdout or "already at revision" in upgraded.stdout, upgraded.stdout
    assert (tmp_path / "tracking.db").is_file()
    status = cli("--database-url", db_url, "db", "status", "--check")
    assert status.returncode == 0, status.stdout + status.stderr

    experiments = cli("experiment", "list", "--runs", "0")
    assert experiments.returncode == 0, experiments.stdout + experiments.stderr

    listed = cli("query", "--list")
    assert listed.returncode == 0, listed.stderr
    for name in ("graph_summary", "hubs", "neighbourhood", "community_tree"):
        assert name in listed.stdout, name

    initialised = cli("store", "init")
    assert initialised.returncode == 0, initialised.stdout + initialised.stderr
    assert "Schema ready" in initialised.stdout
    assert (data_dir / "graphs.lbdb").exists()
    unknown_graph = cli("query", "graph_summary", "-p", "graph_id=x")
    assert unknown_graph.returncode == 2, unknown_graph.stdout + unknown_graph.stderr
    assert "Hint:" in unknown_graph.stderr
    unknown_query = cli("query", "no_such_query")
    assert unknown_query.returncode == 2, unknown_query.stdout + unknown_query.stderr
    assert "Hint:" in unknown_query.stderr

    # One small graph written through the installed package's API, then read back through its named queries.
    written = subprocess.run(
        [str(python), "-c", WRITE_GRAPH, str(data_dir / "graphs.lbdb")],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )
    assert written.returncode == 0, written.stdout + written.stderr
    summary = cli("query", "graph_summary", "-p", "graph_id=x", "--format", "json")
    assert summary.returncode == 0, summary.stdout + summary.stderr
    counts = {(row["element"], row["name"]): row["count"] for row in json.loads(summary.stdout)}
    assert counts[("node", "Neuron")] == 3 and counts[("relationship", "WEIGHT")] == 2, counts
    listed_graphs = cli("store", "list")
    assert listed_graphs.returncode == 0, listed_graphs.stderr
    assert "x" in listed_graphs.stdout.split(), listed_graphs.stdout
