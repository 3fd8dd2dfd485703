"""Reports as a person sees them (issue 23 item 6): every kind of report - experiment, comparison, graph, run, index -
written from real tiny data (two trained runs, stored graphs with real analyses, a toy experiment with declared
figures) and opened in headless Chromium at 1280 px. Each declared figure is found by its element id and is not
blank (the grey-level spread of the screenshot over its box), the page does not scroll sideways
(document.documentElement.scrollWidth <= 1280), and the console has no errors.

With GRAPHSTORE_SCREENSHOT_DIR set (scripts/report_screenshots.sh), one screenshot per kind of report is also written
there as a palette PNG: docs/REPORTS.md shows them.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageStat

import tests.experiment_support  # noqa: F401  (registers toy-sum)
from graphstore.experiments.runner import ExperimentParams, run_experiment
from graphstore.graph import Graph
from graphstore.jobs.analyze import analysis_job, analysis_params
from graphstore.jobs.base import JobContext
from graphstore.jobs.train import ModelChoice, TrainParams, run_train
from graphstore.nn.config import TrainConfig
from graphstore.persist import save_graph
from graphstore.report.compare import CompareReportParams, run_compare_report
from graphstore.report.job import AllReportsParams, BatchResult, Written, run_all_reports
from tests.chromium import chrome_driver
from tests.experiment_support import context_at
from tests.test_experiment_figures import TOY
from tests.test_report_drawings import knn_graph

WIDTH = 1280
HEIGHT = 900
MIN_SPREAD = 8.0  # grey-level standard deviation over a figure's box: a blank or one-colour image is ~0


@dataclass
class Made:
    """The written reports: the batch (every experiment, run and graph, and the index) and one comparison."""

    context: JobContext
    batch: BatchResult
    compare: Written
    runs: list[int]
    experiment: int

    def page(self, kind: str, ident: str) -> Written:
        return next(w for w in self.batch.written if w.kind == kind and w.id == ident)


CLASSES = ["shirt", "T-shirt", "sneaker", "ankle boot", "bag", "dress"]
REFERENCE = "((shirt,T-shirt),(sneaker,'ankle boot'),(bag,dress));"


def noisy_coactivation() -> Graph:
    """30 hidden neurons and 6 output neurons in three planted pairs of classes; within a pair's group an edge has
    probability 0.6, across groups 0.3 (seeded): noisy enough that Louvain's runs give several class trees."""
    rng = np.random.default_rng(1)
    hidden = 30
    n = hidden + len(CLASSES)
    group = np.concatenate([np.arange(hidden) % 3, np.repeat([0, 1, 2], 2)])
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    src, dst = zip(*[(i, j) for i, j in pairs if rng.random() < (0.6 if group[i] == group[j] else 0.3)], strict=True)
    graph = Graph("tiny-noisy", "coactivation")
    names = np.array([None] * hidden + CLASSES, dtype=object)
    layer = np.repeat([0, 1], [hidden, len(CLASSES)])
    index = np.concatenate([np.arange(hidden), np.arange(len(CLASSES))])
    graph.add_nodes("Neuron", np.arange(n), class_name=names, layer_index=layer, index=index)
    graph.add_edges("COACTIVATES", "Neuron", "Neuron", src, dst, directed=False, w=np.ones(len(src)))
    return graph


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """Two mlp-on-digits runs (lr 0.01, 0.05), a kNN graph and a co-activation graph stored with Louvain and an
    8-run hierarchy analysis (which stores its community hierarchy), the toy experiment; all reports written."""
    root = tmp_path_factory.mktemp("screens")
    context = context_at(root)
    runs = []
    for lr in (0.01, 0.05):
        params = TrainParams(ModelChoice(model="mlp", dataset="digits"), f"screens-{lr}", TrainConfig(epochs=3, lr=lr))
        runs.append(int(run_train(context, params).run_id))
    coactivation = noisy_coactivation()
    for graph in (knn_graph(per_class=20), coactivation):
        save_graph(context.settings, graph)
    for name, method in (
        ("louvain", {"weight": "w"}),
        ("hierarchy", {"method": "louvain-levels", "runs": 8, "workers": 1, "reference": REFERENCE}),
    ):
        analysis_job(name).run(context, analysis_params(name, coactivation.graph_id, engine="client", **method))
    definition = root / "toy-figures.toml"
    definition.write_text(TOY)
    experiment = int(run_experiment(context, ExperimentParams(name=str(definition))).run_id)
    out = root / "reports"
    batch = run_all_reports(context, AllReportsParams(out=str(out)))
    assert not batch.failed, batch.failed
    compare = run_compare_report(context, CompareReportParams(ids=tuple(map(str, runs)), out=str(out)))
    return Made(context, batch, compare, runs, experiment)


def spread(png: bytes) -> float:
    """The grey-level standard deviation of a screenshot (0 for a blank or one-colour box)."""
    return float(ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).stddev[0])


def look(driver: Any, page: Path, expected: set[str], shots: Path) -> dict[str, float]:
    """Open a report at 1280 px: no sideways scroll, the expected figures present; each figure's spread by id."""
    from selenium.webdriver.common.by import By  # deferred: selenium is a dev dependency, loaded only here

    driver.get(page.as_uri())
    assert driver.execute_script("return window.innerWidth") == WIDTH
    scroll_width = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= WIDTH, f"{page.name} scrolls sideways: {scroll_width} px wide"
    ids = driver.execute_script("return Array.from(document.querySelectorAll('figure')).map(f => f.id)")
    assert expected <= set(ids), (page.name, sorted(expected - set(ids)))
    spreads = {}
    for ident in ids:
        image = driver.find_element(By.ID, ident).find_element(By.TAG_NAME, "img")
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0, ident
        assert image.size["width"] >= 200 and image.rect["x"] + image.size["width"] <= WIDTH, (ident, image.rect)
        spreads[ident] = spread(image.screenshot_as_png)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert driver.save_screenshot(str(shots / f"{page.stem}.png"))
    return spreads


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - selenium's WebDriver
    browser = chrome_driver(tmp_path_factory.mktemp("shots"), WIDTH, HEIGHT)
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    yield browser
    browser.quit()


def check(
    driver: Any, page: Path, expected: set[str], tmp_path: Path, docs_name: str, docs_at: str = ""
) -> dict[str, float]:
    """look() at a page, every figure not blank; the docs screenshot (scrolled to `docs_at`) when asked for."""
    spreads = look(driver, page, {f"fig-{e}" for e in expected}, tmp_path)
    blank = {ident: round(s, 2) for ident, s in spreads.items() if s < MIN_SPREAD}
    assert not blank, f"blank figures in {page.name}: {blank}"
    docs_shot(driver, docs_name, docs_at)
    return spreads


def docs_shot(driver: Any, name: str, at: str = "") -> None:
    """With GRAPHSTORE_SCREENSHOT_DIR set, the window (scrolled to figure `at`, else the top) as a palette PNG."""
    docs = os.environ.get("GRAPHSTORE_SCREENSHOT_DIR")
    if not docs:
        return
    if at:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", f"fig-{at}")
        driver.execute_script("window.scrollBy(0, -60)")
    else:
        driver.execute_script("window.scrollTo(0, 0)")
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image.quantize(colors=128).save(Path(docs) / f"report-{name}.png", optimize=True)


def test_the_checks_catch_a_page_wider_than_the_screen_and_a_blank_figure(driver: Any, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buffer, format="PNG")
    blank = base64.b64encode(buffer.getvalue()).decode()
    figure = f'<figure id="fig-blank"><img src="data:image/png;base64,{blank}"></figure>'
    wide, narrow = tmp_path / "wide.html", tmp_path / "narrow.html"
    wide.write_text(f'<html><body>{figure}<table style="width:1500px"><tr><td>x</td></tr></table></body></html>')
    narrow.write_text(f"<html><body>{figure}</body></html>")
    with pytest.raises(AssertionError, match="scrolls sideways: 15"):
        look(driver, wide, set(), tmp_path)
    with pytest.raises(AssertionError, match="fig-missing"):
        look(driver, narrow, {"fig-missing"}, tmp_path)
    with pytest.raises(AssertionError, match="blank figures in narrow.html"):
        check(driver, narrow, set(), tmp_path, "none")


def test_experiment_report_on_screen(made: Made, driver: Any, tmp_path: Path) -> None:
    page = made.page("experiment", str(made.experiment)).html
    check(driver, page, {"scaled-vs-seed", "total-bars"}, tmp_path, "experiment", "scaled-vs-seed")


def test_compare_report_on_screen(made: Made, driver: Any, tmp_path: Path) -> None:
    a, b = made.runs
    expected = {f"compare-{a}-{b}-{m}" for m in ("train_loss", "train_acc", "val_loss", "val_acc")}
    check(driver, made.compare.html, expected, tmp_path, "compare", f"compare-{a}-{b}-val_acc")


def test_graph_reports_on_screen(made: Made, driver: Any, tmp_path: Path) -> None:
    name = "tiny-noisy"
    drawn = {"node-link", "class-class", "class-tree", "consensus-tree", "rf-matrix", "louvain-sizes", "degrees"}
    check(driver, made.page("graph", name).html, {f"{name}-{d}" for d in drawn}, tmp_path, "graph", f"{name}-node-link")
    docs_shot(driver, "class-class", f"{name}-class-class")
    docs_shot(driver, "consensus", f"{name}-consensus-tree")
    docs_shot(driver, "rf-matrix", f"{name}-rf-matrix")
    hierarchy = f"{name}-hierarchy"
    tree = f"{hierarchy}-hierarchy-tree"
    check(driver, made.page("graph", hierarchy).html, {tree}, tmp_path, "hierarchy", tree)
    knn = {"tiny-knn-knn-embedding", "tiny-knn-class-class", "tiny-knn-k-occurrence"}
    check(driver, made.page("graph", "tiny-knn").html, knn, tmp_path, "knn", "tiny-knn-knn-embedding")


def test_run_report_and_index_on_screen(made: Made, driver: Any, tmp_path: Path) -> None:
    page = made.page("run", str(made.runs[0])).html
    assert check(driver, page, set(), tmp_path, "run"), "a training run's report draws its curves"
    check(driver, made.batch.index_html, set(), tmp_path, "index")
    index = made.batch.index_html.read_text()
    for written in made.batch.written:
        assert f'href="{written.html.name}"' in index
