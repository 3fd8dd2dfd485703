"""Figures as data: a toy experiment's declared figures drawn with mean +- std bands where n > 1 (none where n = 1),
the paper's points overlaid, the claims' verdicts under the figure they concern, SVG and PNG files beside the
Markdown (PNG not blank), and each shipped experiment at smoke scale whose report holds every declared figure:
imp-topology at its own smoke grid, the others at the smoke grid with `--set` overrides to tiny settings (one
cell, an epoch or two, a hundred samples; about 35 s CPU for the four).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import graphstore.report.experiment_figures as experiment_figures
import tests.experiment_support  # noqa: F401  (registers toy-sum)
from graphstore.experiments.claims import HOLDS, NOT_MEASURABLE
from graphstore.experiments.definition import definition_files, find_definition, shipped_dir
from graphstore.experiments.runner import ExperimentParams, run_experiment
from graphstore.experiments.show import experiment_report
from graphstore.report.experiments import build_experiment_report
from graphstore.report.job import write_report
from tests.experiment_support import context_at

TOY = """
name = "toy-figures"
pipeline = "tests.experiment_support:toy-sum"
title = "Sums drawn"

[smoke]
params = { a = 1 }
grid = { seed = [0, 1, 2], factor = [1.0, 3.0] }

[[tables]]
name = "sums"
group = ["seed"]
values = ["total", "scaled"]

[[tables]]
name = "labels"
group = ["label"]
values = ["seed"]

[[paper_values]]
table = "sums"
where = { seed = 1 }
column = "scaled"
value = 5.0
source = "nobody, Fig. 9"

[[figures]]
id = "scaled-vs-seed"
table = "sums"
x = "seed"
y = "scaled"
source = "nobody, Fig. 9"
x_label = "seed (count)"
y_label = "scaled sum (units)"

[[figures]]
id = "total-bars"
table = "sums"
x = "seed"
y = "total"
kind = "bar"
log_y = true

[[claims]]
id = "scaled-grows"
statement = "the scaled sum grows with the seed"
source = "nobody, Fig. 9"
table = "sums"
check = "direction"
column = "scaled"
axis = "seed"
figure = "scaled-vs-seed"
"""


def not_blank(png: bytes) -> bool:
    """Whether some pixel of the image is not white."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    lo, _ = zip(*image.getextrema(), strict=True)
    return min(lo) < 250


def test_toy_figure_has_bands_paper_points_files_and_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "toy-figures.toml"
    path.write_text(TOY)
    context = context_at(tmp_path)
    result = run_experiment(context, ExperimentParams(name=str(path)))
    drawn: dict[str, Any] = {}
    original = experiment_figures.experiment_figure

    def record(name: str, caption: str, panels: Any, *args: Any, **kw: Any) -> Any:
        drawn[name] = (panels, args, kw)
        return original(name, caption, panels, *args, **kw)

    monkeypatch.setattr(experiment_figures, "experiment_figure", record)
    report = build_experiment_report(context, result.run_id)
    (panel,) = drawn["scaled-vs-seed"][0]
    (band,) = panel.bands
    assert list(band.x) == [0, 1, 2] and list(band.mean) == pytest.approx([2.0, 4.0, 6.0])
    assert list(band.std) == pytest.approx([1.4142, 2.8284, 4.2426], rel=1e-3)  # factor 1 and 3: n = 2 each
    ((series, marks),) = panel.marks
    assert series == 0 and list(marks.x) == [1] and list(marks.y) == [5.0] and "Fig. 9" in marks.label
    assert drawn["scaled-vs-seed"][1] == ("seed (count)", "scaled sum (units)")
    assert drawn["total-bars"][2]["kind"] == "bar" and drawn["total-bars"][2]["log_y"] is True

    (tmp_path / "out").mkdir()
    written = write_report(report, tmp_path / "out", lambda kind, ident: None)
    html = written.html.read_text()
    assert '<figure id="fig-scaled-vs-seed">' in html and '<figure id="fig-total-bars">' in html
    files = {p.name: p for p in written.figures}
    for name in ("scaled-vs-seed", "total-bars"):
        assert files[f"{name}.svg"].read_text().lstrip().startswith(("<?xml", "<svg"))
        assert not_blank(files[f"{name}.png"].read_bytes())
        assert files[f"{name}.png"].parent == written.markdown.parent / f"{written.markdown.stem}_files"
    markdown = written.markdown.read_text()
    after_figure = markdown.split("scaled-vs-seed.svg", 1)[1].split("## ", 1)[0]
    assert "Claims this figure concerns (scaled-vs-seed)" in after_figure and "scaled-grows" in after_figure
    assert "2 ± 1.4 (n=2)" in markdown  # table cells: mean ± std (n)


def test_one_value_per_point_draws_no_band(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "toy-figures.toml"
    path.write_text(TOY.replace("factor = [1.0, 3.0]", "factor = [1.0]"))
    context = context_at(tmp_path)
    result = run_experiment(context, ExperimentParams(name=str(path)))
    drawn: dict[str, Any] = {}
    original = experiment_figures.experiment_figure

    def record(name: str, caption: str, panels: Any, *args: Any, **kw: Any) -> Any:
        drawn[name] = panels
        return original(name, caption, panels, *args, **kw)

    monkeypatch.setattr(experiment_figures, "experiment_figure", record)
    report = build_experiment_report(context, result.run_id)
    assert list(drawn["scaled-vs-seed"][0].bands[0].std) == [None, None, None]
    cells = [row for s in report.sections for b in s.blocks if hasattr(b, "rows") for row in b.rows]
    assert ["0", "1 (n=1)", "1 (n=1)"] in [[str(v) for v in row] for row in cells]


@pytest.mark.slow
def test_imp_topology_smoke_report_holds_every_declared_figure_and_claim(tmp_path: Path) -> None:
    definition = find_definition("imp-topology")
    context = context_at(tmp_path)
    result = run_experiment(context, ExperimentParams(name="imp-topology"))
    assert not result.failed
    found = experiment_report(context, result.run_id)
    verdicts = {v.claim.id: v for v in found.verdicts}
    assert set(verdicts) == {c.id for c in definition.claims}
    assert verdicts["app-e-fcn-final-compression"].status == HOLDS
    assert verdicts["app-e-cnn-final-compression"].status == HOLDS
    assert verdicts["timp-preserves-topology-paper"].status == NOT_MEASURABLE
    assert verdicts["timp-preserves-topology-smoke"].n == 12  # one row per arch, method and seed (3) at round 3
    (tmp_path / "out").mkdir()
    written = write_report(build_experiment_report(context, result.run_id), tmp_path / "out", lambda k, i: None)
    html = written.html.read_text()
    names = {p.name for p in written.figures}
    for figure in definition.figures:
        assert f'<figure id="fig-{figure.id}">' in html, figure.id
        assert {f"{figure.id}.svg", f"{figure.id}.png"} <= names
    assert "timp-preserves-topology-smoke" in html and "not measurable at this scale" in html


TINY = {  # the smoke grid shrunk by --set overrides: every table a declared figure draws still gets rows
    "sculpting-modules": ("task=4-1-2-16", "seed=0", "width=16", "epochs=30", "retrain_epochs=10"),
    "layer-pruning": (
        "seed=0", "epochs=1", "data_opts=limit=200", "limit=100", "gammas=0.5,1.5", "aggregates=mean",
        "compare_gamma=1.5",
    ),
    "latent-graphs": (
        "seed=0", "dataset=digits", "data_opt=size=8", "model=mlp", "prune_layers=all", "epochs=2", "window=2", "k=4",
        "limit=100", "noise_p=0,1", "rounds=1", "rates=0.2", "threads=1",
    ),
    "coactivation-hierarchy": (
        "dataset=planted-tree", "seed=0", "epochs=2", "checkpoints=2", "sparsities=0.5", "prune_epochs=1", "runs=2",
        "limit=0", "threads=1",
    ),
}  # fmt: skip


def test_every_shipped_experiment_with_figures_is_checked() -> None:
    shipped = {n for n, p in definition_files().items() if p.parent == shipped_dir()}
    with_figures = {n for n in shipped if find_definition(n).figures}
    assert with_figures <= {*TINY, "imp-topology"}, sorted(with_figures - {*TINY, "imp-topology"})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_shipped_smoke_report_holds_every_declared_figure(name: str, tmp_path: Path) -> None:
    definition = find_definition(name)
    context = context_at(tmp_path)
    result = run_experiment(context, ExperimentParams(name=name, sets=TINY[name]))
    assert not result.failed, [o.line() for o in result.outcomes]
    (tmp_path / "out").mkdir()
    written = write_report(build_experiment_report(context, result.run_id), tmp_path / "out", lambda k, i: None)
    html, names = written.html.read_text(), {p.name for p in written.figures}
    assert definition.figures
    for figure in definition.figures:
        assert f'<figure id="fig-{figure.id}">' in html, figure.id
        assert {f"{figure.id}.svg", f"{figure.id}.png"} <= names
        assert not_blank((written.markdown.parent / f"{written.markdown.stem}_files" / f"{figure.id}.png").read_bytes())
    assert "not drawn:" not in html
    if name == "coactivation-hierarchy":  # its rows carry class trees: their consensus and RF matrix per table
        assert '<figure id="fig-training-1-rf-matrix">' in html and '<figure id="fig-pruning-1-consensus-tree">' in html
