"""Run dirs no other local user could have prepared: checked before any use, created private, nothing planted inside.

A run dir holds a server's data, its password hashes and (Neo4j) a conf/ folder that is on the server's classpath,
and the server runs as whoever starts it, often root. So every folder of it must be ours (or, for a PostgreSQL
cluster run as root, the postgres OS user's), not writable by group or others and not a symlink; nothing inside
may be a symlink or another user's file; and conf/ must hold exactly the files graphstore writes there.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable
from pathlib import Path

from graphstore.safe_fs import GROUP_OTHER_WRITE, UnsafePath, check_private_dir, default_state_dir, ensure_private_dir

HINT = (
    "Use a run dir only you own and nobody else can write (or a new one: leave out --run-dir for {default}); "
    "remove {path} if you did not create it."
)


def _hint(path: Path) -> str:
    """The fix for a refused run dir: a private one, or removing this one."""
    return HINT.format(default=default_state_dir() / "services", path=path)


def owner_name(uid: int) -> str:
    """A user name for uid (the number when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_dir(path: Path, what: str, owners: Iterable[int] = ()) -> None:
    """Refuse a folder that is a symlink, is writable by group or others, or belongs to neither us nor owners."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    problem = None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        problem = "it is a symbolic link" if stat.S_ISLNK(info.st_mode) else "it is not a folder"
    elif info.st_uid not in {os.geteuid(), *owners}:
        problem = f"it belongs to {owner_name(info.st_uid)}"
    elif info.st_mode & GROUP_OTHER_WRITE:
        problem = f"it is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise UnsafePath(f"Refusing the {what} {path}: {problem}.", _hint(path))


def checked(path: Path, what: str, owners: Iterable[int] = ()) -> Path:
    """path made absolute and checked with check_dir before it is resolved (a link is refused, not followed)."""
    path = Path(path).absolute()
    check_dir(path, what, owners)
    return path.resolve()


def check_root(root: Path) -> None:
    """Refuse a run root another user could have prepared (a missing one is fine: nothing was started there)."""
    check_private_dir(root, "run root")


def prepare_root(root: Path) -> Path:
    """Create the run root (mode 700, missing parents too) or check the existing one; return it."""
    return ensure_private_dir(root, "run root")


def check_tree(top: Path, what: str, owners: Iterable[int] = ()) -> None:
    """Refuse top when anything below it is a symlink or belongs to another user (it was writable once)."""
    trusted = {os.geteuid(), *owners}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder) / name
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                problem = "is a symbolic link"
            elif info.st_uid not in trusted:
                problem = f"belongs to {owner_name(info.st_uid)}"
            else:
                continue
            raise UnsafePath(f"Refusing the {what} {top}: {path} {problem}.", _hint(top))


def check_only(folder: Path, expected: Iterable[str], why: str) -> None:
    """Refuse folder when it holds any entry not in expected (why: what such an entry could do)."""
    extra = sorted(set(os.listdir(folder)) - set(expected))
    if extra:
        names = ", ".join(str(folder / name) for name in extra)
        raise UnsafePath(
            f"Refusing to start: {names} {'is' if len(extra) == 1 else 'are'} not written by graphstore, and {why}.",
            f"Remove {'it' if len(extra) == 1 else 'them'} if you did not put {'it' if len(extra) == 1 else 'them'} "
            "there (and check who could); graphstore rewrites everything it needs there on start.",
        )


def private_subdirs(run_dir: Path, names: Iterable[str], what: str) -> None:
    """Create run_dir and its subfolders names as private folders (mode 700), or check the existing ones."""
    ensure_private_dir(run_dir, what)
    for name in names:
        ensure_private_dir(run_dir / name, what)
