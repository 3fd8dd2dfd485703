"""The (input, label) batches that graphstore.extract.hooks records from: checked, with errors naming what came in.

`data` is a torch Dataset (batched here, in order) or a DataLoader, yielding (input, label) pairs. Its number of
samples is known before the first batch (len of the dataset or of the loader's sampler), so the recordings can be
allocated once; a stream without a length needs `limit`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from graphstore.errors import GraphstoreError
from graphstore.extract.dataflow_trace import CONV, UNIT_MODULES


class DataError(GraphstoreError):
    """The data does not give (input, label) batches the model can run on."""


def describe(value: Any) -> str:
    """A short description of what a loader yielded (type and shapes, never the values)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} ({', '.join(describe(v) for v in value[:3])})"
    if isinstance(value, dict):
        return f"a dict with keys {', '.join(map(str, list(value)[:5]))}"
    return f"a {type(value).__name__}"


def batches_of(data: Any, batch_size: int, limit: int | None) -> tuple[Iterable[Any], int]:
    """The batches of `data` and how many samples to record (its size, capped by limit)."""
    if isinstance(data, DataLoader):
        loader: DataLoader[Any] = data
        sized: Any = data.sampler if data.batch_size is not None else data.dataset
    elif isinstance(data, Dataset):
        loader, sized = DataLoader(data, batch_size=batch_size, shuffle=False), data
    else:
        raise DataError(
            f"data is {describe(data)}; expected a torch Dataset or DataLoader yielding (input, label) pairs.",
            "Wrap tensors as torch.utils.data.TensorDataset(inputs, labels).",
        )
    try:
        size = len(sized)
    except TypeError:
        if not limit:
            raise DataError(
                "The data has no length, so the recordings cannot be allocated up front.", "Pass limit=N."
            ) from None
        size = limit
    return loader, min(size, limit) if limit else size


def split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of one batch; a batch without one label per input is refused by what it holds."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise DataError(
            f"The data yields {describe(batch)} per batch: no labels.",
            "Give (input, label) pairs, e.g. TensorDataset(inputs, labels) or a Dataset returning (x, y).",
        )
    x, y = batch[0], batch[1]
    if not isinstance(x, torch.Tensor):
        raise DataError(f"The inputs are {describe(x)}; expected a tensor (batch first).", "Convert them to tensors.")
    y = torch.as_tensor(y)
    if y.numel() != len(x) or (y.ndim > 1 and y.shape[0] != len(x)):
        raise DataError(
            f"The labels are {describe(y)} for {len(x)} inputs; expected one integer label per input.",
            "Give class indices of shape (batch,).",
        )
    return x, y.reshape(-1).long()


def first_batch(loader: Iterable[Any]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Checked (inputs, labels) batches; a loader that fails to collate its first batch is named."""
    iterator = iter(loader)
    try:
        batch = next(iterator)
    except StopIteration:
        raise DataError("The data is empty.", "Give at least 3 samples.") from None
    except (TypeError, RuntimeError) as exc:
        raise DataError(f"The data cannot be batched: {exc}".splitlines()[0], "Make it yield tensors.") from exc
    yield split_batch(batch)
    for batch in iterator:
        yield split_batch(batch)


def expected_input(model: nn.Module) -> str:
    """What the model's first unit layer (in module order) reads, for error messages."""
    name, first = next(((n, m) for n, m in model.named_modules() if isinstance(m, UNIT_MODULES)), ("", None))
    if isinstance(first, CONV):
        spatial = ("L", "H, W", "D, H, W")[len(first.kernel_size) - 1]
        return f"(batch, {first.in_channels}, {spatial}) for its first layer {name} ({type(first).__name__})"
    if isinstance(first, nn.Linear):
        return f"{first.in_features} values per sample (last dimension or flattened) for its first layer {name}"
    return "the shape its forward accepts"


def run_checked(model: nn.Module, x: torch.Tensor) -> Any:
    """model(x), a failure on the input's shape reported as a DataError naming received and expected shapes."""
    try:
        return model(x)
    except GraphstoreError:
        raise
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise DataError(
            f"The model cannot run on inputs of {tuple(x.shape[1:])} per sample: {why}",
            f"The model expects {expected_input(model)}, batch first.",
        ) from exc


def close_modules(model: nn.Module, name: str) -> str:
    """A hint listing module names close to `name`."""
    names = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    return f"Close names: {', '.join(close)}." if close else f"Modules: {', '.join(names[:12])}."


def unit_count(module: nn.Module) -> int:
    """Output features or channels of a Linear or Conv."""
    return int(cast(torch.Tensor, module.weight).shape[0])
