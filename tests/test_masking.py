"""No secret in any output: URIs/URLs are masked in messages, tables, errors and logs (unit + the real CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphstore.errors import ConfigError, StoreUnavailable, TrackingError
from graphstore.masking import mask_secret, mask_text, mask_url
from graphstore.services.state import free_ports

SECRET = "S3cretPw-41"  # distinctive, so a hit in any output is unambiguous


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://u:pw@h:5432/db", "postgresql+psycopg://u:****@h:5432/db"),
        ("postgresql://u:p@ss:w/rd@h/db", "postgresql://u:****@h/db"),
        ("bolt://neo4j:pw@127.0.0.1:7687", "bolt://neo4j:****@127.0.0.1:7687"),
        ("neo4j://h:7687?token=abc&region=eu", "neo4j://h:7687?token=****&region=eu"),
        ("postgresql://u@h/db?sslpassword=x;password=y#f", "postgresql://u@h/db?sslpassword=****;password=****#f"),
        (
            "https://h/x?api_key=k&access_token=t&sig=s&page=2",
            "https://h/x?api_key=****&access_token=****&sig=****&page=2",
        ),
        (
            "postgresql+psycopg://graphstore@127.0.0.1:5/graphstore",
            "postgresql+psycopg://graphstore@127.0.0.1:5/graphstore",
        ),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        ("/plain/path.lbdb", "/plain/path.lbdb"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_mask_text_finds_urls_and_pairs_in_prose() -> None:
    text = (
        f"failed: 'bolt://u:{SECRET}@h:1'. conninfo host=h password={SECRET} sslpassword='{SECRET}' "
        f"see neo4j://h?token={SECRET}: retry"
    )
    masked = mask_text(text)
    assert SECRET not in masked
    assert "'bolt://u:****@h:1'." in masked and "host=h password=****" in masked
    assert "neo4j://h?token=**** retry" in masked
    assert mask_text("at neo4j://h?token=****: retry") == "at neo4j://h?token=****: retry"  # keeps the colon
    assert mask_text(masked) == masked  # idempotent


def test_mask_secret_hides_a_known_password_anywhere() -> None:
    assert mask_secret(f"the server said {SECRET} was wrong", SECRET) == "the server said **** was wrong"
    assert mask_secret("nothing", "") == "nothing"


# ---- the library's error paths ----------------------------------------------------------------------------


def test_neo4j_store_errors_are_masked_and_unchained() -> None:
    from graphstore.store.neo4j_store import Neo4jStore

    (port,) = free_ports(1)
    with pytest.raises(ConfigError) as info:
        Neo4jStore(f"bolt://neo4j:{SECRET}@127.0.0.1:{port}")
    assert SECRET not in str(info.value) and info.value.__suppress_context__ and info.value.__cause__ is None
    with pytest.raises(StoreUnavailable) as info:
        Neo4jStore(f"neo4j://127.0.0.1:{port}?token={SECRET}", password=SECRET)
    assert SECRET not in str(info.value) and info.value.__suppress_context__


def test_tracking_errors_are_masked_and_unchained() -> None:
    from graphstore.tracking import db

    (port,) = free_ports(1)
    url = f"postgresql+psycopg://u:{SECRET}@127.0.0.1:{port}/db?sslpassword={SECRET}"
    with pytest.raises(TrackingError) as info:
        db.current_revision(url)
    assert SECRET not in str(info.value) and info.value.__suppress_context__
    with pytest.raises(ConfigError) as info:
        db.parse_url(f"postgresql://u:{SECRET}@h:notaport/db")
    assert SECRET not in str(info.value) and info.value.__suppress_context__


# ---- the real CLI ------------------------------------------------------------------------------------------


def _cli() -> list[str]:
    """The installed console script next to this interpreter, else `python -m graphstore.cli.main`."""
    script = Path(sys.executable).parent / "graphstore"
    return [str(script)] if script.exists() else [sys.executable, "-m", "graphstore.cli.main"]


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a clean GRAPHSTORE_* environment and private data/log dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    env.update(
        GRAPHSTORE_DATA_DIR=str(home / "data"), GRAPHSTORE_LOG_DIR=str(home / "logs"), HOME=str(home), COLUMNS="400"
    )
    return subprocess.run([*_cli(), *args], capture_output=True, text=True, env=env, timeout=120, cwd=home)


def _leaks(proc: subprocess.CompletedProcess[str], home: Path) -> list[str]:
    """Where SECRET shows up: stdout, stderr, or any file the CLI wrote under home."""
    hits = [name for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)) if SECRET in text]
    hits += [str(p) for p in home.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    return hits


def _cases(port: int) -> list[tuple[list[str], int, str]]:
    """(CLI args, exit code, text the output must show) with secrets in URIs, URLs and flags; closed port."""
    pg = f"postgresql+psycopg://graphstore:{SECRET}@127.0.0.1:{port}/graphstore?sslpassword={SECRET}"
    pg_plain = f"postgresql://graphstore:{SECRET}@127.0.0.1:{port}/graphstore?password={SECRET}"
    return [
        (
            [
                "--graph-store",
                f"bolt://neo4j:{SECRET}@127.0.0.1:{port}/?token={SECRET}",
                "--database-url",
                pg,
                "--neo4j-password",
                SECRET,
                "config",
                "show",
            ],
            0,
            f"bolt://neo4j:****@127.0.0.1:{port}/?token=****",
        ),
        (["--graph-store", f"bolt://neo4j:{SECRET}@127.0.0.1:{port}", "store", "status"], 2, "neo4j:****@"),
        (["--graph-store", f"neo4j://neo4j:{SECRET}@127.0.0.1:{port}", "store", "list"], 2, "neo4j:****@"),
        (
            ["--graph-store", f"neo4j://127.0.0.1:{port}?token={SECRET}", "--neo4j-password", SECRET, "store", "list"],
            2,
            "token=****",
        ),
        (
            ["--graph-store", f"bolt://127.0.0.1:{port}", "--neo4j-password", SECRET, "store", "init"],
            2,
            "Cannot reach Neo4j",
        ),
        (["--database-url", pg, "db", "status"], 2, "graphstore:****@"),
        (["--database-url", pg_plain, "db", "upgrade"], 2, "password=****"),
        (["--database-url", pg, "runs", "list"], 2, "sslpassword=****"),
    ]


@pytest.mark.slow
def test_cli_never_prints_a_secret(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    failures = []
    for args, code, shown in _cases(port):
        proc = _run(args, tmp_path)
        output = " ".join((proc.stdout + proc.stderr).split())
        leaks = _leaks(proc, tmp_path)
        if leaks or proc.returncode != code or shown not in output:
            failures.append((args[-2:], proc.returncode, leaks, output[-600:]))
    assert not failures, failures


def test_a_secret_option_value_is_masked_in_a_logged_command_line():
    from graphstore.masking import mask_argv

    argv = ["--neo4j-password", "S3cret", "store", "status", "--token=abc", "--graph-store", "bolt://u:pw@h:1"]
    assert mask_argv(argv) == [
        "--neo4j-password",
        "****",
        "store",
        "status",
        "--token=****",
        "--graph-store",
        "bolt://u:****@h:1",
    ]
