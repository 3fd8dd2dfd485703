"""`graphstore experiment show` gives a failed cell's error whole (its first line and its hint) in every format:
the table once cut it at 100 characters, leaving a bare "Hint:" line or none (a `graphstore` subprocess per
command, embedded store + SQLite)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CLI = (sys.executable, "-m", "graphstore.cli.main")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ShowCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> ShowCli:
    """A hierarchy-runs smoke run without its graph (its cell fails with GraphNotFound), and `experiment show 1`."""
    tmp = tmp_path_factory.mktemp("show")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        command = [*CLI, "--data-dir", str(tmp / "data"), *args]
        return subprocess.run(command, cwd=tmp, env=env | extra, capture_output=True, text=True, timeout=300)

    ran = cli("experiment", "run", "hierarchy-runs", "--scale", "smoke", "--set", "seed=0", "--no-progress")
    assert ran.returncode == 1 and "1 failed" in ran.stderr, ran.stdout + ran.stderr
    return lambda *args, **extra: cli("experiment", "show", "1", *args, **extra)


def recorded_error(show: ShowCli) -> tuple[str, str]:
    """The failed cell's error as JSON gives it, split into its first line and its hint."""
    shown = show("--format", "json")
    assert shown.returncode == 0, shown.stderr
    (cell,) = json.loads(shown.stdout)["cells"]
    assert cell["status"] == "failed"
    message, hint = cell["error"].split("\nHint: ")
    assert message.startswith("GraphNotFound: Graph 'planted-coactivation' is not in the store")
    assert hint.endswith("`graphstore demo --model mlp --dataset planted-tree --prefix planted`.")
    return message, hint


def test_json_keeps_the_whole_error(show):
    message, hint = recorded_error(show)
    assert len(message) + len(hint) > 100  # long enough that the old 100-character cut lost the hint


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_table_shows_first_line_and_hint_in_full(show, terminal):
    message, hint = recorded_error(show)
    extra = {"FORCE_COLOR": "0", "TTY_COMPATIBLE": "1", "COLUMNS": "1000"} if terminal else {}
    shown = show(**extra)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    lines = [ANSI.sub("", line) for line in shown.stdout.splitlines()]
    assert ("┃" in shown.stdout) is terminal  # the boxed table on a terminal, plain aligned text when piped
    (row,) = [line for line in lines if "seed=0" in line and "GraphNotFound" in line]
    assert f"{message} Hint: {hint}" in row
    assert not any(line.strip().startswith("Hint:") for line in lines)


def test_csv_lists_cells_with_status_and_whole_error(show):
    message, hint = recorded_error(show)
    shown = show("--format", "csv")
    assert shown.returncode == 0, shown.stderr
    rows = {(r["table"], r["group"], r["column"]): r["text"] for r in csv.DictReader(io.StringIO(shown.stdout))}
    assert rows[("cells", "seed=0", "status")] == "failed"
    assert rows[("cells", "seed=0", "error")] == f"{message}\nHint: {hint}"


def test_a_short_path_no_longer_leaves_a_bare_hint(tmp_path: Path):
    # the reported shape: with a short data dir the cut fell inside the hint ("...\nHint: The st")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    base = [*CLI, "--data-dir", "d"]
    run = [*base, "experiment", "run", "hierarchy-runs", "--scale", "smoke", "--set", "seed=0", "--no-progress"]
    subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    shown = subprocess.run([*base, "experiment", "show", "1"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "--prefix planted`." in shown.stdout
    assert not any(line.strip().startswith("Hint:") for line in shown.stdout.splitlines())
