"""Several class trees at once (000 fits 50 per graph): their majority-rule consensus and the pairwise normalised
Robinson-Foulds matrix, drawn for a hierarchy analysis's runs (graph reports) and an experiment's cells.

The consensus is DendroPy's majority rule over rooted clades (a clade is kept when more than half the trees hold
it; its support, in % of the trees, labels its node). RF follows graphstore.analysis.trees: unrooted, not halved,
normalised by the non-trivial bipartitions of both trees, leaf names matched case-insensitively.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from graphstore.analysis.trees import newick_label, normalise_name
from graphstore.errors import GraphstoreError
from graphstore.report.document import Code, Figure, Section, Text
from graphstore.report.figures import matrix_figure, tree_figure
from graphstore.report.newick import Clade, leaves_of, parse_newick

MAX_TREES = 50  # the matrix of more is unreadable; 000 fits 50
MAJORITY = 0.5 + 1e-9  # strictly more than half: DendroPy keeps a split at min_freq or above


@dataclass(frozen=True)
class Trees:
    """Trees on one leaf set, each with a label (run 3, epoch=6, ...)."""

    labels: list[str]
    newicks: list[str]


def consensus(newicks: Sequence[str]) -> str:
    """The majority-rule consensus (DendroPy, rooted clades in more than half the trees) as Newick, each inner
    node labelled with its support in % of the trees."""
    import dendropy  # deferred: dendropy is read only when trees are compared

    namespace = dendropy.TaxonNamespace()
    trees = dendropy.TreeList(taxon_namespace=namespace)
    try:
        for text in newicks:
            trees.append(
                dendropy.Tree.get(
                    data=text,
                    schema="newick",
                    taxon_namespace=namespace,
                    rooting="force-rooted",
                    preserve_underscores=True,
                )
            )
        return _newick(trees.consensus(min_freq=MAJORITY).seed_node, root=True) + ";"
    except Exception as exc:  # dendropy raises several parser and tree error types
        raise GraphstoreError(
            f"DendroPy cannot build the consensus: {exc}", "Check that the trees are Newick."
        ) from exc


def _newick(node, root: bool = False) -> str:  # noqa: ANN001 - a dendropy Node
    """A node as Newick with leaf names quoted where needed and support (%) on inner nodes but the root."""
    if node.taxon is not None and not node.child_nodes():
        return newick_label(node.taxon.label)
    parts = sorted(_newick(child) for child in node.child_nodes())
    support = node.annotations.get_value("support")
    label = "" if root or support is None else str(round(100 * float(support)))
    return "(" + ",".join(parts) + ")" + label


def splits(newick: str) -> set[frozenset[str]]:
    """The tree's non-trivial unrooted bipartitions, each as the side without the first leaf (sorted names)."""
    root = parse_newick(newick)
    names = [normalise_name(n) for n in leaves_of(root)]
    everything, first = frozenset(names), min(names)
    out: set[frozenset[str]] = set()
    for clade in _clades(root):
        side = frozenset(normalise_name(n) for n in leaves_of(clade))
        side = everything - side if first in side else side
        if 2 <= len(side) <= len(everything) - 2:
            out.add(side)
    return out


def _clades(clade: Clade) -> list[Clade]:
    """Every clade under the root (the root itself is not a split)."""
    return [c for child in clade.children for c in (child, *_clades(child))]


def rf_matrix(newicks: Sequence[str]) -> np.ndarray:
    """Pairwise normalised RF: |A xor B| / (|A| + |B|) over the trees' non-trivial bipartitions (0 when both have
    none), as graphstore.analysis.trees.robinson_foulds computes it one pair at a time."""
    found = [splits(t) for t in newicks]
    out = np.zeros((len(found), len(found)))
    for i, a in enumerate(found):
        for j, b in enumerate(found[:i]):
            total = len(a) + len(b)
            out[i, j] = out[j, i] = len(a ^ b) / total if total else 0.0
    return out


def is_newick(value: object) -> bool:
    """Whether a recorded value looks like a Newick tree (text in parentheses ending in ';')."""
    return isinstance(value, str) and value.strip().startswith("(") and value.strip().endswith(";")


def by_leaves(labels: Sequence[str], newicks: Sequence[str]) -> list[Trees]:
    """The trees grouped by leaf set (trees of different datasets are not compared), in first-seen order."""
    groups: dict[frozenset[str], Trees] = {}
    for label, text in zip(labels, newicks, strict=True):
        key = frozenset(normalise_name(n) for n in leaves_of(parse_newick(text)))
        found = groups.setdefault(key, Trees([], []))
        found.labels.append(label)
        found.newicks.append(text)
    return list(groups.values())


def add_consensus(section: Section, name: str, trees: Trees, what: str) -> None:
    """The consensus tree (drawn and as Newick) and the RF matrix heatmap of trees on one leaf set."""
    shown = Trees(trees.labels[:MAX_TREES], trees.newicks[:MAX_TREES])
    count = len(shown.newicks)
    tree = consensus(shown.newicks)
    caption = f"Majority-rule consensus of {count} {what} (inner numbers: % of the trees with that clade)"
    section.add(tree_figure(f"{name}-consensus-tree", caption, tree), Code(tree, "Consensus (Newick):"))
    matrix = rf_matrix(shown.newicks)
    section.add(rf_figure(f"{name}-rf-matrix", f"Pairwise normalised RF between the {count} {what}", shown, matrix))
    upper = matrix[np.triu_indices(count, 1)]
    distinct = len(set(shown.newicks))
    section.add(Text(f"{distinct} distinct trees; normalised RF between pairs: mean {upper.mean():.3g}, "
                     f"max {upper.max():.3g} (0 = same tree, 1 = no split shared)."))  # fmt: skip
    if len(trees.newicks) > MAX_TREES:
        section.add(Text(f"Only the first {MAX_TREES} of {len(trees.newicks)} trees are compared."))


def rf_figure(name: str, caption: str, trees: Trees, matrix: np.ndarray) -> Figure:
    """The RF matrix as a heatmap with the values written in the cells."""
    return matrix_figure(
        name,
        caption,
        trees.labels,
        matrix,
        "normalised RF",
        axis_label="tree",
        number_format="{:.2f}",
        limits=(0.0, 1.0),  # 0 = the same tree, 1 = no split shared
    )
