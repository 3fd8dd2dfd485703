"""The weight graph's size, known before it is built: a model whose graph cannot fit in memory is refused with its
largest layers named, instead of being killed by the kernel part-way (docs/SCALING.md, "Weight graphs").

Through residual streams every unit summed into a layer's input is a source of that layer's weights, so the edges
grow with depth: torchvision's vit_b_16 plans 658M edges (its last MLP layer alone 57M), resnet50 40M.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphstore.errors import GraphstoreError
from graphstore.extract.dataflow_flow import UnitLayer
from graphstore.extract.dataflow_sources import SourceSets

# Peak bytes per planned edge while the graph is built (block arrays, their concatenation, the Graph's columns):
# resnet50's 39.8M edges peaked at 4.28 GiB with the model and the interpreter (bench/RESULTS.md, "Foreign models").
BYTES_PER_EDGE = 100


class GraphTooLarge(GraphstoreError):
    """The graph asked for would not fit in this machine's available memory."""


def planned_edges(chosen: Sequence[UnitLayer], sets: SourceSets, kept: np.ndarray) -> dict[str, int]:
    """Edges each chosen layer will have before zero weights are dropped: per block, its output units times the
    kept source units (`kept`: per global unit id) of its input columns, each source once (a flatten's columns
    share their channel's; a conv kernel is one edge per channel pair)."""
    return {
        layer.name: sum((b.rows.stop - b.rows.start) * _sources(sets, b.columns, kept) for b in layer.blocks)
        for layer in chosen
    }


def _sources(sets: SourceSets, columns: np.ndarray, kept: np.ndarray) -> int:
    """How many distinct kept units the sets of `columns` hold together."""
    units = [np.fromiter(sets.sets[i], np.int64, len(sets.sets[i])) for i in np.unique(columns).tolist()]
    joined = np.unique(np.concatenate(units)) if units else np.zeros(0, np.int64)
    return int(kept[joined].sum())


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where there is none: no check is made then)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def check_fits(planned: dict[str, int], available: int | None) -> None:
    """Refuse a graph whose build would need more than the available memory, naming its largest layers."""
    edges = sum(planned.values())
    needed = edges * BYTES_PER_EDGE
    if available is None or needed <= available:
        return
    largest = sorted(planned, key=planned.__getitem__, reverse=True)[:3]
    named = ", ".join(f"{name} {planned[name]:,}" for name in largest)
    parts = largest[0].split(".")
    around = ".".join(parts[: max(1, len(parts) - 2)]) + ".*"  # the largest layer's block, as a glob
    raise GraphTooLarge(
        f"The weight graph would hold {edges:,} edges (about {needed / 2**30:.0f} GiB while it is built; "
        f"{available / 2**30:.0f} GiB available): through residual streams each layer reads every unit summed into "
        f"its input. Largest layers: {named}.",
        f"Choose fewer layers (layers=['{around}'] in Python, --layers '{around}' on the command line: names or "
        "globs of the modules), or run it on a machine with more memory.",
    )
