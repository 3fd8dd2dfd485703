"""Class trees: Newick in and out, reference trees shipped with graphstore, Robinson-Foulds through DendroPy.

RF is unrooted and not halved (DendroPy's symmetric_difference); normalised RF divides by the number of
non-trivial bipartitions of both trees. Leaf names match case-insensitively with spaces and underscores equal.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from graphstore.errors import GraphstoreError

REFERENCE_TREES = {"fashion-mnist": "fashion-mnist.nwk", "cifar20": "cifar20.nwk"}
PLANTED = "planted-tree"
SAFE_LABEL = re.compile(r"^[A-Za-z0-9_.\-]+$")


class TreeError(GraphstoreError):
    """A tree does not parse or its leaves do not match the classes."""


def normalise_name(name: str) -> str:
    """Leaf-name key: case-insensitive, spaces and underscores the same."""
    return re.sub(r"[\s_]+", "_", name.strip().strip("'\"")).lower()


def newick_label(name: str) -> str:
    """A Newick leaf label, quoted when it has characters Newick reserves."""
    return name if SAFE_LABEL.match(name) else "'" + name.replace("'", "''") + "'"


def reference_tree(name_or_path: str) -> str:
    """A shipped reference tree by name (fashion-mnist, cifar20), the generated dataset's planted tree
    (planted-tree, or planted-tree:DEPTH; default depth 3), a Newick file path, or a Newick string."""
    if name_or_path in REFERENCE_TREES:
        return (resources.files("graphstore") / "data" / REFERENCE_TREES[name_or_path]).read_text().strip()
    name, _, depth = name_or_path.partition(":")
    if name == PLANTED and (not depth or depth.isdigit()):
        from graphstore.nn.datasets.planted_tree import planted_newick  # deferred: it loads torch

        return planted_newick(int(depth or 3))
    if name_or_path.strip().endswith(";"):
        return name_or_path.strip()
    path = Path(name_or_path)
    if path.is_file():
        return path.read_text().strip()
    raise TreeError(
        f"No reference tree {name_or_path!r}.",
        f"Use one of {', '.join(REFERENCE_TREES)}, {PLANTED}[:DEPTH], a Newick file, or a Newick string ending in ';'.",
    )


def _tree(newick: str, namespace):
    import dendropy  # deferred: dendropy loads to read trees, not with the analysis registry

    try:
        tree = dendropy.Tree.get(
            data=newick, schema="newick", taxon_namespace=namespace, rooting="force-unrooted", preserve_underscores=True
        )
    except Exception as exc:  # dendropy raises several parser error types
        raise TreeError(f"Newick does not parse: {exc}", "Check the parentheses and the closing ';'.") from exc
    for taxon in tree.taxon_namespace:
        taxon.label = normalise_name(taxon.label)
    return tree


def leaves(newick: str) -> list[str]:
    """Leaf labels of a Newick tree (normalised)."""
    import dendropy  # deferred: dendropy loads to read trees, not with the analysis registry

    return sorted(t.label for t in _tree(newick, dendropy.TaxonNamespace()).taxon_namespace)


def check_leaves(newick: str, classes: list[str]) -> None:
    """The tree's leaves must be exactly the classes; the error names the mismatched leaves."""
    have, want = set(leaves(newick)), {normalise_name(c) for c in classes}
    if have != want:
        raise TreeError(
            f"Reference tree leaves do not match the classes: only in the tree: "
            f"{sorted(have - want) or 'none'}; only in the classes: {sorted(want - have) or 'none'}.",
            "Pass a reference tree (--reference NEWICK_OR_FILE) whose leaves are the class names.",
        )


def robinson_foulds(newick_a: str, newick_b: str) -> tuple[int, float]:
    """(RF, normalised RF) between two trees on the same leaves, unrooted, not halved."""
    import dendropy  # deferred: dendropy loads to read trees, not with the analysis registry
    from dendropy.calculate import treecompare  # deferred: dendropy loads to read trees, not with the analysis registry

    namespace = dendropy.TaxonNamespace()
    tree_a, tree_b = _tree(newick_a, namespace), _tree(newick_b, namespace)
    tree_b.migrate_taxon_namespace(namespace)
    only_a = {node.taxon.label for node in tree_a.leaf_nodes()}
    only_b = {node.taxon.label for node in tree_b.leaf_nodes()}
    if only_a != only_b:
        raise TreeError(f"The trees have different leaves: {sorted(only_a ^ only_b)}.")
    tree_a.encode_bipartitions()
    tree_b.encode_bipartitions()
    rf = int(treecompare.symmetric_difference(tree_a, tree_b))
    total = _nontrivial(tree_a) + _nontrivial(tree_b)
    return rf, (rf / total if total else 0.0)


def _nontrivial(tree) -> int:
    """Internal edges of an unrooted tree (bipartitions that split at least two leaves from two)."""
    n = len(tree.leaf_nodes())
    count = 0
    for bipartition in tree.bipartition_encoding:
        size = bin(bipartition.leafset_bitmask).count("1")
        if 2 <= size <= n - 2:
            count += 1
    return count
