"""Architecture: every module imports, layers import only downward, no import cycles, typer/rich only in the CLI.

Imports are read with `ast` from every module's source (module level and inside functions), so a deferred import
counts as much as a top-level one. Layers, bottom to top (docs/DESIGN.md, team rules):

    L0  graphstore (package), graph, graph_data, config, errors, registry, progress, convert, masking,
        cypher (query files only)
    L1  store, tracking, services, persist, migrations (Alembic scripts of tracking)
    L2  nn, extract, analysis, pruning
    L3  jobs
    L3.5 experiments (grids of jobs)
    L3.7 report (reads runs, graphs and experiments)
    L3.9 api (the Python API: gs.extract, gs.ingest, gs.connect)
    L4  cli

A component may import any component of a lower layer, and a peer of its own layer only along PEER_EDGES.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = {
    "graphstore": ROOT / "graphstore",
    "graphstore.cli": ROOT / "cli",
    "graphstore.cypher": ROOT / "cypher",
    "graphstore.migrations": ROOT / "migrations",
    "graphstore.experiment_defs": ROOT / "experiments",
}

LAYERS: dict[str, float] = {
    "graphstore": 0,
    "graphstore.graph": 0,
    "graphstore.graph_data": 0,
    "graphstore.config": 0,
    "graphstore.errors": 0,
    "graphstore.registry": 0,
    "graphstore.progress": 0,
    "graphstore.convert": 0,
    "graphstore.masking": 0,
    "graphstore.safe_fs": 0,
    "graphstore.params": 0,
    "graphstore.names": 0,
    "graphstore.cypher": 0,
    "graphstore.experiment_defs": 0,
    "graphstore.store": 1,
    "graphstore.tracking": 1,
    "graphstore.services": 1,
    "graphstore.persist": 1,
    "graphstore.connections": 1,
    "graphstore.migrations": 1,
    "graphstore.nn": 2,
    "graphstore.extract": 2,
    "graphstore.analysis": 2,
    "graphstore.pruning": 2,
    "graphstore.jobs": 3,
    "graphstore.experiments": 3.5,
    "graphstore.report": 3.7,
    "graphstore.api": 3.9,
    "graphstore.cli": 4,
}

# Allowed imports between different components of the same layer (importer -> imported). Within L2, nn is the
# bottom (models, datasets, checkpoints), extract reads networks, analysis may extract (noise robustness re-extracts
# the kNN graph), pruning may use all three (T-IMP uses analysis.mst, layer pruning uses extract.multilayer).
_L0_BELOW = ("graphstore", "graphstore.errors")
PEER_EDGES: set[tuple[str, str]] = {
    *(
        (f"graphstore.{m}", base)
        for m in (
            "graph",
            "graph_data",
            "config",
            "registry",
            "progress",
            "convert",
            "masking",
            "names",
            "safe_fs",
            "params",
        )
        for base in _L0_BELOW
    ),
    ("graphstore.convert", "graphstore.graph_data"),  # conversions take the graph's data ...
    ("graphstore.graph", "graphstore.convert"),  # ... and Graph's to_*/from_* methods call them
    ("graphstore.graph", "graphstore.graph_data"),
    ("graphstore.graph", "graphstore.names"),
    ("graphstore.graph_data", "graphstore.names"),
    ("graphstore.config", "graphstore.masking"),
    ("graphstore.config", "graphstore.safe_fs"),  # config files are trusted only when no other user can write them
    ("graphstore.config", "graphstore.registry"),  # graph store backends by URI scheme (STORE_BACKENDS)
    ("graphstore.progress", "graphstore.registry"),
    ("graphstore.persist", "graphstore.store"),
    ("graphstore.services", "graphstore.store"),  # `services start` warms Neo4j's write path through the store
    ("graphstore.persist", "graphstore.connections"),
    ("graphstore.connections", "graphstore.store"),
    ("graphstore.connections", "graphstore.tracking"),
    ("graphstore.persist", "graphstore.tracking"),
    ("graphstore.migrations", "graphstore.tracking"),
    ("graphstore.extract", "graphstore.nn"),
    ("graphstore.analysis", "graphstore.nn"),
    ("graphstore.analysis", "graphstore.extract"),
    ("graphstore.pruning", "graphstore.nn"),
    ("graphstore.pruning", "graphstore.extract"),
    ("graphstore.pruning", "graphstore.analysis"),
}

CLI_ONLY = ("typer", "rich", "click")
# Heavy (tens of ms or more to import) or optional third-party libraries that a function may import late on purpose,
# with a comment saying why. Everything else, the standard library included, is imported at module level.
DEFERRABLE = (
    "torch",
    "torchvision",
    "graph_tool",
    "graphdatascience",
    "faiss",
    "numba",
    "sklearn",
    "gudhi",
    "ripser",
    "PIL",
    "scipy",
    "igraph",
    "leidenalg",
    "networkx",
    "pandas",
    "pyarrow",
    "dendropy",
    "ladybug",
    "neo4j",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "ray",
    "matplotlib",
    "selenium",
)
CLI_FORBIDDEN = ("torch", "scipy", "sqlalchemy", "alembic")


@dataclass(frozen=True)
class Import:
    """One imported module as written in a source file."""

    importer: str
    target: str
    line: int
    local: bool  # inside a function body
    type_only: bool  # under `if TYPE_CHECKING:`
    commented: str  # the comment on the import line or the line above ("" when none)


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every .py under the package roots."""
    found = {}
    for pkg, root in PACKAGE_ROOTS.items():
        for path in root.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([pkg, *parts])] = path
    return found


MODULES = module_files()


def component(module: str) -> str:
    """The layer table's unit a module belongs to: `graphstore` itself or `graphstore.<first part>`."""
    parts = module.split(".")
    return ".".join(parts[:2])


def resolve(name: str) -> str:
    """The longest known module that `name` names or lies in (an unknown graphstore name stays as written)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import in one file, resolved to module names, with where it sits (function body, TYPE_CHECKING)."""
    source = path.read_text()
    lines = source.splitlines()
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def commented(line: int) -> str:
        here = lines[line - 1]
        above = lines[line - 2].strip() if line >= 2 else ""
        return here.partition("#")[2].strip() or (above[1:].strip() if above.startswith("#") else "")

    def visit(node: ast.AST, local: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(
                        Import(module, resolve(alias.name), child.lineno, local, type_only, commented(child.lineno))
                    )
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    origin = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    origin = child.module or ""
                for alias in child.names:
                    sub = f"{origin}.{alias.name}"
                    target = sub if sub in MODULES else resolve(origin)
                    found.append(Import(module, target, child.lineno, local, type_only, commented(child.lineno)))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), local, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), local, type_only)
            else:
                visit(child, local, type_only)

    visit(ast.parse(source, str(path)), False, False)
    return found


# One entry per (importer, line, target): `from m import a, b` of one module counts once.
ALL_IMPORTS = list(dict.fromkeys(imp for module, path in sorted(MODULES.items()) for imp in imports_of(module, path)))
INTERNAL = [imp for imp in ALL_IMPORTS if imp.target == "graphstore" or imp.target.startswith("graphstore.")]


def where(imp: Import) -> str:
    """`module:line -> target` for failure messages."""
    return f"{imp.importer}:{imp.line} -> {imp.target}"


def test_layer_table_is_consistent():
    """Peer edges join components of one layer and never form a loop."""
    for a, b in PEER_EDGES:
        assert LAYERS[a] == LAYERS[b], (a, b)
    assert nx.is_directed_acyclic_graph(nx.DiGraph(sorted(PEER_EDGES)))


def test_every_module_has_a_layer():
    """A new top-level module or subpackage must be placed in the layer table before it is used."""
    unknown = sorted({f"{component(m)} ({m})" for m in MODULES if component(m) not in LAYERS})
    assert not unknown, f"modules in no layer (add them to LAYERS in tests/test_layering.py): {unknown}"


def importable_modules() -> list[str]:
    """Every module except Alembic's env.py and revision scripts, which only run inside Alembic."""
    skip = ("graphstore.migrations.env", "graphstore.migrations.versions")
    return sorted(m for m in MODULES if not m.startswith(skip))


def test_every_module_imports():
    """Importing each module on its own succeeds (no missing dependency, no import-order accident)."""
    failures = []
    for module in importable_modules():
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - collect every failure, not just the first
            failures.append(f"{module}: {type(exc).__name__}: {exc}")
    assert not failures, "modules that do not import:\n" + "\n".join(failures)


def test_imports_only_go_downward():
    """Every graphstore-internal import goes to a lower layer, inside its own component, or along PEER_EDGES."""
    bad = []
    for imp in INTERNAL:
        src, dst = component(imp.importer), component(imp.target)
        if imp.target not in MODULES:
            bad.append(f"{where(imp)} (no such module)")
            continue
        if src == dst or src not in LAYERS or dst not in LAYERS:
            continue
        if LAYERS[dst] < LAYERS[src] or (src, dst) in PEER_EDGES:
            continue
        kind = "upward" if LAYERS[dst] > LAYERS[src] else "peer import not in PEER_EDGES"
        bad.append(
            f"{where(imp)} ({kind}: L{LAYERS[src]} {src} -> L{LAYERS[dst]} {dst}"
            f"{', function-local' if imp.local else ''}{', TYPE_CHECKING' if imp.type_only else ''})"
        )
    assert not bad, f"{len(bad)} imports against the layering:\n" + "\n".join(sorted(bad))


# Parameter handling is L0 (graphstore.params): the generic adapters never reach into the torch layer for it.
NN_FREE = ("graphstore.cli.adapter", "graphstore.experiments.plan")


def test_parameter_handling_does_not_depend_on_nn():
    """cli/adapter.py and experiments/plan.py import nothing of nn, and no module uses the nn.params shim."""
    bad = [
        where(imp)
        for imp in INTERNAL
        if (imp.importer in NN_FREE and component(imp.target) == "graphstore.nn")
        or imp.target == "graphstore.nn.params"
    ]
    assert not bad, "parameter handling through graphstore.nn (use graphstore.params):\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    """The module import graph (runtime imports, module level and function-local) has no cycle."""
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    graph.add_edges_from(
        (i.importer, i.target) for i in INTERNAL if not i.type_only and i.target in MODULES and i.target != i.importer
    )
    cycles = []
    for scc in nx.strongly_connected_components(graph):
        if len(scc) > 1:
            loop = [edge[0] for edge in nx.find_cycle(graph.subgraph(scc))]
            cycles.append(f"{sorted(scc)}; e.g. {' -> '.join([*loop, loop[0]])}")
    assert not cycles, f"{len(cycles)} import cycles:\n" + "\n".join(sorted(cycles))


def imported_by_name(module: str, path: Path) -> set[str]:
    """graphstore modules a file loads by a literal name (`importlib.import_module("graphstore.x")`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("graphstore."):
                found.add(resolve(arg.value))
    return found - {module}


# Modules that once formed loops through a TYPE_CHECKING import or an import by name (which the runtime check above
# does not see): graph <-> convert, jobs.ingest <-> jobs.ingest_foreign, report.job <-> report.index.
ONCE_CIRCULAR = (
    "graphstore.graph",
    "graphstore.convert",
    "graphstore.jobs.ingest",
    "graphstore.jobs.ingest_foreign",
    "graphstore.report.job",
    "graphstore.report.index",
)


def test_former_circles_stay_broken_counting_type_only_and_by_name_imports():
    """Counting TYPE_CHECKING imports and imports by name too, none of ONCE_CIRCULAR lies on an import cycle."""
    graph = nx.DiGraph()
    graph.add_edges_from((i.importer, i.target) for i in INTERNAL if i.target in MODULES and i.target != i.importer)
    graph.add_edges_from((m, t) for m, path in MODULES.items() for t in imported_by_name(m, path) if t in MODULES)
    on_cycles = {m: scc for scc in nx.strongly_connected_components(graph) if len(scc) > 1 for m in scc}
    bad = [f"{m}: {sorted(on_cycles[m])}" for m in ONCE_CIRCULAR if m in on_cycles]
    assert not bad, "modules on an import cycle:\n" + "\n".join(bad)


def test_typer_and_rich_only_in_cli():
    """Library code returns data; only graphstore.cli talks to the terminal."""
    bad = [
        f"{imp.importer}:{imp.line} imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.target.split(".")[0] in CLI_ONLY and component(imp.importer) != "graphstore.cli"
    ]
    assert not bad, "typer/rich/click outside graphstore.cli:\n" + "\n".join(bad)


def test_no_function_local_internal_imports():
    """graphstore modules import each other at module level; a function-local one only defers a heavy dependency on
    purpose and says so (`# deferred: ...`); laziness otherwise lives in registries, not in functions."""
    local = [f"{where(imp)}" for imp in INTERNAL if imp.local and not imp.commented.startswith("deferred")]
    assert not local, f"{len(local)} function-local graphstore imports:\n" + "\n".join(local)


def test_function_local_third_party_imports_are_deferred_heavy_dependencies():
    """A function-local import of another library is a heavy or optional dependency, with a comment saying so."""
    bad = []
    for imp in ALL_IMPORTS:
        if not imp.local or imp in INTERNAL or imp.importer.startswith("graphstore.migrations.versions"):
            continue
        top = imp.target.split(".")[0]
        if top not in DEFERRABLE:
            bad.append(f"{where(imp)} (not a heavy optional dependency: import it at module level)")
        elif not imp.commented:
            bad.append(f"{where(imp)} (deferred without a comment saying why)")
    assert not bad, f"{len(bad)} function-local third-party imports:\n" + "\n".join(bad)


def cli_modules_after(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """Run the CLI's main with args in a fresh interpreter; (exit code, top-level modules loaded, output)."""
    marker = "---modules---"
    code = (
        "import sys\nfrom graphstore.cli.main import main\n"
        f"rc = main({list(args)!r})\nprint({marker!r})\nprint('\\n'.join(sorted(sys.modules)))\nsys.exit(rc)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update({"GRAPHSTORE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"})
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    output, _, modules = result.stdout.partition(marker)
    return result.returncode, {m.split(".")[0] for m in modules.split()}, output + result.stderr


@pytest.mark.parametrize("args", [("--help",), ("query", "--list")], ids=["help", "query-list"])
def test_cli_startup_does_not_import_heavy_libraries(tmp_path, args):
    """`graphstore --help` and `graphstore query --list` must not pay for torch, scipy, SQLAlchemy or Alembic."""
    code, loaded, output = cli_modules_after(tmp_path, *args)
    assert code == 0, output
    heavy = sorted(set(CLI_FORBIDDEN) & loaded)
    assert not heavy, f"`graphstore {' '.join(args)}` imports {heavy}"
