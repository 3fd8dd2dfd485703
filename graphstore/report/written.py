"""One report written to disk, as the report jobs return it and the index lists it (shared by report.job and
report.index, which import it one way each)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Written:
    """One report on disk: what it is about, its HTML and Markdown files and the Markdown's figure files; its
    summary, group (a run's or graph's kind) and parent run id, for the index."""

    kind: str
    id: str
    title: str
    html: Path
    markdown: Path
    figures: list[Path]
    omitted: list[str]
    summary: str = ""
    group: str = ""
    parent: str = ""
