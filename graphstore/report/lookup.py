"""Finding what a report is about: the error for an id that is not recorded, naming the closest ones."""

from __future__ import annotations

import difflib

from graphstore.errors import GraphstoreError


class ReportError(GraphstoreError):
    """A report cannot be made: an unknown id, or an output folder that cannot be written."""


def close_matches(wanted: str, known: list[str], numeric: bool = False) -> list[str]:
    """Up to five known ids like the one asked for (nearest numbers for numeric ids, else similar spelling)."""
    if numeric and wanted.lstrip("-").isdigit():
        target = int(wanted)
        return sorted(known, key=lambda k: (abs(int(k) - target), int(k)))[:5]
    return difflib.get_close_matches(wanted, known, n=5, cutoff=0.4)


def not_found(what: str, wanted: str, known: list[str], listing: str, numeric: bool = False) -> ReportError:
    """The error for an unknown id, naming close matches and the command that lists the ids."""
    matches = close_matches(wanted, known, numeric)
    near = f"Close matches: {', '.join(matches)}. " if matches else ""
    return ReportError(f"No {what} {wanted!r} is recorded.", f"{near}List them with `{listing}`.")
