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
import time
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from graphstore.config import Settings
from graphstore.errors import QueryError, ServiceError
from graphstore.jobs.base import JobContext
from graphstore.jobs.browse import BrowseParams, run_browse
from graphstore.services import browser_content, neo4j_server
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
        assert any("style.grass" in t and "{layer}:{index}" in t for t in frames()), "the style frame is missing"
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
