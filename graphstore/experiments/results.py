"""An experiment's results: rows per table, summarised (mean, std, n per group), beside the paper's values."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphstore.experiments.checks import number, same_value
from graphstore.experiments.definition import Definition, PaperValue, TableSpec

if TYPE_CHECKING:
    from graphstore.tracking.repo import Tracking


@dataclass
class Summary:
    """One table summarised: the group columns, then per value column its mean (or values), std and n."""

    spec: TableSpec
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def value_columns(self) -> list[str]:
        """The summarised columns, in order."""
        return list(self.spec.values)


@dataclass(frozen=True)
class Stat:
    """Mean, standard deviation (sample, n-1) and count of the numbers of one group; text for non-numbers."""

    mean: float | None
    std: float | None
    n: int
    text: str = ""

    def show(self, digits: int = 4) -> str:
        """'0.9123 ± 0.0042 (n=3)', '0.9123 (n=1)' for one value (no spread), or the text of non-numeric values."""
        if self.mean is None:
            return self.text or "-"
        head = f"{self.mean:.{digits}g}"
        return f"{head} (n={self.n})" if self.n <= 1 or self.std is None else f"{head} ± {self.std:.2g} (n={self.n})"


@dataclass(frozen=True)
class PaperComparison:
    """A paper's number beside ours (the matching summary row's mean), and the difference ours - paper."""

    paper: PaperValue
    ours: Stat | None

    @property
    def difference(self) -> float | None:
        """ours - paper, when both are numbers."""
        if self.ours is None or self.ours.mean is None:
            return None
        return self.ours.mean - self.paper.value


def load_tables(tracking: Tracking, experiment_run_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows (of completed cells), in write order."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for record in tracking.experiment_rows(experiment_run_id):
        tables.setdefault(record.table_name, []).append(dict(record.row))
    return tables


def stat(values: list[Any]) -> Stat:
    """Summarise one column of one group."""
    numbers = [n for n in map(number, values) if n is not None]
    if not numbers or len(numbers) < len([v for v in values if v is not None]):
        common = Counter(str(v) for v in values if v is not None).most_common(3)
        return Stat(None, None, len(values), "; ".join(f"{v}" + (f" ×{c}" if c > 1 else "") for v, c in common))
    mean = sum(numbers) / len(numbers)
    std = math.sqrt(sum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1)) if len(numbers) > 1 else None
    return Stat(mean, std, len(numbers))


def _default_values(rows: list[dict[str, Any]], group: tuple[str, ...], point: Collection[str]) -> tuple[str, ...]:
    """Value columns when the definition names none: the columns that are neither group nor grid columns."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(k for k in row if k not in group and k not in point))
    return tuple(seen)


def summarise(spec: TableSpec, rows: list[dict[str, Any]], point: Collection[str] = ()) -> Summary:
    """Group `rows` by the spec's group columns (in first-seen order) and summarise each value column."""
    values = spec.values or _default_values(rows, spec.group, point)
    spec = TableSpec(spec.name, spec.group, values, spec.title)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(repr(row.get(g)) for g in spec.group), []).append(row)
    out = Summary(spec)
    for members in groups.values():
        entry: dict[str, Any] = {g: members[0].get(g) for g in spec.group}
        entry.update({v: stat([m.get(v) for m in members]) for v in values})
        out.rows.append(entry)
    return out


def summarise_all(
    definition: Definition | None,
    tables: dict[str, list[dict[str, Any]]],
    point: Collection[str] = (),
    defaults: dict[str, Any] | None = None,
) -> list[Summary]:
    """Every table summarised: the definition's tables first, in its order, then any other table recorded.
    A group column a row lacks takes the run's parameter of that name (`defaults`), e.g. a dataset fixed per scale."""
    specs = list(definition.tables) if definition else []
    named = {s.name for s in specs}
    specs += [TableSpec(name) for name in tables if name not in named]
    out = []
    for spec in specs:
        fill = {g: (defaults or {})[g] for g in spec.group if g in (defaults or {})}
        rows = [{**fill, **row} for row in tables.get(spec.name, [])]
        out.append(summarise(spec, rows, point))
    return out


def matches(row: dict[str, Any], where: dict[str, Any]) -> bool:
    """Whether a summary row's group values equal `where` (numbers compared as numbers)."""
    return all(same_value(row.get(key), wanted) for key, wanted in where.items())


def compare_to_paper(definition: Definition, summaries: list[Summary], scale: str) -> list[PaperComparison]:
    """Each paper value of this scale beside the mean of its matching summary row (None when no row matches)."""
    by_name = {s.spec.name: s for s in summaries}
    out = []
    for paper in definition.paper_values:
        if paper.scale not in (None, scale):
            continue
        summary = by_name.get(paper.table)
        row = next((r for r in summary.rows if matches(r, paper.where)), None) if summary else None
        ours = row.get(paper.column) if row else None
        out.append(PaperComparison(paper, ours if isinstance(ours, Stat) else None))
    return out
