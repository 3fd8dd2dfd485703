"""CLI start-up: `graphstore --help`, `graphstore query --list` and `graphstore runs list` against bare Typer apps.

    python -m bench.cli_startup [--runs 5]

Each command runs as a fresh process (the console script of this venv) with an empty embedded data dir in a temp
dir (GRAPHSTORE_DATA_DIR; any other GRAPHSTORE_* setting is dropped). The anchors are bare Typer apps run by the
same interpreter: one with a single command, one with two commands (a group, like ours). Runs are interleaved (one
of each per round, after a warm-up round) and the median of --runs rounds is reported, as wall seconds and as CPU
seconds of the child (user + sys), which depends much less on the load of a shared machine.

Before timing, the tracking DB of that data dir is created and filled with 30 runs (metrics per epoch) through the
repository, so `runs list` prints rows. Issue 24's anchor for `runs list` is a bare Typer app that opens the same
SQLite file with the stdlib sqlite3 module and prints the same 50 newest runs; a bare Typer command that imports
SQLAlchemy's ORM and reads that file is timed too (what any ORM read costs).

Targets: --help within 1.5x of the bare app's --help; query --list within 2x of the bare app running its command;
runs list within 2x of the bare sqlite3 app.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import load, machine, record

BARE_ONE = '''import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}")


if __name__ == "__main__":
    app()
'''

BARE_TWO = '''import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}")


@app.command()
def bye(name: str = "world") -> None:
    """Say goodbye."""
    print(f"bye {name}")


if __name__ == "__main__":
    app()
'''


# What any command that reads the tracking DB through SQLAlchemy's ORM pays: a bare Typer command that imports
# sqlalchemy.orm and runs one SELECT on the same SQLite file.
BARE_SQL = '''import sys

import typer
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

app = typer.Typer()


@app.command()
def rows(path: str) -> None:
    """Print the newest runs of a tracking file."""
    with Session(create_engine(f"sqlite:///{path}")) as session:
        for row in session.execute(text("SELECT * FROM runs ORDER BY id DESC LIMIT 50")):
            print(*row, sep="  ")


if __name__ == "__main__":
    app()
'''

# Issue 24's anchor for `runs list`: a bare Typer app that opens the same SQLite file read-only with the stdlib
# sqlite3 module and prints the newest runs (no filters, no metric columns, no formatting).
BARE_SQLITE = '''import sqlite3

import typer

app = typer.Typer()


@app.command()
def rows(path: str) -> None:
    """Print the newest runs of a tracking file."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    for row in connection.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 50"):
        print(*row, sep="  ")
    connection.close()


if __name__ == "__main__":
    app()
'''


@dataclass(frozen=True)
class Case:
    """One timed command line."""

    label: str
    argv: list[str]


@dataclass(frozen=True)
class Timing:
    """Median wall and CPU seconds of one case."""

    wall: float
    cpu: float


def run_once(case: Case, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run; a failing command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(case.argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{case.label} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(cases: list[Case], runs: int, env: dict[str, str], cwd: Path) -> dict[str, Timing]:
    """One warm-up round, then `runs` interleaved rounds; the median per case."""
    for case in cases:
        run_once(case, env, cwd)
    samples: dict[str, list[tuple[float, float]]] = {c.label: [] for c in cases}
    for _ in range(runs):
        for case in cases:
            samples[case.label].append(run_once(case, env, cwd))
    return {
        label: Timing(statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for label, s in samples.items()
    }


def fill_tracking(path: Path, runs: int = 30) -> None:
    """A tracking DB at `path` with `runs` runs (train and prune kinds, parents, three epochs of metrics each)."""
    from graphstore.tracking import open_tracking

    with open_tracking(f"sqlite:///{path}") as tracking:
        parent = None
        for i in range(runs):
            run = tracking.start_run("train" if i % 3 == 0 else "prune-imp", f"bench-{i}", {"lr": 0.01}, parent)
            parent = run if i % 3 == 0 else parent
            for epoch in range(3):
                tracking.log_metrics(run, epoch, {"accuracy": 0.5 + epoch / 10, "loss": 1.0 / (epoch + 1)}, "test")
            tracking.finish_run(run)


def cases_in(tmp: Path) -> tuple[list[Case], dict[str, tuple[str, str, float]]]:
    """The timed cases, and for each of ours: (its anchor, a second anchor, target ratio to the first)."""
    bin_dir = Path(sys.executable).parent
    graphstore = str(bin_dir / "graphstore")
    one, two = tmp / "bare_one.py", tmp / "bare_two.py"
    sql, lite = tmp / "bare_sql.py", tmp / "bare_sqlite.py"
    for path, text in ((one, BARE_ONE), (two, BARE_TWO), (sql, BARE_SQL), (lite, BARE_SQLITE)):
        path.write_text(text)
    tracking_db = tmp / "data" / "tracking.db"
    fill_tracking(tracking_db)
    py = sys.executable
    cases = [
        Case("graphstore --help", [graphstore, "--help"]),
        Case("graphstore query --list", [graphstore, "query", "--list"]),
        Case("graphstore runs list", [graphstore, "runs", "list"]),
        Case("bare 1-command --help", [py, str(one), "--help"]),
        Case("bare 1-command run", [py, str(one), "--name", "x"]),
        Case("bare 2-command --help", [py, str(two), "--help"]),
        Case("bare 2-command run", [py, str(two), "hello", "--name", "x"]),
        Case("bare sqlite3 runs rows", [py, str(lite), str(tracking_db)]),
        Case("bare SQLAlchemy runs rows", [py, str(sql), str(tracking_db)]),
    ]
    anchors = {
        "graphstore --help": ("bare 1-command --help", "bare 2-command --help", 1.5),
        "graphstore query --list": ("bare 1-command run", "bare 2-command run", 2.0),
        "graphstore runs list": ("bare sqlite3 runs rows", "bare 1-command run", 2.0),
    }
    return cases, anchors


def main() -> None:
    """Time the cases and print ours, the anchors and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="one timed round: checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.runs = 1
    before = load()
    with tempfile.TemporaryDirectory(prefix="graphstore-cli-startup-") as name:
        tmp = Path(name)
        (tmp / "data").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
        env.update({"GRAPHSTORE_DATA_DIR": str(tmp / "data"), "COLUMNS": "120"})
        cases, anchors = cases_in(tmp)
        times = measure(cases, args.runs, env, tmp)
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.1f}; median of {args.runs} runs after a warm-up")
    print(f"{'command':<26}{'wall s':>8}{'cpu s':>8}")
    for case in cases:
        print(f"{case.label:<26}{times[case.label].wall:>8.3f}{times[case.label].cpu:>8.3f}")
    print()
    print(f"{'ours vs anchor':<26}{'wall x':>8}{'cpu x':>8}  {'vs 2nd anchor (wall/cpu)':>24}  target  met?")
    for ours, (one, two, target) in anchors.items():
        t, a1, a2 = times[ours], times[one], times[two]
        record(
            f"cli_startup.{ours.replace('graphstore ', '').replace(' ', '_')}",
            {"wall_s": round(t.wall, 4), "cpu_s": round(t.cpu, 4)},
            {
                f"{name}_{kind}_s": round(getattr(times[name], kind), 4)
                for name in (one, two, *(["bare SQLAlchemy runs rows"] if ours == "graphstore runs list" else []))
                for kind in ("wall", "cpu")
            },
            None,
            {"ours_over_anchor_wall": round(t.wall / a1.wall, 3), "ours_over_anchor_cpu": round(t.cpu / a1.cpu, 3)},
            before,
            target=f"<= {target}x the anchor ({one})",
            runs=args.runs,
            quick=args.quick,
        )
        wall1, cpu1 = t.wall / a1.wall, t.cpu / a1.cpu
        met = f"{'yes' if wall1 <= target else 'no'} (wall) / {'yes' if cpu1 <= target else 'no'} (cpu)"
        print(
            f"{ours:<26}{wall1:>7.2f}x{cpu1:>7.2f}x  {t.wall / a2.wall:>11.2f}x / {t.cpu / a2.cpu:.2f}x"
            f"  <= {target}x  {met}"
        )
    orm, runs = times["bare SQLAlchemy runs rows"], times["graphstore runs list"]
    print(
        f"\nruns list vs the bare SQLAlchemy command reading the same file: "
        f"{runs.wall / orm.wall:.2f}x wall, {runs.cpu / orm.cpu:.2f}x cpu"
    )


if __name__ == "__main__":
    main()
