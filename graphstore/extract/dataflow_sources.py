"""Source sets and id tensors: what the data-flow interpreter carries beside every real value (docs/METHODS.md C1a).

An id tensor has the shape of its value; each entry names an interned set of global unit ids (0 = the empty set).
The helpers here combine id tensors the way operations combine values: unions over reduced or broadcast elements.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch


class SourceSets:
    """Interned sets of global unit ids; id 0 is the empty set. Layers own consecutive global unit ids."""

    def __init__(self) -> None:
        self.sets: list[frozenset[int]] = [frozenset()]
        self._index: dict[frozenset[int], int] = {frozenset(): 0}
        self.names: list[str] = []
        self.offsets: list[int] = [0]

    def intern(self, units: frozenset[int]) -> int:
        """The id of a set of units (new ids for new sets)."""
        found = self._index.get(units)
        if found is None:
            found = self._index[units] = len(self.sets)
            self.sets.append(units)
        return found

    def add_layer(self, name: str, units: int) -> np.ndarray:
        """Give a layer `units` global unit ids; returns the set id of each unit (one singleton set each)."""
        start = self.offsets[-1]
        self.names.append(name)
        self.offsets.append(start + units)
        return np.asarray([self.intern(frozenset((start + i,))) for i in range(units)], dtype=np.int64)

    def union(self, ids: Iterable[int]) -> int:
        """The id of the union of sets."""
        ids = set(ids.tolist() if isinstance(ids, np.ndarray) else map(int, ids))
        ids.discard(0)
        if len(ids) <= 1:
            return ids.pop() if ids else 0
        return self.intern(frozenset().union(*(self.sets[i] for i in ids)))

    def row_union(self, rows: np.ndarray) -> np.ndarray:
        """(M, K) set ids -> (M,) ids of each row's union (computed once per distinct row)."""
        if rows.shape[1] == 1:
            return rows[:, 0].copy()
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        return np.asarray([self.union(row) for row in unique], dtype=np.int64)[inverse.reshape(-1)]

    def owner(self, unit: int) -> tuple[str, int]:
        """(layer name, index) of a global unit id."""
        layer = bisect.bisect_right(self.offsets, unit) - 1  # a list: numpy's per-call cost was most of ranges()
        return self.names[layer], unit - self.offsets[layer]

    def ranges(self, set_id: int) -> list[tuple[str, range]]:
        """A set as (layer, range of unit indices) runs, in unit order."""
        out: list[tuple[str, range]] = []
        for unit in sorted(self.sets[set_id]):
            name, index = self.owner(unit)
            if out and out[-1][0] == name and out[-1][1].stop == index:
                out[-1] = (name, range(out[-1][1].start, index + 1))
            else:
                out.append((name, range(index, index + 1)))
        return out


def keep_along(sets: SourceSets, ids: torch.Tensor, dim: int) -> np.ndarray:
    """Per index of `dim`, the union of the sets over every other dimension."""
    rows = ids.movedim(dim, 0).reshape(ids.shape[dim], -1).numpy()
    if (rows == rows[:, :1]).all():
        return rows[:, 0].copy()
    return sets.row_union(rows)


def reduce_dims(sets: SourceSets, ids: torch.Tensor, dims: Sequence[int], keepdim: bool) -> torch.Tensor:
    """Union over `dims` (as mean/sum/max over them would combine the elements)."""
    dims = sorted({d % ids.ndim for d in dims}) if dims else list(range(ids.ndim))
    kept = [d for d in range(ids.ndim) if d not in dims]
    moved = ids.permute(*kept, *dims)
    rows = moved.reshape(-1, int(np.prod([ids.shape[d] for d in dims]))).numpy()
    out = torch.from_numpy(sets.row_union(rows)).reshape([ids.shape[d] for d in kept])
    for d in dims if keepdim else []:
        out = out.unsqueeze(d)
    return out


def pool_channels(sets: SourceSets, ids: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Pooling or resampling: each output channel (dim 1) has the union of its input channel's positions."""
    per_channel = torch.from_numpy(keep_along(sets, ids, 1))
    view = [1] * len(shape)
    view[1] = len(per_channel)
    return per_channel.reshape(view).expand(shape).contiguous()


def union_broadcast(sets: SourceSets, ids: Sequence[torch.Tensor], shape: torch.Size) -> torch.Tensor:
    """Elementwise arithmetic: each output element has the union of its operands' sets (broadcast)."""
    expanded = [i.expand(shape).reshape(-1) for i in ids]
    if len(expanded) == 1:
        return expanded[0].reshape(shape).clone()
    rows = torch.stack(expanded, dim=1).numpy()
    return torch.from_numpy(sets.row_union(rows)).reshape(shape)


def is_tensor(value: Any) -> bool:
    """Whether a traced value is a tensor (sizes, dtypes and tuples are not)."""
    return isinstance(value, torch.Tensor)


def carries_sources(ids: Any) -> bool:
    """Whether an id value names any unit (an id tensor with a non-empty set, or such a tensor inside a tuple)."""
    if is_tensor(ids):
        return bool(ids.any())
    if isinstance(ids, (tuple, list)):
        return any(carries_sources(i) for i in ids)
    return False


def nulls(value: Any) -> Any:
    """Id tensors with no sources for every tensor in a value (None for non-tensors)."""
    if is_tensor(value):
        return torch.zeros(value.shape, dtype=torch.int64)
    if isinstance(value, torch.Size) or hasattr(value, "_fields"):
        return None  # a shape (shufflenet's channel shuffle, vit's reshape) or a named tuple holds no tensor
    if isinstance(value, (tuple, list)):
        return type(value)(nulls(v) for v in value)
    return None


def spread(unit_ids: np.ndarray, dim: int, shape: torch.Size) -> torch.Tensor:
    """Set ids laid along `dim` of a tensor of `shape` (the same id at every other position)."""
    view = [1] * len(shape)
    view[dim] = len(unit_ids)
    return torch.from_numpy(unit_ids).reshape(view).expand(shape).contiguous()
