"""Shared plumbing for local servers: state files, free ports, process liveness, waiting and log tails."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphstore.errors import ServiceError
from graphstore.safe_fs import UnsafePath, atomic_write_text

STATE_FILE = "state.json"
Say = Callable[[str], None]


def quiet(_message: str) -> None:
    """Default progress callback: print nothing."""


def read_state(run_dir: Path) -> dict[str, Any]:
    """The recorded state of the instance in run_dir ({} when it was never started).

    Only a regular file of ours is read (opened without following a symlink): a state file names the pid that
    `stop` signals, the folders `--purge` deletes and the addresses `env` exports.
    """
    path = Path(run_dir) / STATE_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    except OSError as exc:  # ELOOP: a symlink
        raise _untrusted(path, "it is a symbolic link or cannot be opened") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise _untrusted(path, "it is not a regular file of yours")
        try:
            return json.loads(handle.read())
        except (OSError, ValueError) as exc:
            raise ServiceError(f"State file {path} is unreadable: {exc}", f"Delete {path} and start again.") from exc


def _untrusted(path: Path, problem: str) -> UnsafePath:
    """The error for a state file graphstore did not write."""
    return UnsafePath(f"Refusing the state file {path}: {problem}.", f"Remove {path} if you did not create it.")


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    """Atomically write the state file (mode 600: it holds the passwords), never through a planted symlink."""
    atomic_write_text(Path(run_dir) / STATE_FILE, json.dumps(state, indent=2, sort_keys=True), mode=0o600)


def new_password() -> str:
    """A random password: 32 URL-safe characters (no quoting needed in a URL), never starting with '-'."""
    while True:
        password = secrets.token_urlsafe(24)
        if password[0].isalnum():
            return password


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct TCP ports that are free on host right now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _reap(pid: int) -> bool:
    """Collect pid if it is an exited child of this process; True when it was reaped."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def _cmdline(pid: int) -> str | None:
    """The command line of pid from /proc (None where /proc is unavailable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return "" if not Path("/proc/self").exists() else None
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _zombie(pid: int) -> bool:
    """Whether pid is a zombie (exited, not yet reaped): its main thread is 'Z' and no other thread still runs.

    A JVM whose main thread has exited shows 'Z' while its other threads still hold its sockets open.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z" and threads <= 1


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """Whether pid runs (not a zombie) and, where /proc exists, its command line contains marker."""
    if not pid or _reap(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _zombie(pid):
        return False
    cmd = _cmdline(pid)
    if cmd is None:
        return False
    return not marker or not cmd or marker in cmd


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll check() until it is true or timeout seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def terminate(pid: int, marker: str | None, timeout: float = 60.0, group: bool = False) -> bool:
    """SIGTERM pid (or its process group), wait up to timeout, then SIGKILL; True if SIGKILL was needed."""
    kill = os.killpg if group else os.kill
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        if not pid_alive(pid, marker):
            return sig == signal.SIGKILL
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, sig)
        if wait_until(lambda: not pid_alive(pid, marker), wait):
            return sig == signal.SIGKILL
    raise ServiceError(f"Process {pid} survived SIGKILL.", f"Check `ps -p {pid}` and stop it by hand.")


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a text file ('' when it does not exist)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
