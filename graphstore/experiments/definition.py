"""Experiment definitions: TOML files naming a pipeline, parameter values per scale, a grid, tables, paper values.

Shipped definitions live in the top-level `experiments/` folder (installed as graphstore.experiment_defs); a
definition in `./experiments/` of the working directory, or a path to a .toml file, takes precedence, so a user
copies one, edits it, and runs the copy (`replaced_shipped` says when a local file hides a shipped one). A definition
names code to import (`pipeline = "pkg.mod:name"`), so its file must be the user's (or root's) and not writable by
others. docs/EXPERIMENTS.md describes the format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from graphstore.errors import GraphstoreError
from graphstore.experiments.checks import SpecError
from graphstore.experiments.claims import Claim, parse_claims
from graphstore.experiments.figures_spec import FigureSpec, parse_figures
from graphstore.registry import Registry
from graphstore.safe_fs import read_trusted_bytes

SCALES = ("smoke", "paper")
TOP_KEYS = {
    "name",
    "pipeline",
    "document",
    "title",
    "description",
    "params",
    "tables",
    "paper_values",
    "claims",
    "figures",
    *SCALES,
}
FORMAT_HINT = (
    "See docs/EXPERIMENTS.md for the format (or compare with a shipped definition: graphstore experiment list)."
)


class InvalidDefinition(GraphstoreError):
    """An experiment definition file that does not parse, misses required keys or has a value of the wrong type."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint or FORMAT_HINT)


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
    claims: tuple[Claim, ...] = ()
    figures: tuple[FigureSpec, ...] = ()

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


def _mapping(data: dict[str, Any], key: str, path: Path, where: str) -> dict[str, Any]:
    """data[key] as a dict (absent: empty); anything but a TOML table is InvalidDefinition naming key and value."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise InvalidDefinition(f"{path}: {where}{key} must be a table (key = value pairs), not {value!r}.")
    return value


def _names(data: dict[str, Any], key: str, path: Path, where: str) -> tuple[str, ...]:
    """data[key] as a tuple of column names; anything but a list of strings is InvalidDefinition."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidDefinition(f"{path}: {where}{key} must be a list of column names, not {value!r}.")
    return tuple(value)


def _entries(data: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    """The [[key]] array of tables (absent: empty); anything else is InvalidDefinition."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidDefinition(f"{path}: {key} must be an array of tables ([[{key}]] entries), not {value!r}.")
    return value


def _scale(data: Any, name: str, path: Path) -> ScaleSpec:
    if not isinstance(data, dict) or set(data) - {"params", "grid"}:
        raise InvalidDefinition(f"{path}: [{name}] may hold only 'params' and 'grid' tables.")
    raw = _mapping(data, "grid", path, f"[{name}] ")
    grid = {str(k): v if isinstance(v, list) else [v] for k, v in raw.items()}
    empty = [k for k, v in grid.items() if not v]
    if empty:
        raise InvalidDefinition(f"{path}: grid axis {', '.join(empty)} of [{name}] has no values.")
    return ScaleSpec(dict(_mapping(data, "params", path, f"[{name}] ")), grid)


def _table(data: dict[str, Any], path: Path) -> TableSpec:
    return TableSpec(
        str(_require(data, "name", path)),
        _names(data, "group", path, "[[tables]] "),
        _names(data, "values", path, "[[tables]] "),
        str(data.get("title", "")),
    )


def _number(data: dict[str, Any], key: str, path: Path) -> float:
    """A required number (int or float, not a boolean or text) of a [[paper_values]] entry."""
    value = _require(data, key, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDefinition(f"{path}: [[paper_values]] {key} must be a number, not {value!r}.")
    return float(value)


def _paper(data: dict[str, Any], path: Path) -> PaperValue:
    scale = data.get("scale")
    if scale is not None and scale not in SCALES:
        raise InvalidDefinition(f"{path}: [[paper_values]] scale must be one of {', '.join(SCALES)}, not {scale!r}.")
    return PaperValue(
        table=str(_require(data, "table", path)),
        column=str(_require(data, "column", path)),
        value=_number(data, "value", path),
        source=str(_require(data, "source", path)),
        where=dict(_mapping(data, "where", path, "[[paper_values]] ")),
        scale=scale,
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
    tables = tuple(_table(t, path) for t in _entries(data, "tables", path))
    figures, claims = _figures_and_claims(data, tables, path)
    return Definition(
        name=str(_require(data, "name", path)),
        pipeline=str(_require(data, "pipeline", path)),
        document=str(data.get("document", "")),
        title=str(data.get("title", "")),
        description=str(data.get("description", "")).strip(),
        params=dict(_mapping(data, "params", path, "")),
        scales={s: _scale(data[s], s, path) for s in SCALES if s in data},
        tables=tables,
        paper_values=tuple(_paper(p, path) for p in _entries(data, "paper_values", path)),
        path=path,
        claims=claims,
        figures=figures,
    )


def _figures_and_claims(
    data: dict[str, Any], tables: tuple[TableSpec, ...], path: Path
) -> tuple[tuple[FigureSpec, ...], tuple[Claim, ...]]:
    """The [[figures]] and [[claims]] entries, checked against the tables' columns; errors name file and entry."""
    columns = {t.name: {*t.group, *t.values} if t.values else set() for t in tables}
    try:
        figures = parse_figures(_entries(data, "figures", path), columns)
        claims = parse_claims(_entries(data, "claims", path), columns, {f.id for f in figures}, SCALES)
    except SpecError as exc:
        raise InvalidDefinition(f"{path}: {exc}.") from exc
    return figures, claims


def load_definition(path: Path) -> Definition:
    """Read and parse one definition file (UTF-8, the user's or root's and not writable by others: it names code)."""
    try:
        data = read_trusted_bytes(path, "experiment definition")
    except OSError as exc:
        raise InvalidDefinition(
            f"Cannot read {path}: {exc.strerror or exc}.", "Check the path, or pass an experiment name."
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDefinition(
            f"{path} is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}).",
            "Save the definition as UTF-8 (TOML files are UTF-8).",
        ) from exc
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
        "experiment",
        keys=lambda path: (path.stem,),
        normalise=str.strip,
        hint="`graphstore experiment list` describes them.",
    )
    for path in definition_files().values():
        files.register(path)
    return load_definition(files.get(name))


def replaced_shipped(definition: Definition) -> Path | None:
    """The shipped definition file that `definition` (from ./experiments or a path) hides by name, or None."""
    shipped = shipped_dir() / f"{definition.path.stem}.toml"
    local = definition.path.resolve().parent == (Path.cwd() / "experiments").resolve()
    return shipped if local and shipped.is_file() and shipped.resolve() != definition.path.resolve() else None
