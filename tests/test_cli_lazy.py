"""The lazy root group: every table entry loads the command it names, and its help line is the command's own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from graphstore.cli.lazy import load_command
from graphstore.cli.main import COMMANDS


@pytest.mark.parametrize("spec", COMMANDS, ids=[c.name for c in COMMANDS])
def test_table_entry_loads_its_command(spec) -> None:
    command = load_command(spec)
    assert command.name == spec.name
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert own.startswith(spec.help.rstrip(".")), f"{spec.name}: table says {spec.help!r}, command {own!r}"


def test_help_lists_every_command_without_importing_them() -> None:
    code = (
        "import sys; from graphstore.cli.main import main; rc = main(['--help']); "
        "print('MODULES', sorted(m for m in sys.modules if m.startswith('graphstore.cli.') "
        "and m.endswith('_cmd')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for spec in COMMANDS:
        assert spec.name in out
    assert "MODULES []" in out


def test_unknown_command_suggests() -> None:
    out = subprocess.run([sys.executable, "-m", "graphstore.cli.main", "injest"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "No such command" in out.stderr
