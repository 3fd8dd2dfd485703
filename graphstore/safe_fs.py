"""Files and folders another local user cannot subvert: ownership and mode checks, no symlink following, atomic writes.

graphstore runs as whoever calls it, often root, in folders such as a shared temporary directory. Whatever another
user could have created or can still write (a run dir, a config file, a report folder) is checked here before it is
trusted, and files are written by temp file + rename, never through a name that may be a symlink.
"""

from __future__ import annotations

import os
import pwd
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from graphstore.errors import GraphstoreError


class UnsafePath(GraphstoreError):
    """A file or folder is not safe to trust: another user owns it or can write it, or it is a symlink."""


GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _problem(path: Path, info: os.stat_result, *, trusted_uids: set[int], want_dir: bool) -> str | None:
    """Why path (already lstat-ed) may not be trusted, or None."""
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link"
    if want_dir and not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a folder"
    if not want_dir and not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if info.st_uid not in trusted_uids:
        return f"{path} belongs to {_owner_name(info.st_uid)}, not to {_owner_name(os.geteuid())}"
    if info.st_mode & GROUP_OTHER_WRITE:
        return f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def check_private_dir(path: Path, what: str = "folder") -> None:
    """Refuse a folder that is a symlink, belongs to another user or is writable by group or others."""
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    problem = _problem(path, info, trusted_uids={os.geteuid()}, want_dir=True)
    if problem:
        raise UnsafePath(
            f"Refusing the {what} {path}: {problem}.",
            f"Use a folder that only you own and can write (chmod go-w; or a new folder, e.g. under "
            f"{default_state_dir()}), or remove {path} if you did not create it.",
        )


def check_trusted_file(path: Path, what: str = "file") -> None:
    """Refuse a file read as configuration or code that another user owns or can write (root's files are trusted)."""
    path = Path(path)
    info = os.stat(path)  # a symlink to a file we trust is fine; the target is what is read
    _refuse_untrusted(path, info, what)


def _refuse_untrusted(path: Path, info: os.stat_result, what: str) -> None:
    """Raise UnsafePath unless the file described by info is ours (or root's) and not writable by others."""
    problem = _problem(path, info, trusted_uids={os.geteuid(), 0}, want_dir=False)
    if problem:
        raise UnsafePath(
            f"Refusing the {what} {path}: {problem}.",
            f"Make it yours and not writable by others (chown; chmod go-w {path}), or pass another file.",
        )


def read_trusted_bytes(path: Path, what: str = "file") -> bytes:
    """The content of a file check_trusted_file accepts, checked on the open file so it cannot be swapped between."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # O_NONBLOCK: a planted FIFO cannot hang us
    with os.fdopen(fd, "rb") as handle:
        _refuse_untrusted(path, os.fstat(fd), what)
        return handle.read()


def _folder_problem(info: os.stat_result, subject: str, *, sticky_ok: bool) -> str | None:
    """Why a folder (already stat-ed) could let another user swap its entries, or None: not ours (or root's), or
    writable by group or others (unless sticky, when sticky_ok)."""
    if info.st_uid not in (os.geteuid(), 0):
        return f"{subject} belongs to {_owner_name(info.st_uid)}"
    if info.st_mode & GROUP_OTHER_WRITE and not (sticky_ok and info.st_mode & stat.S_ISVTX):
        mode = f"mode {stat.S_IMODE(info.st_mode):o}" + (", no sticky bit" if sticky_ok else "")
        return f"other users can write {subject} ({mode})"
    return None


def check_data_file(path: Path, what: str = "file") -> None:
    """Refuse a database file that another user owns or can write, or that is a symlink, and a folder holding it that
    another user can write (sticky or not): the database engine creates journal and lock files beside it by name.

    A file or folder that does not exist yet passes; the folder is checked once it does.
    """
    path = Path(path).absolute()
    folder = path.parent
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        return
    problem = _folder_problem(info, f"the folder {folder}", sticky_ok=False)
    if problem is None:
        with suppress(FileNotFoundError):
            problem = _problem(path, os.lstat(path), trusted_uids={os.geteuid(), 0}, want_dir=False)
    if problem:
        raise UnsafePath(
            f"Refusing the {what} {path}: {problem}, so they could change or replace what graphstore reads and writes.",
            f"Keep it in a folder only you (or root) can write, e.g. under {default_state_dir()}; if the file is "
            f"yours, chmod go-w {path}.",
        )


def check_parent_dir(path: Path, what: str = "folder") -> None:
    """Refuse a folder to create into whose entries another user could swap (theirs, or writable, not sticky)."""
    path = Path(path)
    problem = _folder_problem(os.stat(path), "it", sticky_ok=True)
    if problem:
        raise UnsafePath(
            f"Refusing to keep the {what} inside {path}: {problem}, so they could replace what graphstore puts there.",
            f"Choose a location inside a folder only you (or root) can write, e.g. under {default_state_dir()}.",
        )


def ensure_private_dir(path: Path, what: str = "folder", mode: int = 0o700) -> Path:
    """Create path (and missing parents) as a private folder, or check the existing one; return it.

    The folder, every folder created on the way and the existing folder they were created in are all checked.
    """
    path = Path(path).absolute()
    missing = []
    probe = path
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    check_parent_dir(probe if missing else path.parent, what)
    for folder in reversed(missing):
        with suppress(FileExistsError):  # created meanwhile: checked below like any existing folder
            os.mkdir(folder, mode)
    for folder in missing or [path]:
        check_private_dir(folder, what)
    return path


def default_state_dir() -> Path:
    """The user's private state folder ($XDG_STATE_HOME/graphstore, else ~/.local/state/graphstore)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "graphstore"


@contextmanager
def atomic_writer(path: Path, mode: int = 0o644, binary: bool = False) -> Iterator[IO]:
    """Write path through a new temp file in its folder, renamed over it on success (removed on failure).

    rename() replaces a symlink at path instead of following it, and the temp file is created exclusively, so a
    planted link never redirects the write and a reader never sees half a file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write text to path atomically, never through a symlink."""
    with atomic_writer(path, mode) as handle:
        handle.write(text)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write bytes to path atomically, never through a symlink."""
    with atomic_writer(path, mode, binary=True) as handle:
        handle.write(data)
