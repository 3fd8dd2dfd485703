"""A small Newick reader for drawing class trees: nested clades with leaf names (branch lengths are ignored).

graphstore's class trees are topologies (graphstore.analysis.hierarchy writes no lengths); quoted labels follow
Newick's rule ('' is a quote inside quotes). DendroPy reads trees for Robinson-Foulds; drawing needs only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphstore.errors import GraphstoreError


@dataclass
class Clade:
    """A node of a tree: a name (leaves) and its children (inner nodes)."""

    name: str = ""
    children: list[Clade] = field(default_factory=list)


def parse_newick(text: str) -> Clade:
    """The tree of a Newick string; a malformed one raises GraphstoreError saying where."""
    reader = _Reader(text.strip())
    clade = reader.clade()
    reader.skip_length()
    if reader.peek() == ";":
        reader.pos += 1
    if reader.pos != len(reader.text):
        raise reader.error("unexpected text after the tree")
    return clade


def leaves_of(clade: Clade) -> list[str]:
    """Leaf names, left to right."""
    if not clade.children:
        return [clade.name]
    return [name for child in clade.children for name in leaves_of(child)]


class _Reader:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def error(self, what: str) -> GraphstoreError:
        return GraphstoreError(
            f"Newick tree does not parse at character {self.pos}: {what}.", "Check the parentheses and the ';'."
        )

    def clade(self) -> Clade:
        if self.peek() != "(":
            return Clade(self.label())
        self.pos += 1
        children = [self.clade()]
        self.skip_length()
        while self.peek() == ",":
            self.pos += 1
            children.append(self.clade())
            self.skip_length()
        if self.peek() != ")":
            raise self.error("expected ',' or ')'")
        self.pos += 1
        return Clade(self.label(), children)

    def label(self) -> str:
        if self.peek() == "'":
            out, self.pos = [], self.pos + 1
            while self.pos < len(self.text):
                ch = self.text[self.pos]
                if ch == "'" and self.text[self.pos + 1 : self.pos + 2] == "'":
                    out.append("'")
                    self.pos += 2
                elif ch == "'":
                    self.pos += 1
                    return "".join(out)
                else:
                    out.append(ch)
                    self.pos += 1
            raise self.error("unterminated quoted label")
        start = self.pos
        while self.peek() and self.peek() not in "(),:;":
            self.pos += 1
        return self.text[start : self.pos].strip()

    def skip_length(self) -> None:
        if self.peek() == ":":
            self.pos += 1
            while self.peek() and self.peek() not in "(),;":
                self.pos += 1
