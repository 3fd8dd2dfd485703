"""Claims as data: each check by hand on small tables (holds, fails, not measurable), the parse errors of [[claims]]
and [[figures]], and `experiment show --format json|csv` carrying the verdicts (SQLite; PostgreSQL where marked).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from graphstore.experiments.claims import FAILS, HOLDS, NOT_MEASURABLE, evaluate, parse_claims
from graphstore.experiments.definition import SCALES, InvalidDefinition, parse_definition
from graphstore.tracking.testing import backend_url

ROOT = Path(__file__).resolve().parents[1]


def claim(**keys: Any) -> Any:
    """One claim on table 't' (no declared columns) from TOML-like keys."""
    entry = {"id": "c", "statement": "the document says so", "source": "doc, Fig. 1", "table": "t", **keys}
    (parsed,) = parse_claims([entry], {"t": set()}, set(), SCALES)
    return parsed


def verdict(rows: list[dict[str, Any]], **keys: Any) -> Any:
    return evaluate(claim(**keys), rows, "smoke")


SWEEP = [{"g": g, "removed": r} for g, r in [(0.5, 0), (1.0, 1), (1.0, 2), (1.5, 4), (2.0, 4)]]


def test_direction_holds_fails_and_not_measurable() -> None:
    rising = verdict(SWEEP, check="direction", column="removed", axis="g", direction="increasing")
    assert rising.status == HOLDS and "0 (n=1) -> 1.5 ± 0.7071 (n=2) -> 4 (n=1) -> 4 (n=1)" in rising.detail
    assert verdict(SWEEP, check="direction", column="removed", axis="g", direction="non-increasing").status == FAILS
    flat = [{"g": g, "removed": 2} for g in (0.5, 1.0, 2.0)]
    assert verdict(flat, check="direction", column="removed", axis="g", direction="increasing").status == FAILS
    assert verdict(flat, check="direction", column="removed", axis="g", direction="non-decreasing").status == HOLDS
    dip = [{"g": 1, "y": 5}, {"g": 2, "y": 6}, {"g": 3, "y": 1}]
    assert verdict(dip, check="direction", column="y", axis="g", direction="decreasing").status == FAILS
    ends = verdict(dip, check="direction", column="y", axis="g", direction="decreasing", steps="ends")
    assert ends.status == HOLDS
    one = verdict([{"g": 1, "y": 1}], check="direction", column="y", axis="g")
    assert one.status == NOT_MEASURABLE and "axis g has 1 value" in one.detail
    thin = verdict(SWEEP, check="direction", column="removed", axis="g", min_n=2)
    assert thin.status == NOT_MEASURABLE and "g=0.5 has n=1" in thin.detail
    absent = verdict(SWEEP, check="direction", column="accuracy", axis="g")
    assert absent.status == NOT_MEASURABLE and "'accuracy'" in absent.detail


def test_direction_per_group_fails_when_one_group_fails() -> None:
    rows = [{"k": k, "p": p, "j": j} for k, p, j in [(4, 0, 1.0), (4, 1, 0.2), (8, 0, 1.0), (8, 1, 1.0)]]
    found = verdict(rows, check="direction", column="j", axis="p", direction="decreasing", per=["k"])
    assert found.status == FAILS and [g.status for g in found.groups] == [HOLDS, FAILS]
    assert found.detail.startswith("k=4: p 0..1")


def test_order_holds_fails_and_not_measurable() -> None:
    rows = [{"mode": "m", "acc": 0.99}, {"mode": "m", "acc": 0.97}, {"mode": "s", "acc": 0.95}]
    held = verdict(rows, check="order", column="acc", by="mode", higher="m", lower="s")
    assert held.status == HOLDS and "mode=m: 0.98 ± 0.01414 (n=2)" in held.detail and held.n == 3
    assert verdict(rows, check="order", column="acc", by="mode", higher="s").status == FAILS
    missing = verdict(rows, check="order", column="acc", by="mode", higher="m", lower="x")
    assert missing.status == NOT_MEASURABLE and "mode=x" in missing.detail
    sparsity = [{"s": 0, "rf": 3.0}, {"s": 0.5, "rf": 4.0}, {"s": 0.9, "rf": 2.5}]
    some = dict(check="order", column="rf", by="s", higher=[0])
    assert verdict(sparsity, **some, quantifier="any").status == HOLDS  # 3.0 > 2.5 at s = 0.9
    assert verdict(sparsity, **some).status == FAILS  # not above s = 0.5's 4.0


def test_threshold_holds_fails_and_not_measurable() -> None:
    rows = [{"p": 1.0, "drop": 0.03}, {"p": 1.0, "drop": 0.05}, {"p": 0.0, "drop": 0.0}]
    assert verdict(rows, check="threshold", column="drop", op="<=", value=0.04, where={"p": 1}).status == HOLDS
    failed = verdict(rows, check="threshold", column="drop", op="<", value=0.04, where={"p": 1})
    assert failed.status == FAILS and "drop 0.04 ± 0.01414 (n=2) < 0.04" in failed.detail
    exact = dict(check="threshold", column="drop", op="==", value=0.041, where={"p": 1})
    assert verdict(rows, **exact).status == FAILS and verdict(rows, **exact, tolerance=0.002).status == HOLDS
    nothing = verdict(rows, check="threshold", column="drop", op="<=", value=1, where={"p": 0.5})
    assert nothing.status == NOT_MEASURABLE and "p=0.5" in nothing.detail
    thin = verdict(rows, check="threshold", column="drop", op="<=", value=1, where={"p": 1}, min_n=3)
    assert thin.status == NOT_MEASURABLE


def test_correlation_holds_fails_and_not_measurable() -> None:
    rows = [{"acc": a, "rf": r} for a, r in [(0.1, 5), (0.5, 3), (0.9, 0), (0.95, 0)]]
    neg = verdict(rows, check="correlation", x="acc", y="rf", sign="negative", min_rho=0.9)
    assert neg.status == HOLDS and "rho = -0.9" in neg.detail
    assert verdict(rows, check="correlation", x="acc", y="rf", sign="positive").status == FAILS
    assert verdict(rows, check="correlation", x="acc", y="rf", sign="negative", min_rho=0.99).status == FAILS
    two = verdict(rows[:2], check="correlation", x="acc", y="rf", sign="negative")
    assert two.status == NOT_MEASURABLE and "2 rows" in two.detail
    flat = [{"acc": a, "rf": 0} for a in (0.1, 0.2, 0.3)]
    const = verdict(flat, check="correlation", x="acc", y="rf", sign="negative")
    assert const.status == NOT_MEASURABLE and "constant" in const.detail


def test_success_rate_holds_fails_and_not_measurable() -> None:
    rows = [{"task": "a", "success": s} for s in (1, 1, 1, 0)] + [{"task": "b", "success": True}]
    assert verdict(rows, check="success-rate", column="success", min_rate=0.75, where={"task": "a"}).status == HOLDS
    failed = verdict(rows, check="success-rate", column="success", min_rate=0.9722, per=["task"])
    assert failed.status == FAILS and "3/4 = 0.75 vs 0.9722" in failed.detail and "1/1 = 1" in failed.detail
    graded = verdict(rows, check="success-rate", column="success", op=">=", value=1, min_rate=0.75)
    assert graded.status == HOLDS
    none = verdict([{"task": "a", "success": None}], check="success-rate", column="success", min_rate=1)
    assert none.status == NOT_MEASURABLE


def test_spread_holds_fails_and_not_measurable() -> None:
    fits = [{"seed": s, "rf": r} for s, r in enumerate((2, 4, 2, 0))]
    varied = verdict(fits, check="spread", column="rf", op=">", value=0)
    assert varied.status == HOLDS and "rf 2 ± 1.633 (n=4): std 1.633 > 0" in varied.detail
    same = [{"seed": s, "rf": 3} for s in range(4)]
    assert verdict(same, check="spread", column="rf").status == FAILS
    assert verdict(fits, check="spread", column="rf", op="<=", value=1).status == FAILS
    one = verdict(fits[:1], check="spread", column="rf")
    assert one.status == NOT_MEASURABLE and "1 row(s) with rf (need 2)" in one.detail
    assert verdict(fits, check="spread", column="rf", min_n=5).status == NOT_MEASURABLE
    assert verdict(fits, check="spread", column="accuracy").status == NOT_MEASURABLE


def test_claim_of_another_scale_is_not_measurable_and_says_why() -> None:
    found = evaluate(claim(check="threshold", column="x", value=1, scale="paper"), [{"x": 2}], "smoke")
    assert found.status == NOT_MEASURABLE and "paper scale only" in found.detail


HEAD = """
name = "t"
pipeline = "toy"

[[tables]]
name = "sweep"
group = ["gamma"]
values = ["removed"]
"""

GOOD_CLAIM = """
[[claims]]
id = "grows"
statement = "s"
source = "doc"
table = "sweep"
check = "direction"
column = "removed"
axis = "gamma"
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (GOOD_CLAIM.replace('"direction"', '"trend"'), "check must be one of direction, order"),
        (GOOD_CLAIM.replace('axis = "gamma"', ""), "a direction check needs 'axis'"),
        (GOOD_CLAIM + 'direction = "up"\n', "direction must be one of 'increasing'"),
        (GOOD_CLAIM + "sign = 'negative'\n", "unknown key(s) sign for a direction check"),
        (GOOD_CLAIM.replace('table = "sweep"', 'table = "swep"'), "table 'swep' is not a [[tables]] name"),
        (GOOD_CLAIM.replace('"removed"', '"removd"'), "column(s) removd are not in table 'sweep'"),
        (GOOD_CLAIM + 'figure = "nope"\n', "figure 'nope' is not a [[figures]] id"),
        (GOOD_CLAIM + GOOD_CLAIM, "[[claims]] #2 ('grows'): id 'grows' is used twice"),
        (GOOD_CLAIM + "min_n = 0\n", "min_n must be a whole number >= 1"),
        (GOOD_CLAIM.replace('statement = "s"', 'statement = ""'), "statement must be a non-empty text"),
        (GOOD_CLAIM + 'scale = "huge"\n', "scale must be one of smoke, paper"),
        (GOOD_CLAIM + 'where = "gamma=1"\n', "where must be a table"),
        ('claims = "all"\n', "claims must be an array of tables"),
        ('[[figures]]\nid = "f"\ntable = "sweep"\nx = "gamma"\ny = "removed"\nkind = "pie"\n', "kind must be one of"),
        ('[[figures]]\nid = "a b"\ntable = "sweep"\nx = "gamma"\ny = "removed"\n', "id must be letters, digits"),
        ('[[figures]]\nid = "f"\ntable = "sweep"\nx = "gamma"\ny = "removed"\nlog_y = "yes"\n', "log_y must be true"),
        ('[[figures]]\nid = "f"\ntable = "sweep"\nx = "gamma"\ny = "removed"\ncolour = 1\n', "unknown key(s) colour"),
        ('[[figures]]\nid = "f"\ntable = "sweep"\nx = "gama"\ny = "removed"\n', "column(s) gama are not in table"),
        ('[[figures]]\nid = "f"\ntable = "sweep"\ny = "removed"\n', "x must be a column name"),
    ],
)
def test_bad_claims_and_figures_name_file_entry_and_key(extra: str, message: str, tmp_path: Path) -> None:
    text = HEAD + extra if extra.startswith("[") or extra.startswith("\n") else extra + HEAD
    path = tmp_path / "bad.toml"
    with pytest.raises(InvalidDefinition) as raised:
        parse_definition(text, path)
    assert str(path) in raised.value.message and message in raised.value.message, raised.value.message


def test_good_claims_and_figures_parse() -> None:
    text = HEAD + GOOD_CLAIM + 'figure = "f"\n[[figures]]\nid = "f"\ntable = "sweep"\nx = "gamma"\ny = "removed"\n'
    definition = parse_definition(text, Path("ok.toml"))
    assert [c.id for c in definition.claims] == ["grows"] and definition.claims[0].figure == "f"
    assert [f.id for f in definition.figures] == ["f"]


TOY_CLAIMS = """
[[claims]]
id = "total-grows"
statement = "the total grows with the seed"
source = "nobody, Fig. 0"
table = "sums"
check = "direction"
column = "total"
axis = "seed"
figure = "total-vs-seed"

[[claims]]
id = "impossible"
statement = "the total exceeds 100"
source = "nobody, Table 0"
table = "sums"
check = "threshold"
column = "total"
op = ">"
value = 100

[[figures]]
id = "total-vs-seed"
table = "sums"
x = "seed"
y = "total"
source = "nobody, Fig. 0"
y_label = "total (count)"
"""

TOY = """
name = "toy"
pipeline = "tests.experiment_support:toy-sum"
title = "Sums"

[smoke]
params = { a = 1 }
grid = { seed = [0, 1, 2], factor = [1.0, 2.0] }

[[tables]]
name = "sums"
group = ["seed"]
values = ["total", "scaled"]
"""


def toy_cli(tmp_path: Path, url: str) -> Any:
    """A `graphstore` runner on one tracking DB, and the toy definition with claims written under tmp_path."""
    env = {**os.environ, "GRAPHSTORE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    env["GRAPHSTORE_DATABASE_URL"] = url
    (tmp_path / "toy.toml").write_text(TOY + TOY_CLAIMS)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "graphstore.cli.main", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)

    return cli


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_show_formats_carry_tables_and_verdicts(backend: str, tmp_path: Path) -> None:
    with backend_url(backend, tmp_path) as url:
        if backend == "postgresql":
            subprocess.run(
                [sys.executable, "-m", "graphstore.cli.main", "db", "upgrade"],
                check=True,
                env={**os.environ, "GRAPHSTORE_DATABASE_URL": url},
                capture_output=True,
                timeout=120,
            )
        cli = toy_cli(tmp_path, url)
        ran = cli("experiment", "run", "toy.toml", "--no-progress")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "total-grows" in ran.stdout and "holds" in ran.stdout and "fails" in ran.stdout
        shown = cli("experiment", "show", "1", "--format", "json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        verdicts = {c["id"]: c for c in data["claims"]}
        assert verdicts["total-grows"]["verdict"] == HOLDS and verdicts["total-grows"]["n"] == 6
        assert (
            verdicts["impossible"]["verdict"] == FAILS
            and "total 2 ± 0.8944 (n=6) > 100" in verdicts["impossible"]["detail"]
        )
        (sums,) = [t for t in data["tables"] if t["name"] == "sums"]
        assert sums["rows"][0]["total"] == {"mean": 1.0, "std": 0.0, "n": 2}
        rows = list(csv.DictReader(io.StringIO(cli("experiment", "show", "1", "--format", "csv").stdout)))
        first = next(r for r in rows if r["table"] == "sums" and r["group"] == "seed=2" and r["column"] == "scaled")
        assert float(first["mean"]) == pytest.approx(4.5) and first["n"] == "2"
        table = cli("experiment", "show", "1")
        assert table.returncode == 0 and "the total exceeds 100" in table.stdout and "(n=2)" in table.stdout
        bad = cli("experiment", "show", "1", "--format", "xml")
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
