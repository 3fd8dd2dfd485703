"""Neo4j Browser: graphstore's stylesheet and guide, how the services server serves them, `graphstore browse`, and a
real headless Chromium that connects to the test server, runs a named query from the guide and sees the styled nodes,
and that records every request the Browser tries: none may leave the machine (fonts, analytics, feedback widget).

The Chromium test needs Debian's `chromium` and `chromium-driver` (scripts/run-tests.sh installs them as root); when
they are missing it fails with the install command, it never skips.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from graphstore.config import Settings
from graphstore.errors import QueryError, ServiceError
from graphstore.graph import Graph
from graphstore.jobs.base import JobContext
from graphstore.jobs.browse import BrowseParams, run_browse
from graphstore.services import browser_content, neo4j_dist, neo4j_server
from graphstore.store.queries import get_query
from tests.conftest import make_embedded, make_neo4j, small_graph
from tests.servers import neo4j_http, neo4j_params

CONTENT = browser_content.CONTENT_DIR
INSTALL = "apt-get install -y chromium chromium-driver"
SCHEMA_LABELS = ("Graph", "Neuron", "Patch", "Sample", "Class", "Community", "CommunityGroup")
SCHEMA_TYPES = ("WEIGHT", "COACTIVATES", "REPRESENTS", "ARC", "KNN", "NEAR", "PARENT", "IN_GROUP")
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1600,1200",
)
WAIT = 120.0  # seconds for the Browser to connect or draw (the shared 2-core machine is slow)


class _GuideBlocks(HTMLParser):
    """The runnable blocks of the guide: (data-query or None, text) in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str | None, str]] = []
        self._open: str | None | bool = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "pre" and "runnable" in (values.get("class") or "").split():
            self._open = values.get("data-query")
            self.blocks.append((values.get("data-query"), ""))

    def handle_data(self, data: str) -> None:
        if self._open is not False:
            name, text = self.blocks[-1]
            self.blocks[-1] = (name, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._open = False


def guide_blocks() -> list[tuple[str | None, str]]:
    parser = _GuideBlocks()
    parser.feed((CONTENT / "guide.html").read_text())
    return parser.blocks


def query_body(name: str) -> str:
    """A named query's Neo4j text without its header comments."""
    text = get_query(name).text_for("neo4j")
    return "\n".join(line for line in text.splitlines() if not line.startswith("//")).strip()


def stylesheet() -> dict[str, dict[str, str]]:
    return json.loads((CONTENT / "style.grass").read_text())


# ---- the content ---------------------------------------------------------------------------------------------


def test_guide_runs_the_named_queries_verbatim():
    """Each query block of the guide is its named query's text, so the guide never drifts from the catalog."""
    named = {name: text for name, text in guide_blocks() if name}
    for wanted in ("hubs", "hubs_graph", "shared_neurons", "nearest_classes", "community_tree", "communities"):
        assert wanted in named, f"the guide has no block for the named query {wanted}"
    for name, text in named.items():
        assert text.strip() == query_body(name), f"guide block {name} differs from cypher/queries/{name}"


def test_guide_sets_every_parameter_its_queries_need_as_integers_where_declared():
    """A query block follows a :param block that sets each of its parameters; ints use `=>` (the Browser's
    `:params {limit: 5}` would send 5.0, which LIMIT refuses)."""
    blocks = guide_blocks()
    params: set[str] = set()
    for name, text in blocks:
        if name is None and text.startswith(":param"):
            for line in text.splitlines():
                assert " => " in line and line.endswith(";"), line
                params.add(line.split()[1])
            continue
        if name:
            needed = {p.name for p in get_query(name).params}
            assert needed <= params, f"{name} needs {needed - params} before it runs"


def test_stylesheet_styles_every_label_with_a_distinct_colour_and_caption():
    style = stylesheet()
    colours = {}
    for label in SCHEMA_LABELS:
        rule = style[f"node.{label}"]
        assert rule["caption"] and rule["caption"] != "<id>", label
        colours[label] = rule["color"].upper()
    assert len(set(colours.values())) == len(colours), colours
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert set(colours.values()) <= okabe_ito, "colours outside the colour-blind-safe Okabe-Ito palette"
    assert style["node.Neuron"]["caption"] == "{layer}:{index}"
    assert style["node.Sample"]["caption"] == "{label}/{prediction}"
    assert style["node.Class"]["caption"] == "{name}"
    assert all(f"relationship.{t}" in style for t in SCHEMA_TYPES)
    keys = list(style)
    assert keys.index("node.GraphNode") < min(keys.index(f"node.{label}") for label in SCHEMA_LABELS), (
        "the Browser applies rules in order: :GraphNode must come before the labels that override it"
    )


def test_conf_applies_style_and_guide_on_connect(tmp_path):
    conf = neo4j_server.render_conf(tmp_path, tmp_path / "dist", 7687, 17474, neo4j_server.MEMORY)
    lines = dict(line.split("=", 1) for line in conf.splitlines() if line.startswith("browser."))
    base = "http://127.0.0.1:17474/browser/graphstore"
    assert lines["browser.post_connect_cmd"] == f"style {base}/style.grass; guide {base}/guide.html"
    assert "127.0.0.1" in lines["browser.remote_content_hostname_whitelist"].split(",")
    csp = conf.split(f"\n{browser_content.CSP_SETTING}=", 1)[1].splitlines()[0]
    assert "connect-src 'self' http://127.0.0.1:* http://localhost:* ws://127.0.0.1:* ws://localhost:*" in csp


def test_content_jar_is_the_browser_plus_the_two_files(tmp_path):
    dist = tmp_path / "dist"
    (dist / "lib").mkdir(parents=True)
    with zipfile.ZipFile(dist / "lib" / "neo4j-browser-5.24.0.jar", "w") as jar:
        jar.writestr("browser/index.html", "<html>browser</html>")
    conf = tmp_path / "conf"
    conf.mkdir()
    written = browser_content.write_content_jar(conf, dist)
    assert written == conf / "graphstore-browser.jar"
    with zipfile.ZipFile(written) as jar:
        assert jar.read("browser/index.html") == b"<html>browser</html>"
        for name in browser_content.FILES:
            assert jar.read(f"browser/graphstore/{name}") == (CONTENT / name).read_bytes()
    (dist / "lib" / "neo4j-browser-5.24.0.jar").unlink()
    assert browser_content.write_content_jar(conf, dist) is None and not written.exists()


def test_connect_url_fills_in_server_and_user_never_a_password():
    url = browser_content.connect_url("http://127.0.0.1:7474/", "bolt://127.0.0.1:7687", "ne@o")
    parts = urlsplit(url)
    assert parts.path == "/browser/"
    query = parse_qs(parts.query)
    assert query == {"dbms": ["bolt://ne%40o@127.0.0.1:7687"], "db": ["neo4j"], "preselectAuthMethod": ["NATIVE"]}


def test_browse_refuses_the_embedded_store(tmp_path):
    with pytest.raises(ServiceError, match="embedded") as info:
        run_browse(JobContext(Settings(data_dir=tmp_path)), BrowseParams())
    assert "graphstore services start" in info.value.hint


def test_browse_without_a_server_names_the_address_and_no_check_still_answers(tmp_path):
    settings = Settings(data_dir=tmp_path, graph_store="bolt://127.0.0.1:1", neo4j_password="s3cret-pass")
    with pytest.raises(ServiceError, match=r"does not answer at http://127\.0\.0\.1:7474/browser/"):
        run_browse(JobContext(settings), BrowseParams())
    done = run_browse(JobContext(settings), BrowseParams(http="127.0.0.1:9", check=False))
    assert done.url.startswith("http://127.0.0.1:9/browser/?") and "s3cret" not in done.url
    assert done.styled is None


# ---- a real Chromium against the test server -------------------------------------------------------------------


def require_chromium() -> tuple[str, str]:
    """The chromium and chromedriver executables; fails (never skips) with the install command when one is missing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail(f"Chromium or chromedriver is not installed (the Browser test needs both): {INSTALL}")
    return browser, driver


def chromium() -> Any:
    """A headless Chromium WebDriver (fails when Chromium or selenium is missing)."""
    browser, driver = require_chromium()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: make venv (it is in pyproject's dev extra)")
    options = Options()
    options.binary_location = browser
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # the DevTools Network events
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1200",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def wait_for(what: str, probe: Any, shots: Path, driver: Any, timeout: float = WAIT) -> Any:
    """Poll probe() until it returns something truthy; on timeout save a screenshot and fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    driver.save_screenshot(str(shots / "timeout.png"))
    pytest.fail(f"Neo4j Browser: {what} did not happen within {timeout:.0f} s (screenshot {shots / 'timeout.png'})")


def guide_open(driver: Any) -> bool:
    """Whether the guide sidebar shows graphstore's guide (its runnable blocks and its slide buttons)."""
    from selenium.webdriver.common.by import By

    buttons = driver.find_elements(By.CSS_SELECTOR, "button[data-testid=guideNextSlide]")
    return bool(buttons) and bool(driver.find_elements(By.CSS_SELECTOR, "pre.runnable"))


def params_hold(driver: Any, expected: dict[str, str]) -> bool:
    """Whether the Browser holds these parameters, asked with `:params` (each `:param x => v` of a block is evaluated
    on the server in turn, so a query run right after the block can find some still missing)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, ".monaco-editor textarea").click()
    ActionChains(driver).send_keys(":params").perform()
    driver.find_element(By.CSS_SELECTOR, "button[data-testid=editor-Run]").click()
    time.sleep(1)
    newest = driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame]")[:1]
    text = newest[0].text if newest else ""
    return text.startswith(":params") and all(f'"{k}": {v}' in text for k, v in expected.items())


def guide_slide(driver: Any, shots: Path, name: str) -> None:
    """Page the guide forward to the slide that holds named query `name`."""
    from selenium.webdriver.common.by import By

    def find() -> Any:
        found = driver.find_elements(By.CSS_SELECTOR, f"pre.runnable[data-query={name}]")
        if not found:
            driver.find_element(By.CSS_SELECTOR, "button[data-testid=guideNextSlide]").click()
        return found

    wait_for(f"the guide's slide with {name}", find, shots, driver, timeout=30)


def run_block(driver: Any, shots: Path, what: str, css: str, starts: str = "") -> None:
    """Click the guide block matching css whose text starts with `starts` (it goes into the editor), then run it;
    found afresh each time, since the frames above the guide re-render."""
    from selenium.webdriver.common.by import By

    def block() -> list[Any]:
        return [b for b in driver.find_elements(By.CSS_SELECTOR, css) if b.text.startswith(starts)]

    wait_for(what, block, shots, driver, timeout=30)[0].click()
    time.sleep(0.3)
    driver.find_element(By.CSS_SELECTOR, "button[data-testid=editor-Run]").click()


@pytest.mark.neo4j
@pytest.mark.slow
def test_browser_connects_styles_and_draws_a_named_query(tmp_path):
    """Chromium opens `graphstore browse`'s address, connects, gets the guide and style on connect, runs the hubs_graph
    named query from the guide on an ingested graph and draws its nodes with the stylesheet's colours and captions."""
    from selenium.webdriver.common.by import By

    require_chromium()
    server = neo4j_params()
    store = make_neo4j()
    try:
        store.write_graph(small_graph("demo-weights"))  # the guide's default graph id
    finally:
        store.close()
    settings = Settings(
        data_dir=tmp_path, graph_store=server.uri, neo4j_user=server.user, neo4j_password=server.password
    )
    browse = run_browse(JobContext(settings), BrowseParams(http=neo4j_http()))
    assert browse.styled, f"the test server does not apply the style and guide: {browse.post_connect_cmd!r}"
    assert server.password not in browse.url
    style = stylesheet()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    driver = chromium()
    try:
        driver.get(browse.url)
        password = wait_for(
            "the connect form",
            lambda: driver.find_elements(By.CSS_SELECTOR, "input[data-testid=password]"),
            shots,
            driver,
        )[0]
        assert driver.find_element(By.CSS_SELECTOR, "input[data-testid=username]").get_attribute("value") == server.user
        password.send_keys(server.password)
        driver.save_screenshot(str(shots / "1-connect.png"))
        driver.find_element(By.CSS_SELECTOR, "button[data-testid=connect]").click()
        frames = lambda: [f.text for f in driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame]")]  # noqa: E731
        wait_for("the guide in the sidebar on connect", lambda: guide_open(driver), shots, driver)
        styled = lambda: any("style.grass" in t and "{layer}:{index}" in t for t in frames())  # noqa: E731
        wait_for("the style frame on connect", styled, shots, driver, timeout=30)  # it may land after the guide
        driver.save_screenshot(str(shots / "2-guide.png"))

        guide_slide(driver, shots, "hubs_graph")
        run_block(driver, shots, "the :param block", "pre.runnable", ":param graph_id")
        wait_for(
            "the parameters",
            lambda: params_hold(driver, {"graph_id": '"demo-weights"', "neighbours": "10"}),
            shots,
            driver,
        )
        run_block(driver, shots, "the hubs_graph block", "pre.runnable[data-query=hubs_graph]")

        def drawn() -> list[Any]:
            newest = driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame]")[:1]
            return newest[0].find_elements(By.CSS_SELECTOR, "svg g.node") if newest else []

        nodes = wait_for("the hubs_graph result drawn as a graph", drawn, shots, driver)
        time.sleep(1)  # let the layout settle for the screenshot
        driver.save_screenshot(str(shots / "3-hubs-graph.png"))
        nodes = drawn()
        drawn_nodes = {
            n.find_element(By.CSS_SELECTOR, "text.caption").text.strip(): n.find_element(
                By.CSS_SELECTOR, "circle.b-outline"
            ).get_attribute("fill")
            for n in nodes
        }
    finally:
        driver.quit()
    neurons = {"in:0", "in:1", "in:2", "h:0", "h:1", "out:0", "out:1"}
    assert set(drawn_nodes) == neurons | {"cat", "dog"}, drawn_nodes  # the 5 hubs and their neighbours: all 9 nodes
    for caption, fill in drawn_nodes.items():
        label = "Neuron" if caption in neurons else "Class"
        assert fill.upper() == style[f"node.{label}"]["color"].upper(), (caption, fill)
    assert sorted(p.name for p in shots.iterdir()) == ["1-connect.png", "2-guide.png", "3-hubs-graph.png"]


def _local(url: str) -> bool:
    """Whether url stays on this machine: a loopback host, or no host at all (data:, blob:, about:)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "devtools"):
        return True
    host = parts.hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def network_requests(driver: Any) -> list[tuple[str, str]]:
    """(url, how it ended) of every request and WebSocket the page tried, from Chromium's performance log: "sent", or
    "blocked:<reason>" when Chromium refused it before it was sent (e.g. the server's Content-Security-Policy)."""
    urls: dict[str, str] = {}
    ends: dict[str, str] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls.setdefault(params["requestId"], params["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.setdefault(params["requestId"], params["url"])
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            ends[params["requestId"]] = f"blocked:{params['blockedReason']}"
    return [(url, ends.get(rid, "sent")) for rid, url in urls.items()]


@pytest.mark.neo4j
def test_browser_is_served_with_a_loopback_only_content_security_policy():
    """The policy that keeps the Browser off the internet comes with the Browser page itself."""
    with urllib.request.urlopen(neo4j_http() + "/browser/", timeout=10) as response:
        policy = response.headers.get("Content-Security-Policy", "")
    assert policy == browser_content.content_security_policy(), policy
    for internet in ("segment", "canny", "googleapis", "gstatic", "https:", " http: "):
        assert internet not in policy


@pytest.mark.neo4j
@pytest.mark.slow
def test_browser_sends_no_request_beyond_this_machine(tmp_path):
    """Chromium loads the Browser, connects (post-connect: style and guide) and idles; every request and WebSocket it
    tried went to a loopback host, and any the Browser's code aimed at the internet (web fonts, Segment, Canny) was
    blocked by Chromium before it was sent, so none reached the network."""
    from selenium.webdriver.common.by import By

    require_chromium()
    server = neo4j_params()
    settings = Settings(
        data_dir=tmp_path, graph_store=server.uri, neo4j_user=server.user, neo4j_password=server.password
    )
    browse = run_browse(JobContext(settings), BrowseParams(http=neo4j_http()))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    driver = chromium()
    try:
        driver.get(browse.url)
        form = lambda: driver.find_elements(By.CSS_SELECTOR, "input[data-testid=password]")  # noqa: E731
        wait_for("the connect form", form, shots, driver)[0].send_keys(server.password)
        driver.find_element(By.CSS_SELECTOR, "button[data-testid=connect]").click()
        wait_for("the guide in the sidebar on connect", lambda: guide_open(driver), shots, driver)
        time.sleep(5)  # what the Browser loads after connecting (widgets, analytics) has time to start
        tried = network_requests(driver)
    finally:
        driver.quit()
    assert any(_local(url) and url.startswith("ws://") for url, _ in tried), "no Bolt WebSocket was recorded"
    assert any(url.endswith("/browser/graphstore/guide.html") for url, _ in tried), "the guide fetch was not recorded"
    left = [(url, how) for url, how in tried if not _local(url) and not how.startswith("blocked:")]
    assert not left, f"requests sent beyond this machine: {left}"


# ---- the Browser's named queries on Neo4j ----------------------------------------------------------------------


@pytest.mark.neo4j
def test_browser_queries_return_hubs_and_communities_by_hand():
    """small_graph: hub 3 has degree 5 (3 in, 2 out); 4, 5, 6 have 3; 0 has 2. Communities: louvain = key % 2 on the
    7 neurons, so {0, 2, 4, 6} (4 members) and {1, 3, 5} (3); the two classes have none."""
    store = make_neo4j()
    try:
        store.write_graph(small_graph("g1"))
        store.execute("MATCH (n:Neuron {graph_id: 'g1'}) SET n.louvain = n.key % 2")
        hubs = store.run_query("hubs_graph", {"graph_id": "g1", "limit": 5, "neighbours": 10})
        grouped = store.run_query("communities", {"graph_id": "g1", "members": 3})
        drawn = store.run_query("community_graph", {"graph_id": "g1"})
    finally:
        store.close()
    assert [(row[0]["key"], row[1], len(row[2]), len(row[3])) for row in hubs.rows] == [
        (3, 5, 5, 5),
        (4, 3, 3, 3),
        (5, 3, 3, 3),
        (6, 3, 3, 3),
        (0, 2, 2, 2),
    ]
    assert grouped.rows == [[0, 4, ["Neuron"], ["g1:0", "g1:2", "g1:4"]], [1, 3, ["Neuron"], ["g1:1", "g1:3", "g1:5"]]]
    assert [(row[0], row[1], sorted(m["key"] for m in row[2]), len(row[3])) for row in drawn.rows] == [
        ({"property": "louvain", "community": 0, "size": 4}, 4, [0, 2, 4, 6], 4),
        ({"property": "louvain", "community": 1, "size": 3}, 3, [1, 3, 5], 3),
    ]


def test_browser_queries_are_neo4j_only(tmp_path):
    store = make_embedded(tmp_path)
    try:
        store.write_graph(small_graph("g1"))
        with pytest.raises(QueryError, match="no version for the ladybug store"):
            store.run_query("communities", {"graph_id": "g1"})
    finally:
        store.close()


def test_browse_command_prints_the_address_without_the_password(tmp_path):
    """Through the real command line: the address on stdout's first line, the password nowhere."""
    from tests.test_cli import run_cli

    secret = "not-printed-8f2c"
    result = run_cli(
        tmp_path,
        "--graph-store",
        "bolt://127.0.0.1:7687",
        "--neo4j-password",
        secret,
        "browse",
        "--http",
        "http://127.0.0.1:7474",
        "--no-check",
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first == (
        "http://127.0.0.1:7474/browser/?dbms=bolt%3A%2F%2Fneo4j%40127.0.0.1%3A7687&db=neo4j&preselectAuthMethod=NATIVE"
    )
    assert secret not in result.stdout + result.stderr
    refused = run_cli(tmp_path, "browse")
    assert refused.returncode == 2 and "embedded" in refused.stderr, refused.stderr


# ---- colours that say what a node is, and a guide that fits its sidebar ----------------------------------------


def class_graph(graph_id: str) -> Graph:
    """12 samples of classes 0, 1, 2 (label = key % 3) in a ring of KNN links, sample 0 the one hub."""
    g = Graph(graph_id, "knn", params={"k": 2})
    keys = np.arange(12)
    g.add_nodes(
        "Sample",
        keys,
        idx=keys,
        label=keys % 3,
        prediction=(keys + 1) % 3,
        split=["test"] * 12,
        k_occurrence=np.where(keys == 0, 12, 1),
    )
    src = np.concatenate([keys, np.zeros(6, dtype=np.int64)])
    dst = np.concatenate([(keys + 1) % 12, np.arange(2, 8)])
    g.add_edges("KNN", "Sample", "Sample", src, dst, distance=np.linspace(0.1, 1.7, 18), rank=np.ones(18, dtype=int))
    return g


def layered_graph(graph_id: str) -> Graph:
    """small_graph with the layer_index the extractors write (-1 for inputs)."""
    g = small_graph(graph_id)
    g.nodes["Neuron"].props["layer_index"] = np.array([-1, -1, -1, 0, 0, 1, 1])
    return g


def test_style_rules_for_classes_and_layers_come_after_the_labels_they_recolour():
    """Classes 0-9 and layers 0-7 each have a distinct colour, and the rules follow :Sample / :Neuron / :Patch (the
    Browser merges matching rules in order, so the later class or layer colour wins)."""
    style = stylesheet()
    keys = list(style)
    classes = [style[f"node.Class{k}"]["color"].upper() for k in range(10)]
    layers = [style[f"node.Layer{i}"]["color"].upper() for i in range(8)]
    assert len(set(classes)) == 10 and len(set(layers)) == 8
    labels = {style[f"node.{label}"]["color"].upper() for label in SCHEMA_LABELS}
    assert not set(classes) & labels, "a class colour is also a label's colour"
    last_label = max(keys.index(f"node.{label}") for label in ("Sample", "Neuron", "Patch"))
    assert min(keys.index("node.Class0"), keys.index("node.Layer0")) > last_label
    assert "{classes}" in style["node.Community"]["caption"]


def test_style_labels_of_a_graph():
    from graphstore.store.neo4j_store import style_labels

    found = style_labels(class_graph("c")) + style_labels(layered_graph("l"))
    assert [extra for *_, extra in found] == ["Class0", "Class1", "Class2", "Layer0", "Layer1", "Layer2"]
    assert style_labels(small_graph("s")) == []  # no layer_index: nothing added


@pytest.mark.parametrize("backend", ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_graphs_with_style_labels_read_back_unchanged(backend, tmp_path):
    """Both stores take the same graphs; Neo4j adds :Class<k> and :Layer<i> and reads them back without them."""
    store = make_embedded(tmp_path) if backend == "embedded" else make_neo4j()
    try:
        for graph in (class_graph("c1"), layered_graph("l1")):
            store.write_graph(graph)
            back = store.read_graph(graph.graph_id)
            assert sorted(back.nodes) == sorted(graph.nodes) and sorted(back.edges) == sorted(graph.edges)
            for label, table in graph.nodes.items():
                assert back.nodes[label].keys.tolist() == table.keys.tolist()
        if backend == "neo4j":
            rows = store.execute(
                "MATCH (n:GraphNode) WHERE n.graph_id IN ['c1', 'l1'] "
                "RETURN n.key AS key, [l IN labels(n) WHERE l <> 'GraphNode'] AS labels "
                "ORDER BY n.graph_id, key"
            ).rows
            labels = {tuple(sorted(r[1])) for r in rows}
            assert ("Class",) in labels and ("Neuron",) not in labels
            assert ("Class1", "Sample") in labels and ("Layer0", "Neuron") in labels and ("Layer2", "Neuron") in labels
            grouped = store.run_query("communities", {"graph_id": "c1", "property": "label"})
            assert [row[2] for row in grouped.rows] == [["Sample"]] * 3
    finally:
        store.close()


@pytest.mark.neo4j
def test_community_tree_graph_draws_the_tree_with_class_names():
    """Three leaves under one root: the query returns one path per PARENT link, each community with its classes."""
    tree = Graph("t-hierarchy", "hierarchy", params={"source_graph": "t"})
    tree.add_nodes(
        "Community",
        np.arange(4),
        algorithm=["louvain"] * 4,
        level=[0, 0, 0, 1],
        block=[0, 1, 2, 0],
        size=[2, 1, 1, 4],
        classes=["cat,dog", "bird", "", "bird,cat,dog"],
    )
    tree.add_edges("PARENT", "Community", "Community", [0, 1, 2], [3, 3, 3])
    store = make_neo4j()
    try:
        store.write_graph(tree)
        drawn = store.execute(
            "CALL () { " + query_body("community_tree_graph") + " } "
            "RETURN [n IN nodes(p) | n.classes] AS classes ORDER BY classes",
            {"graph_id": "t-hierarchy"},
        )
    finally:
        store.close()
    assert drawn.rows == [[["", "bird,cat,dog"]], [["bird", "bird,cat,dog"]], [["cat,dog", "bird,cat,dog"]]]


@contextmanager
def throwaway_neo4j() -> Iterator[dict[str, Any]]:
    """A Neo4j of its own, started as `graphstore services start` does, so it serves this checkout's style.grass and
    guide.html (the shared test server serves those it was started with) and no other test empties it meanwhile."""
    if not neo4j_dist.is_complete(neo4j_dist.dist_dir()):
        pytest.fail("Neo4j jars are not cached (run `graphstore services start` once)")
    root = Path(tempfile.mkdtemp(prefix="gs-browser-test-"))
    root.chmod(0o755)
    run_dir = root / "neo4j"
    try:
        yield neo4j_server.start_neo4j(run_dir, memory={"heap_max": "1g", "pagecache": "64m"}, warm_up=False)
    finally:
        neo4j_server.stop_neo4j(run_dir, purge=True)
        shutil.rmtree(root, ignore_errors=True)


def type_command(driver: Any, text: str) -> None:
    """Type a command into the Browser's editor and run it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, ".monaco-editor textarea").click()
    ActionChains(driver).send_keys(text).perform()
    driver.find_element(By.CSS_SELECTOR, "button[data-testid=editor-Run]").click()


GUIDE_FIT = """
const drawer = document.querySelector('[data-testid=guidesDrawer]');
const over = (e) => e.scrollWidth > e.clientWidth + 1;
const bad = [];
for (const e of [drawer, ...drawer.querySelectorAll('.slide')])
  if (over(e)) bad.push('overflow ' + e.scrollWidth + '>' + e.clientWidth);
for (const h of drawer.querySelectorAll('h3, p, td, th')) if (over(h)) bad.push('cut: ' + h.textContent.slice(0, 40));
for (const c of drawer.querySelectorAll('code, h3'))
  if (!/\\s/.test(c.textContent.trim()) && c.getClientRects().length > 1) bad.push('split: ' + c.textContent);
return [drawer.clientWidth, drawer.querySelectorAll('h3').length, bad];
"""


def guide_fits(driver: Any, shots: Path) -> list[str]:
    """Page through the whole guide at the sidebar's default width; what overflows or is split, slide by slide."""
    from selenium.webdriver.common.by import By

    problems: list[str] = []
    for slide in range(1, 30):
        width, headings, bad = driver.execute_script(GUIDE_FIT)
        assert width >= 300 and headings >= 1, (width, headings)
        problems += [f"slide {slide}: {b}" for b in bad]
        if slide == 1:
            driver.save_screenshot(str(shots / "guide.png"))
        buttons = driver.find_elements(By.CSS_SELECTOR, "button[data-testid=guideNextSlide]")
        if not buttons or not buttons[0].is_enabled():
            return problems
        before = heading(driver)
        buttons[0].click()
        if not wait_for_quietly(lambda: heading(driver) != before, 5):  # noqa: B023 (called before `before` changes)
            return problems
    pytest.fail("the guide has no last slide")


def heading(driver: Any) -> str:
    """The heading of the guide's current slide."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, "[data-testid=guidesDrawer] h3").text


def wait_for_quietly(probe: Any, timeout: float) -> bool:
    """Poll probe() until it is truthy or timeout seconds pass; whether it became truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.2)
    return False


def colours_in(png: Path, colours: set[str]) -> set[str]:
    """Which of the #RRGGBB colours appear as pixels of the screenshot (the circles are filled flat)."""
    from PIL import Image

    pixels = {"#{:02X}{:02X}{:02X}".format(*p[:3]) for _, p in Image.open(png).convert("RGB").getcolors(1 << 24)}
    return colours & pixels


@pytest.mark.neo4j
@pytest.mark.slow
def test_browser_colours_samples_by_class_and_the_guide_fits_its_sidebar(tmp_path):
    """Chromium: the guide at the sidebar's default width has no heading cut, no word split and no horizontal
    overflow on any slide; with this checkout's stylesheet (applied on connect by a throw-away server), the guide's
    knn_graph block draws samples of three classes in the three colours of :Class0-2, seen in the screenshot."""
    from selenium.webdriver.common.by import By

    from graphstore.store.neo4j_store import Neo4jStore

    require_chromium()
    style = stylesheet()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with throwaway_neo4j() as server:
        store = Neo4jStore(server["bolt_uri"], "neo4j", server["password"])
        try:
            store.write_graph(class_graph("demo-knn-k8"))  # the id the guide's knn slide uses
        finally:
            store.close()
        base = f"{server['http_uri']}/browser/graphstore"
        driver = chromium()
        try:
            driver.get(browser_content.connect_url(server["http_uri"], server["bolt_uri"], "neo4j"))
            form = lambda: driver.find_elements(By.CSS_SELECTOR, "input[data-testid=password]")  # noqa: E731
            wait_for("the connect form", form, shots, driver)[0].send_keys(server["password"])
            driver.find_element(By.CSS_SELECTOR, "button[data-testid=connect]").click()
            wait_for("the guide in the sidebar on connect", lambda: guide_open(driver), shots, driver)
            frames = lambda: [f.text for f in driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame]")]  # noqa: E731
            wait_for("this checkout's stylesheet", lambda: any("node.Class9" in t for t in frames()), shots, driver)
            overflow = guide_fits(driver, shots)
            type_command(driver, f":guide {base}/guide.html")  # back to its first slide
            time.sleep(2)
            guide_slide(driver, shots, "knn_graph")
            run_block(driver, shots, "the :param block", "pre.runnable", ":param graph_id")
            expected = {"graph_id": '"demo-knn-k8"', "limit": "10"}
            wait_for("the parameters", lambda: params_hold(driver, expected), shots, driver)
            run_block(driver, shots, "the knn_graph block", "pre.runnable[data-query=knn_graph]")

            def drawn() -> list[Any]:
                newest = driver.find_elements(By.CSS_SELECTOR, "[data-testid=frame]")[:1]
                return newest[0].find_elements(By.CSS_SELECTOR, "svg g.node") if newest else []

            wait_for("the knn_graph result drawn as a graph", drawn, shots, driver)
            time.sleep(2)  # let the layout settle for the screenshot
            driver.save_screenshot(str(shots / "knn-by-class.png"))
            fills = [
                (
                    n.find_element(By.CSS_SELECTOR, "text.caption").text.strip(),
                    n.find_element(By.CSS_SELECTOR, "circle.b-outline").get_attribute("fill"),
                )
                for n in drawn()
            ]
        finally:
            driver.quit()
    assert not overflow, overflow
    assert len(fills) == 12, fills  # 10 hub samples and their neighbours: all 12, captioned label/prediction
    for caption, fill in fills:
        assert fill.upper() == style[f"node.Class{caption.split('/')[0]}"]["color"].upper(), (caption, fill)
    class_colours = {style[f"node.Class{k}"]["color"].upper() for k in range(3)}
    assert len({fill.upper() for _, fill in fills}) == 3
    assert colours_in(shots / "knn-by-class.png", class_colours) == class_colours, "the screenshot lacks a class colour"
    assert (shots / "guide.png").stat().st_size > 20_000  # a drawn page, not a blank one
