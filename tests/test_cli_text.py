"""What a person reads in the terminal: whole table values at any width, 'did you mean', clean help panels."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.table import Table

from graphstore.cli.output import shown
from graphstore.cli.tables import TableConsole

CLI = (sys.executable, "-m", "graphstore.cli.main")
LONG = "planted-tree-with-a-very-long-dataset-name"


def _table() -> Table:
    table = Table(title="runs")
    for column in ("id", "accuracy_on_the_validation_split", "dataset"):
        table.add_column(column)
    table.add_row("1", "0.9731", LONG)
    table.add_row("2", "0.5", "digits")
    return table


def _render(width: int, terminal: bool) -> str:
    out = io.StringIO()
    TableConsole(file=out, width=width, force_terminal=terminal, color_system=None).print(_table())
    return out.getvalue()


def test_a_wide_table_in_a_narrow_terminal_switches_to_one_record_per_block() -> None:
    text = _render(40, terminal=True)
    assert "accuracy_on_the_validation_split: 0.9731" in text
    assert LONG in text.replace("\n", "") and "…" not in text  # folded at the terminal's edge, never cut


def test_a_table_that_fits_is_boxed_and_whole() -> None:
    text = _render(200, terminal=True)
    assert "┃" in text or "│" in text
    assert LONG in text and "accuracy_on_the_validation_split" in text and "…" not in text


def test_a_piped_table_is_plain_aligned_text_without_wrapping() -> None:
    text = _render(20, terminal=False)
    lines = text.splitlines()
    assert lines[0] == "runs"
    assert lines[1].split() == ["id", "accuracy_on_the_validation_split", "dataset"]
    assert lines[2].split() == ["1", "0.9731", LONG]
    assert "│" not in text and "…" not in text


def _multiline(width: int, terminal: bool) -> list[str]:
    table = Table(title="claims")
    for column in ("claim", "numbers", "verdict"):
        table.add_column(column)
    table.add_row("fits-differ", "RF 0.875\nn = 24", "holds")
    out = io.StringIO()
    TableConsole(file=out, width=width, force_terminal=terminal, color_system=None).print(table)
    return out.getvalue().splitlines()


def test_a_multi_line_value_continues_in_its_own_column() -> None:
    piped = _multiline(20, terminal=False)
    assert piped[2].split() == ["fits-differ", "RF", "0.875", "holds"]
    column = piped[1].index("numbers")
    assert piped[3].index("n = 24") == column and piped[3].strip() == "n = 24"
    narrow = _multiline(30, terminal=True)  # one record per block: the second line under the value's first
    first = next(line for line in narrow if "RF 0.875" in line)
    assert narrow[narrow.index(first) + 1] == " " * first.index("RF 0.875") + "n = 24"


def test_floats_show_four_significant_digits() -> None:
    assert shown(0.123456789012345) == "0.1235"
    assert shown(12345.678) == "1.235e+04"
    assert shown(3) == "3" and shown(None) == ""


def test_a_mistyped_command_gets_did_you_mean() -> None:
    done = subprocess.run([*CLI, "trian"], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""})
    assert done.returncode == 2
    assert "Did you mean 'train'?" in done.stderr


def test_help_shows_no_type_after_flags_and_groups_options_in_panels() -> None:
    done = subprocess.run([*CLI, "train", "--help"], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""})
    assert done.returncode == 0
    assert "<bool>" not in done.stdout
    for panel in ("Model and dataset", "Training", "Output"):
        assert f"─ {panel} ─" in done.stdout, panel
