"""`boolean-modular`: truth tables of hierarchically modular Boolean tasks (docs/METHODS.md E, Neural Sculpting).

Row r of a table with n inputs is the binary number r written x1..xn, x1 the most significant bit, so
f0(x1..x4) is 1 exactly on rows 0011, 1010 and 1100. Outputs are bits (multilabel targets). Each task carries
its ground truth as data: modules per level, which inputs each module reads, which modules feed which, and
which module feeds each output. Level 1 is the first hidden level. Where the catalogue gives module counts
but no decomposition (the input-overlap series and the depth task) the modules follow docs/METHODS.md's counts:
level-1 modules of an overlapping pair are the groups of inputs read by f0 only, by both, and by g0 only; at
full overlap ([4,1,2,2,k]) one shared input module feeds the minterm modules of f0 and g0; they feed ORs.
All splits are the full truth table (the sculpting protocol trains and scores on every row).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphstore.nn.datasets import DATASETS, DatasetEntry
from graphstore.nn.datasets.base import DataInfo, DatasetSpec, LoadedDataset, Source, TensorSource, split_meta
from graphstore.nn.errors import InvalidParams

F0_ROWS, G0_ROWS = (0b0011, 0b1010, 0b1100), (0b0101, 0b1001, 0b1111)
M1, M2, M3 = 0b1100, 0b1010, 0b0011  # f0 = m1 | m2 | m3; f = m1 | m2; g = m2 | m3
Columns = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Module:
    """One ground-truth sub-function: its level, the inputs it reads (0-based), the modules feeding it."""

    name: str
    level: int
    inputs: tuple[int, ...]
    sources: tuple[str, ...] = ()
    function: str = ""


@dataclass(frozen=True)
class BooleanTask:
    """A Boolean task: input count, ground-truth modules, the module and formula behind each output."""

    name: str
    n_inputs: int
    modules: tuple[Module, ...]
    output_sources: tuple[str, ...]
    output_functions: tuple[str, ...]
    compute: Columns = field(repr=False, compare=False)

    @property
    def n_outputs(self) -> int:
        """Number of output bits."""
        return len(self.output_sources)

    @property
    def modules_per_level(self) -> tuple[int, ...]:
        """Module count per hidden level, e.g. (1, 2) for the reused task."""
        depth = max(m.level for m in self.modules)
        return tuple(sum(m.level == lv for m in self.modules) for lv in range(1, depth + 1))

    @property
    def arch(self) -> tuple[int, ...]:
        """[inputs, modules per level..., outputs], the catalogue's name for the task."""
        return (self.n_inputs, *self.modules_per_level, self.n_outputs)

    def first_level_inputs(self) -> list[frozenset[int]]:
        """Input sets of the level-1 modules (what module detection is scored against)."""
        return [frozenset(m.inputs) for m in self.modules if m.level == 1]

    def truth_table(self) -> tuple[np.ndarray, np.ndarray]:
        """All 2^n input rows (uint8, x1 = most significant bit) and their output bits (uint8)."""
        rows = np.arange(2**self.n_inputs)[:, None]
        x = ((rows >> (self.n_inputs - 1 - np.arange(self.n_inputs))) & 1).astype(np.uint8)
        return x, self.compute(x).astype(np.uint8)

    def to_dict(self) -> dict[str, Any]:
        """The ground truth as JSON-ready data."""
        return {
            "name": self.name,
            "arch": list(self.arch),
            "modules_per_level": list(self.modules_per_level),
            "modules": [
                {
                    "name": m.name,
                    "level": m.level,
                    "inputs": list(m.inputs),
                    "sources": list(m.sources),
                    "function": m.function,
                }
                for m in self.modules
            ],
            "outputs": [
                {"source": s, "function": f} for s, f in zip(self.output_sources, self.output_functions, strict=True)
            ],
        }


def code4(x: np.ndarray, first: int) -> np.ndarray:
    """Inputs first..first+3 read as a 4-bit number (first input most significant)."""
    return x[:, first : first + 4].astype(np.int64) @ np.array([8, 4, 2, 1])


def on_rows(x: np.ndarray, first: int, rows: tuple[int, ...]) -> np.ndarray:
    """1 where the 4-bit code of inputs first..first+3 is one of `rows`."""
    return np.isin(code4(x, first), rows)


def alternate(k: int, odd: np.ndarray, even: np.ndarray) -> np.ndarray:
    """k output columns: 1st, 3rd, ... from `odd`; 2nd, 4th, ... from `even`."""
    return np.stack([odd if j % 2 == 0 else even for j in range(k)], axis=1)


def names(k: int, odd: str, even: str) -> tuple[str, ...]:
    """Alternating labels for k outputs."""
    return tuple(odd if j % 2 == 0 else even for j in range(k))


def xs(idx: range | tuple[int, ...]) -> tuple[int, ...]:
    """Input indices as a tuple."""
    return tuple(idx)


def input_separable(k: int) -> BooleanTask:
    """[4,2,4]: y = [x1 xor x2, not(x1 xor x2), x3 xor x4, not(x3 xor x4)]."""
    _fixed(k, 4, "input-separable")

    def compute(x: np.ndarray) -> np.ndarray:
        a, b = x[:, 0] ^ x[:, 1], x[:, 2] ^ x[:, 3]
        return np.stack([a, 1 - a, b, 1 - b], axis=1)

    mods = (Module("A", 1, (0, 1), (), "x1 xor x2"), Module("B", 1, (2, 3), (), "x3 xor x4"))
    return BooleanTask(
        "input-separable",
        4,
        mods,
        ("A", "A", "B", "B"),
        ("x1 xor x2", "not(x1 xor x2)", "x3 xor x4", "not(x3 xor x4)"),
        compute,
    )


def reused(k: int) -> BooleanTask:
    """[4,1,2,k]: minterms m1, m2, m3 of x1..x4, reused by f = m1 or m2 (odd outputs), g = m2 or m3 (even)."""

    def compute(x: np.ndarray) -> np.ndarray:
        return alternate(k, on_rows(x, 0, (M1, M2)), on_rows(x, 0, (M2, M3)))

    mods = (
        Module("M", 1, xs(range(4)), (), "m1 = x1 x2 !x3 !x4, m2 = x1 !x2 x3 !x4, m3 = !x1 !x2 x3 x4"),
        Module("F", 2, xs(range(4)), ("M",), "m1 or m2"),
        Module("G", 2, xs(range(4)), ("M",), "m2 or m3"),
    )
    return BooleanTask("reused", 4, mods, names(k, "F", "G"), names(k, "m1 or m2", "m2 or m3"), compute)


def separable_reused(k: int) -> BooleanTask:
    """[6,3,3,3]: y1 = x1x2 or x3x4, y2 = x1x2 or x5x6, y3 = x3x4 or x5x6."""
    _fixed(k, 3, "separable-reused")

    def compute(x: np.ndarray) -> np.ndarray:
        a, b, c = x[:, 0] & x[:, 1], x[:, 2] & x[:, 3], x[:, 4] & x[:, 5]
        return np.stack([a | b, a | c, b | c], axis=1)

    mods = (
        Module("A", 1, (0, 1), (), "x1 and x2"),
        Module("B", 1, (2, 3), (), "x3 and x4"),
        Module("C", 1, (4, 5), (), "x5 and x6"),
        Module("AB", 2, (0, 1, 2, 3), ("A", "B"), "A or B"),
        Module("AC", 2, (0, 1, 4, 5), ("A", "C"), "A or C"),
        Module("BC", 2, (2, 3, 4, 5), ("B", "C"), "B or C"),
    )
    return BooleanTask(
        "separable-reused",
        6,
        mods,
        ("AB", "AC", "BC"),
        ("x1x2 or x3x4", "x1x2 or x5x6", "x3x4 or x5x6"),
        compute,
    )


def single(k: int) -> BooleanTask:
    """[4,1,k]: every output is f0(x1..x4)."""

    def compute(x: np.ndarray) -> np.ndarray:
        return np.repeat(on_rows(x, 0, F0_ROWS)[:, None], k, axis=1)

    mods = (Module("F0", 1, xs(range(4)), (), "f0(x1..x4)"),)
    return BooleanTask("single", 4, mods, ("F0",) * k, ("f0(x1..x4)",) * k, compute)


def overlap(v: int, k: int) -> BooleanTask:
    """Input-overlap series: n = 8 - v inputs; odd outputs f0(x1..x4), even outputs g0(last four inputs)."""
    n = 8 - v
    f_in, g_in = set(range(4)), set(range(n - 4, n))

    def compute(x: np.ndarray) -> np.ndarray:
        return alternate(k, on_rows(x, 0, F0_ROWS), on_rows(x, n - 4, G0_ROWS))

    groups = [("Fonly", sorted(f_in - g_in)), ("Shared", sorted(f_in & g_in)), ("Gonly", sorted(g_in - f_in))]
    groups = [(name, idx) for name, idx in groups if idx]
    g_label = f"g0(x{n - 3}..x{n})"
    mods: tuple[Module, ...]
    if v == 0:
        mods = (
            Module("F0", 1, xs(range(4)), (), "f0(x1..x4)"),
            Module("G0", 1, xs(range(4, 8)), (), g_label),
        )
    elif v == 4:
        mods = (
            Module("Shared", 1, xs(range(4)), (), "x1..x4 (read by f0 and g0)"),
            Module("Fterms", 2, xs(range(4)), ("Shared",), "minterms of f0"),
            Module("Gterms", 2, xs(range(4)), ("Shared",), "minterms of g0"),
            Module("F0", 3, xs(range(4)), ("Fterms",), "f0 = OR of its minterms"),
            Module("G0", 3, xs(range(4)), ("Gterms",), "g0 = OR of its minterms"),
        )
    else:
        level1 = tuple(Module(name, 1, tuple(idx), (), f"inputs {name}") for name, idx in groups)
        mods = level1 + (
            Module(
                "F0",
                2,
                tuple(sorted(f_in)),
                tuple(m.name for m in level1 if set(m.inputs) & f_in),
                "f0(x1..x4)",
            ),
            Module("G0", 2, tuple(sorted(g_in)), tuple(m.name for m in level1 if set(m.inputs) & g_in), g_label),
        )
    return BooleanTask(f"overlap-{v}", n, mods, names(k, "F0", "G0"), names(k, "f0(x1..x4)", g_label), compute)


def depth(k: int) -> BooleanTask:
    """[8,2,1,2,k]: A = f0(x1..x4), B = g0(x5..x8); odd outputs A and not B, even outputs not A and B."""

    def compute(x: np.ndarray) -> np.ndarray:
        a, b = on_rows(x, 0, F0_ROWS), on_rows(x, 4, G0_ROWS)
        return alternate(k, a & ~b, ~a & b)

    all8 = xs(range(8))
    mods = (
        Module("A", 1, xs(range(4)), (), "f0(x1..x4)"),
        Module("B", 1, xs(range(4, 8)), (), "g0(x5..x8)"),
        Module("AB", 2, all8, ("A", "B"), "A, B combined"),
        Module("P", 3, all8, ("AB",), "A and not B"),
        Module("Q", 3, all8, ("AB",), "not A and B"),
    )
    return BooleanTask("depth", 8, mods, names(k, "P", "Q"), names(k, "A and not B", "not A and B"), compute)


def _fixed(k: int, n: int, name: str) -> None:
    """Tasks with a fixed output count refuse another one."""
    if k != n:
        raise InvalidParams(f"boolean task {name!r} has exactly {n} outputs, not {k}.", "Leave outputs at 0.")


TASKS: dict[str, tuple[Callable[[int], BooleanTask], int]] = {
    "input-separable": (input_separable, 4),
    "reused": (reused, 4),
    "separable-reused": (separable_reused, 3),
    "single": (single, 4),
    **{f"overlap-{v}": (partial(overlap, v), 8) for v in range(5)},
    "depth": (depth, 4),
}


def boolean_task(name: str, outputs: int = 0) -> BooleanTask:
    """A catalogue task by name ("reused") or architecture ("4,1,2,8"); outputs 0 = the default."""
    key = name.strip().lower()
    if key in TASKS:
        make, default = TASKS[key]
        return make(outputs or default)
    arch = tuple(int(v) for v in re.findall(r"\d+", key))
    for make, default in TASKS.values():
        try:
            task = make(arch[-1] if arch else default)
        except InvalidParams:
            continue
        if arch and task.arch == arch and (not outputs or outputs == arch[-1]):
            return task
    raise InvalidParams(
        f"Unknown boolean task {name!r}.",
        f"Known tasks: {catalogue()}; or an architecture such as 4-1-2-16 (4,1,2,16), any k for the k-output tasks.",
    )


def catalogue() -> str:
    """'name [arch]' for each task with its default output count."""
    return ", ".join(f"{n} {list(make(k).arch)}" for n, (make, k) in TASKS.items())


@dataclass(frozen=True)
class BooleanModular:
    """Truth tables of hierarchically modular Boolean tasks (Neural Sculpting), with ground-truth modules."""

    task: str = field(
        default="reused",
        metadata={
            "help": "Task name (input-separable, reused, separable-reused, single, overlap-0..4, depth) "
            "or its "
            "architecture, e.g. 4,1,2,8."
        },
    )
    outputs: int = field(default=0, metadata={"help": "Number of outputs k (0 = the task's default)."})


def build(params: BooleanModular, spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """The task's full truth table as every split; ground truth in meta['ground_truth']."""
    task = boolean_task(params.task, params.outputs)
    x, y = task.truth_table()
    source = TensorSource(torch.from_numpy(x).float(), torch.from_numpy(y).float(), np.arange(len(x)))
    splits: dict[str, Source] = {"train": source, "val": source, "test": source}
    info = DataInfo(
        "boolean-modular", (task.n_inputs,), tuple(f"y{j + 1}" for j in range(task.n_outputs)), "multilabel"
    )
    meta = {**split_meta(splits, 0, {s: "full truth table" for s in splits}), "ground_truth": task.to_dict()}
    return LoadedDataset(spec, info, splits, meta)


DATASETS.register(DatasetEntry("boolean-modular", BooleanModular, build))
