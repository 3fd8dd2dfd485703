"""graphstore.safe_fs: folders and files another local user could subvert are refused; writes never follow links."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from graphstore.safe_fs import (
    UnsafePath,
    atomic_write_text,
    check_private_dir,
    check_trusted_file,
    ensure_private_dir,
)

ROOT = os.geteuid() == 0


def test_ensure_private_dir_creates_mode_700_folders(tmp_path: Path) -> None:
    made = ensure_private_dir(tmp_path / "a" / "b")
    assert made.is_dir()
    assert (made.stat().st_mode & 0o777) == 0o700
    assert ((tmp_path / "a").stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_folder_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    folder.chmod(mode)
    with pytest.raises(UnsafePath, match="writable by other users"):
        ensure_private_dir(folder)


def test_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafePath, match="symbolic link"):
        check_private_dir(tmp_path / "link")


@pytest.mark.skipif(not ROOT, reason="needs root to make a folder owned by another user")
def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)
    with pytest.raises(UnsafePath, match="belongs to"):
        ensure_private_dir(folder)
    with pytest.raises(UnsafePath, match="belongs to"):
        ensure_private_dir(folder / "inside")


def test_creating_inside_a_shared_writable_folder_without_sticky_bit_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafePath, match="other users can write it"):
        ensure_private_dir(shared / "run")
    shared.chmod(0o1777)  # like /tmp: others cannot rename what we create there
    assert ensure_private_dir(shared / "run").is_dir()


def test_atomic_write_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "out.html").symlink_to(victim)
    atomic_write_text(tmp_path / "out.html", "<html></html>")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "out.html").is_symlink()
    assert (tmp_path / "out.html").read_text() == "<html></html>"


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    from graphstore.safe_fs import atomic_writer

    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_config_file_others_can_write_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "graphstore.toml"
    config.write_text("batch_size = 5\n")
    config.chmod(0o644)
    check_trusted_file(config)
    config.chmod(0o666)
    with pytest.raises(UnsafePath, match="writable by other users"):
        check_trusted_file(config)


@pytest.mark.skipif(not ROOT, reason="needs root and the nobody user")
def test_a_config_file_of_another_user_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    config = tmp_path / "graphstore.toml"
    subprocess.run(["runuser", "-u", "nobody", "--", "touch", str(config)], check=False)
    if not config.exists():
        os.close(os.open(config, os.O_CREAT | os.O_WRONLY, 0o644))
        os.chown(config, 65534, 65534)
    with pytest.raises(UnsafePath, match="belongs to"):
        check_trusted_file(config)


def test_the_tracking_upgrade_lock_never_follows_a_planted_link(tmp_path: Path) -> None:
    """The `<file>.lock` beside a SQLite tracking file is opened without following a link (it was open(..., "w"))."""
    from graphstore.tracking import db

    folder = tmp_path / "t"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (folder / "tracking.db.lock").symlink_to(victim)
    with pytest.raises(OSError), db._upgrade_lock(f"sqlite:///{folder / 'tracking.db'}"):
        pass
    assert victim.read_text() == "keep"


@pytest.mark.skipif(not ROOT, reason="needs root to give the file to another user")
def test_an_embedded_store_another_user_owns_or_can_reach_is_refused(tmp_path: Path) -> None:
    """The embedded store's file and the folder holding it (its WAL is created beside it) are checked as the tracking
    file is: another user's file, a world-writable folder and a symlink are refused before the engine opens them."""
    from graphstore.store.embedded import EmbeddedStore

    own = tmp_path / "own"
    own.mkdir(mode=0o700)
    EmbeddedStore(own / "graphs.lbdb").close()
    os.chown(own / "graphs.lbdb", 65534, 65534)
    with pytest.raises(UnsafePath, match="belongs to nobody"):
        EmbeddedStore(own / "graphs.lbdb")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(UnsafePath, match="other users can write the folder"):
        EmbeddedStore(shared / "graphs.lbdb")
    assert not (shared / "graphs.lbdb").exists()
    (own / "link.lbdb").symlink_to(own / "graphs.lbdb")
    with pytest.raises(UnsafePath, match="symbolic link"):
        EmbeddedStore(own / "link.lbdb")
