"""The CLI's one error boundary: every error a message and a hint (exit 2), Ctrl-C a line (exit 130), a bug a short
message plus the log file holding its traceback (exit 1). Everything printed or logged here has secrets masked."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from graphstore.cli.context import settings_line
from graphstore.errors import GraphstoreError, StoreUnavailable, TrackingError
from graphstore.masking import mask_argv
from graphstore.masking import mask_text as mask_secrets

EXIT_ERROR, EXIT_BUG, EXIT_INTERRUPTED = 2, 1, 130
INTERRUPTED_LINE = (
    "Interrupted. Work finished before the interrupt is saved; the run or graph in progress is "
    "recorded as interrupted/incomplete (finish it with --resume where the command offers it, or "
    "drop it)."
)


def log_dir() -> Path:
    """Where tracebacks of unexpected errors go: $GRAPHSTORE_LOG_DIR, else the XDG state dir."""
    explicit = os.environ.get("GRAPHSTORE_LOG_DIR")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "graphstore" / "logs"


def log_traceback(exc: BaseException) -> Path | None:
    """Write the masked traceback to a new file (0600) and return its path; None when it cannot be written."""
    text = mask_secrets("".join(traceback.format_exception(exc)))
    try:
        folder = log_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        # a new file only: a name planted beforehand (a link, a file of someone else's) is never written through
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"graphstore {' '.join(mask_argv(sys.argv[1:]))}\n\n{text}")
        return path
    except OSError:
        return None


def _say(label: str, text: str, style: str) -> None:
    """One line on stderr, styled when stderr is a terminal."""
    Console(stderr=True).print(
        f"[{style}]{label}[/] {mask_secrets(text)}", highlight=False, markup=True, soft_wrap=True
    )


def run_guarded(command: Callable[[], object]) -> int:
    """Run the CLI and turn whatever ends it into an exit code and a readable message."""
    try:
        command()
    except GraphstoreError as exc:
        _say("Error:", _escape(exc.message), "bold red")
        servers = settings_line() if isinstance(exc, StoreUnavailable | TrackingError) else None
        if servers:  # a server that cannot be reached: say which file, variable or flag named it
            _say("Settings:", _escape(servers), "cyan")
        if exc.hint:
            _say("Hint:", _escape(exc.hint), "yellow")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("Interrupted:", INTERRUPTED_LINE, "bold yellow")
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent Exit(130) before it reaches us
            _say("Interrupted:", INTERRUPTED_LINE, "bold yellow")
        return code
    except Exception as exc:  # noqa: BLE001 - the boundary: any bug becomes a short message and a logged traceback
        where = log_traceback(exc)
        _say("Unexpected error:", _escape(f"{type(exc).__name__}: {exc}"), "bold red")
        _say(
            "Hint:",
            f"This is a bug in graphstore or an unhandled environment problem. Full traceback: "
            f"{where or '(could not write a log file)'}",
            "yellow",
        )
        return EXIT_BUG
    return 0


def _escape(text: str) -> str:
    """Escape rich markup in user text."""
    return escape(text)
