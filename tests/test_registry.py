"""The one Registry: `REGISTRY.register(spec)`, lazy discovery of the modules that register, plugins, UnknownName."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from graphstore.errors import GraphstoreError
from graphstore.registry import DuplicateName, PluginError, Registry, UnknownName


@dataclass(frozen=True)
class Widget:
    """A registry entry: it carries its own name."""

    name: str
    value: object = None


def write_package(root, name: str, modules: dict[str, str]) -> None:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text(
        "from graphstore.registry import Registry\n"
        "from tests.test_registry import Widget\n"
        f"REG = Registry('widget', '{name}', handle='REG')\n"
    )
    for module, body in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(body))


def test_register_a_spec_then_look_up():
    reg: Registry[Widget] = Registry("widget")
    big = reg.register(Widget("Big_Widget", 1))
    gadget = reg.register(Widget("gadget", "g"))

    assert reg.get("big-widget") is big and reg.get(" BIG_WIDGET ") is big and reg.get("gadget") is gadget
    assert reg.names() == ["big-widget", "gadget"] and list(reg) == ["big-widget", "gadget"]
    assert reg.entries() == [big, gadget] and reg.items() == [("big-widget", big), ("gadget", gadget)]
    assert "gadget" in reg and "nope" not in reg and len(reg) == 2
    reg.register(gadget)  # the same object again (a module imported twice) is fine
    with pytest.raises(ValueError, match="registered twice") as info:
        reg.register(Widget("gadget", 2))
    assert isinstance(info.value, DuplicateName) and isinstance(info.value, GraphstoreError) and info.value.hint


def test_an_entry_under_several_keys_is_listed_once():
    reg: Registry[Widget] = Registry("scheme", keys=lambda w: (w.name, f"{w.name}+s"))
    web = reg.register(Widget("http"))
    assert reg.names() == ["http", "http+s"] and reg.get("http+s") is web and reg.entries() == [web]


def test_unknown_name_offers_close_matches_and_lists_all():
    reg: Registry[Widget] = Registry("analysis", plural="analyses", hint="See --help.")
    for i, name in enumerate(("pagerank", "betweenness", "degree")):
        reg.register(Widget(name, i))
    with pytest.raises(UnknownName) as info:
        reg.get("pagernk")
    err = info.value
    assert isinstance(err, GraphstoreError) and "Did you mean pagerank?" in err.message
    assert err.hint == "Known analyses: betweenness, degree, pagerank. See --help."
    assert err.close == ("pagerank",) and err.known == ("betweenness", "degree", "pagerank")
    with pytest.raises(UnknownName) as info:
        reg.get("zzzz")
    assert "Did you mean" not in info.value.message and "degree" in info.value.hint


def test_registry_error_subclass():
    class UnknownWidget(UnknownName):
        """A widget is not registered."""

    reg: Registry[Widget] = Registry("widget", error=UnknownWidget)
    with pytest.raises(UnknownWidget):
        reg.get("x")


def test_package_modules_are_discovered_lazily(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    write_package(
        tmp_path,
        "gs_plugins_a",
        {
            "alpha": "from gs_plugins_a import REG, Widget\nREG.register(Widget('alpha', 'A'))\n",
            "helpers": "raise RuntimeError('modules that do not register are never imported')\n",
            "_private": "raise RuntimeError('private modules are never imported')\n",
        },
    )
    import gs_plugins_a

    assert "gs_plugins_a.alpha" not in sys.modules  # nothing imported until the first lookup
    assert gs_plugins_a.REG.names() == ["alpha"]
    # adding an entry is adding one file: a fresh registry over the package finds it
    (tmp_path / "gs_plugins_a" / "beta.py").write_text(
        "from gs_plugins_a import REG, Widget\nREG.register(Widget('beta', 'B'))\n"
    )
    fresh: Registry[Widget] = Registry("widget", "gs_plugins_a", handle="REG")
    gs_plugins_a.REG = fresh
    assert fresh.get("beta").value == "B"
    assert "gs_plugins_a.helpers" not in sys.modules


def test_failed_discovery_is_reported_and_retried(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    write_package(tmp_path, "gs_plugins_b", {"broken": "raise ImportError('missing dependency')  # REG.register(\n"})
    import gs_plugins_b

    with pytest.raises(ImportError, match="missing dependency"):
        gs_plugins_b.REG.names()
    (tmp_path / "gs_plugins_b" / "broken.py").write_text(
        "from gs_plugins_b import REG, Widget\nREG.register(Widget('ok', 1))\n"
    )
    sys.modules.pop("gs_plugins_b.broken", None)
    assert gs_plugins_b.REG.names() == ["ok"]


ANALYSIS_FILE = '''
"""A test analysis living in its own file: triangles per node, and one that tries to overwrite uid."""
from dataclasses import dataclass

import numpy as np

from graphstore.analysis.base import ANALYSES, AnalysisResult, AnalysisSpec, Projection, per_label, undirected_igraph


@dataclass
class TriangleParams(Projection):
    """Triangles through each node."""


def triangles(graph, params):
    g = undirected_igraph(graph, params).simplify()
    counts = np.zeros(g.vcount(), dtype=np.int64)
    for tri in g.list_triangles():
        counts[list(tri)] += 1
    return AnalysisResult(per_label(graph, {"triangles": counts}), {"total": int(counts.sum() // 3)})


def overwrite_uid(graph, params):
    keys, _ = graph.node_index()
    return AnalysisResult(per_label(graph, {"uid": np.array(["x"] * len(keys), dtype=object)}), {})


ANALYSES.register(AnalysisSpec("triangles", TriangleParams, triangles, summary="Triangles per node."))
ANALYSES.register(AnalysisSpec("overwrite-uid", TriangleParams, overwrite_uid, summary="Tries to overwrite uid."))
'''

DRIVER = """
import sys
import graphstore.analysis
graphstore.analysis.__path__.append(sys.argv[1])  # as if the file were added to graphstore/analysis/
from graphstore.analysis.run import get_analysis, load_analyses, run_analysis
from graphstore.config import Settings
from graphstore.persist import save_graph
from graphstore.store import open_store
from graphstore.store.queries import PropertyNotWritable
from tests.test_analysis import two_cliques

assert "triangles" in load_analyses() and "louvain" in load_analyses()
settings = Settings(data_dir=sys.argv[2])
save_graph(settings, two_cliques())
done = run_analysis(settings, "triangles", "cliques", get_analysis("triangles").params(), engine="client")
print("total", done.summary["total"])
try:
    run_analysis(settings, "overwrite-uid", "cliques", get_analysis("overwrite-uid").params(), engine="client")
except PropertyNotWritable as exc:
    print("refused", exc.message)
with open_store(settings) as store:
    graph = store.read_graph("cliques")
    uids = [r[0] for r in store.execute("MATCH (n:Neuron) WHERE n.graph_id = 'cliques' RETURN n.uid").rows]
print("uids", sorted({uid.split(":")[0] for uid in uids}), len(uids))
print("triangles", graph.nodes["Neuron"].props["triangles"].tolist())
"""


def test_a_new_analysis_file_is_discovered_and_cannot_write_uid(tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "triangles_test.py").write_text(ANALYSIS_FILE)
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(extra), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(Path(__file__).parents[1]),
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert lines["total"] == "40"  # two 6-cliques: 2 * C(6, 3) triangles, none through the bridge
    assert "'uid' is structural" in lines["refused"] and lines["uids"] == "['cliques'] 12"
    assert lines["triangles"] == str([10] * 12)


def test_plugins_named_in_the_environment_register_into_any_registry(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "gs_host_c.py").write_text(
        "from graphstore.registry import Registry\nfrom tests.test_registry import Widget\nHOST = Registry('widget')\n"
    )
    (tmp_path / "gs_plugin_c.py").write_text(
        "from gs_host_c import HOST, Widget\nHOST.register(Widget('from-plugin'))\n"
    )
    import gs_host_c

    monkeypatch.setenv("GRAPHSTORE_PLUGINS", " gs_plugin_c , ")
    assert "gs_plugin_c" not in sys.modules and gs_host_c.HOST.names() == ["from-plugin"]


def test_a_missing_plugin_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GRAPHSTORE_PLUGINS", "gs_no_such_plugin_module")
    with pytest.raises(PluginError) as info:
        Registry("widget").names()
    assert "gs_no_such_plugin_module" in info.value.message and "GRAPHSTORE_PLUGINS" in info.value.hint
