"""Experiment definitions: TOML files naming a pipeline, parameter values per scale, a grid, tables, paper values.

Shipped definitions live in the top-level `experiments/` folder (installed as graphstore.experiment_defs); a
definition in `./experiments/` of the working directory, or a path to a .toml file, takes precedence, so a user
copies one, edits it, and runs the copy. docs/EXPERIMENTS.md describes the format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from graphstore.errors import GraphstoreError
from graphstore.registry import Registry

SCALES = ("smoke", "paper")
TOP_KEYS = {"name", "pipeline", "document", "title", "description", "params", "tables", "paper_values", *SCALES}


class InvalidDefinition(GraphstoreError):
    """An experiment definition file that does not parse or misses required keys."""


@dataclass(frozen=True)
class TableSpec:
    """How a result table is summarised: rows grouped by `group`, each of `values` as mean, std and n."""

    name: str
    group: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class PaperValue:
    """A number the paper reports, matched to the summary row of `table` whose group columns equal `where`."""

    table: str
    column: str
    value: float
    source: str
    where: dict[str, Any] = field(default_factory=dict)
    scale: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ScaleSpec:
    """One scale's parameter values and grid axes (axis name -> values)."""

    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    """A parsed experiment definition and the file it came from."""

    name: str
    pipeline: str
    document: str
    title: str
    description: str
    params: dict[str, Any]
    scales: dict[str, ScaleSpec]
    tables: tuple[TableSpec, ...]
    paper_values: tuple[PaperValue, ...]
    path: Path

    def scale(self, name: str) -> ScaleSpec:
        """The named scale, or InvalidDefinition naming the scales it has."""
        if name not in self.scales:
            raise InvalidDefinition(
                f"Experiment {self.name!r} has no {name!r} scale.", f"It has: {', '.join(self.scales) or 'none'}."
            )
        return self.scales[name]

    def table(self, name: str) -> TableSpec:
        """The spec of a result table (a table the definition does not describe is listed ungrouped)."""
        return next((t for t in self.tables if t.name == name), TableSpec(name))


def _require(data: dict[str, Any], key: str, path: Path) -> Any:
    if key not in data:
        raise InvalidDefinition(f"{path}: missing required key {key!r}.", "See docs/EXPERIMENTS.md for the format.")
    return data[key]


def _scale(data: Any, name: str, path: Path) -> ScaleSpec:
    if not isinstance(data, dict) or set(data) - {"params", "grid"}:
        raise InvalidDefinition(f"{path}: [{name}] may hold only 'params' and 'grid' tables.")
    grid = {str(k): v if isinstance(v, list) else [v] for k, v in dict(data.get("grid", {})).items()}
    empty = [k for k, v in grid.items() if not v]
    if empty:
        raise InvalidDefinition(f"{path}: grid axis {', '.join(empty)} of [{name}] has no values.")
    return ScaleSpec(dict(data.get("params", {})), grid)


def _table(data: dict[str, Any], path: Path) -> TableSpec:
    return TableSpec(
        str(_require(data, "name", path)),
        tuple(data.get("group", ())),
        tuple(data.get("values", ())),
        str(data.get("title", "")),
    )


def _paper(data: dict[str, Any], path: Path) -> PaperValue:
    return PaperValue(
        table=str(_require(data, "table", path)),
        column=str(_require(data, "column", path)),
        value=float(_require(data, "value", path)),
        source=str(_require(data, "source", path)),
        where=dict(data.get("where", {})),
        scale=data.get("scale"),
        note=str(data.get("note", "")),
    )


def parse_definition(text: str, path: Path) -> Definition:
    """Parse a definition's TOML text (path is for messages and provenance)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidDefinition(f"{path} is not valid TOML: {exc}.") from exc
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise InvalidDefinition(
            f"{path}: unknown key(s) {', '.join(unknown)}.", f"Known: {', '.join(sorted(TOP_KEYS))}."
        )
    return Definition(
        name=str(_require(data, "name", path)),
        pipeline=str(_require(data, "pipeline", path)),
        document=str(data.get("document", "")),
        title=str(data.get("title", "")),
        description=str(data.get("description", "")).strip(),
        params=dict(data.get("params", {})),
        scales={s: _scale(data[s], s, path) for s in SCALES if s in data},
        tables=tuple(_table(t, path) for t in data.get("tables", [])),
        paper_values=tuple(_paper(p, path) for p in data.get("paper_values", [])),
        path=path,
    )


def load_definition(path: Path) -> Definition:
    """Read and parse one definition file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidDefinition(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return parse_definition(text, path)


def shipped_dir() -> Path:
    """The folder of the definitions shipped with graphstore."""
    return Path(str(resources.files("graphstore.experiment_defs")))


def search_dirs() -> list[Path]:
    """Where definitions are looked up, first match wins: ./experiments, then the shipped folder."""
    local = Path.cwd() / "experiments"
    shipped = shipped_dir()
    return [local, shipped] if local.is_dir() and local.resolve() != shipped.resolve() else [shipped]


def definition_files() -> dict[str, Path]:
    """Experiment name (file stem) -> file, the first folder of `search_dirs` winning."""
    found: dict[str, Path] = {}
    for folder in reversed(search_dirs()):
        found.update({p.stem: p for p in sorted(folder.glob("*.toml"))})
    return dict(sorted(found.items()))


def find_definition(name: str) -> Definition:
    """A definition by experiment name or by path to a .toml file; unknown names list the known ones."""
    candidate = Path(name)
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise InvalidDefinition(
                f"No definition file at {candidate}.", "Check the path, or pass an experiment name."
            )
        return load_definition(candidate)
    files: Registry[Path] = Registry(
        "experiment", normalise=str.strip, hint="`graphstore experiment list` describes them."
    )
    for stem, path in definition_files().items():
        files.register(stem, path)
    return load_definition(files.get(name))
