"""torch.distributed for training: the process group, sharded training batches, sums over ranks, launching.

A run started by torchrun (WORLD_SIZE > 1 in the environment) joins one process group (gloo on CPU, nccl on
GPU; one GPU per local rank). Each epoch every rank draws the permutation a single process draws (the same
seeded generator), and a DistributedSampler over it gives rank r every W-th sample, so with the per-rank batch =
global batch / W the ranks' k-th batches together are exactly the single process's k-th batch, every epoch.
Evaluation is sharded too (rank r takes batches r, r+W, ...) and its sums are all-reduced, so every rank sees the
same metrics and takes the same early-stopping decisions. Decisions that change the model (pruning masks) are
taken on rank 0 and broadcast (`from_lead`); batch norms normalise with the global batch's statistics
(`data_parallel`). Outside torchrun everything here is a no-op.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_autograd
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset

from graphstore.errors import GraphstoreError
from graphstore.nn.datasets.base import Batch, DeviceLoader, LoadedDataset, StreamSource, TensorBatches, TensorSource
from graphstore.nn.errors import InvalidParams

T = TypeVar("T")


class DistributedTrainingFailed(GraphstoreError):
    """A torchrun launch of local training processes exited with an error."""


def launched() -> bool:
    """Whether this process was started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group of more than one rank is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Number of ranks (1 outside a process group)."""
    return dist.get_world_size() if active() else 1


def setup(device: str) -> None:
    """Join torchrun's process group once (nccl for a cuda device, else gloo); a no-op outside torchrun."""
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")


def shutdown() -> None:
    """Leave the process group (if one is up)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under a process group, cuda means this rank's GPU (LOCAL_RANK)."""
    if active() and device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def per_rank_batch(batch_size: int) -> int:
    """The global batch split over the ranks; it must divide evenly so the step matches a single process."""
    world = world_size()
    if batch_size % world:
        raise InvalidParams(
            f"--batch-size {batch_size} does not split over {world} processes.",
            f"The batch size is the global batch: use a multiple of {world}.",
        )
    return batch_size // world


def sum_over_ranks(values: Sequence[torch.Tensor | float], device: torch.device) -> list[float]:
    """Sum scalars over all ranks in one collective (identity outside a process group)."""
    stacked = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device).reshape(()) for v in values])
    if active():
        dist.all_reduce(stacked)
    return [float(v) for v in stacked.tolist()]


def broadcast(value: Any) -> Any:
    """Rank 0's value on every rank (identity outside a process group)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def from_lead(compute: Callable[[], T]) -> T:
    """`compute()` on rank 0 alone, its result broadcast to every rank (a decision all ranks must share, such as
    pruning masks); outside a process group simply `compute()`."""
    if not active():
        return compute()
    return cast(T, broadcast(compute() if rank() == 0 else None))


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0's checkpoints are on disk); a no-op outside a group."""
    if active():
        dist.barrier()


@contextmanager
def lead_first() -> Iterator[bool]:
    """Rank 0 runs the block first (e.g. to download and cache data), the others after it; yields 'is rank 0'."""
    lead = rank() == 0
    if not lead:
        dist.barrier()
    yield lead
    if lead and active():
        dist.barrier()


class ShardedBatches:
    """This rank's share of a split's batches: each epoch the single-process permutation (drawn from `generator`,
    identical on every rank), sharded by a DistributedSampler (rank r takes positions r, r+W, ...)."""

    def __init__(
        self, data: LoadedDataset, split: str, batch_size: int, device: torch.device, generator: torch.Generator
    ) -> None:
        self.source, self.batch_size, self.device, self.generator = data.splits[split], batch_size, device, generator
        sized = cast(Any, range(len(self.source)))
        self.sampler: DistributedSampler = DistributedSampler(
            sized, num_replicas=world_size(), rank=rank(), shuffle=False
        )

    def __len__(self) -> int:
        return -(-self.sampler.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = torch.randperm(len(self.source), generator=self.generator)
        indices = order[list(self.sampler)].tolist()
        source = self.source
        if isinstance(source, TensorSource):
            x, y = source.on(self.device)
            idx = torch.tensor(indices, device=x.device)
            norm = source.normalizer.params(self.device, x.ndim) if source.normalizer else None
            yield from TensorBatches(x.index_select(0, idx), y.index_select(0, idx), self.batch_size, False, None, norm)
            return
        if not isinstance(source, StreamSource):
            raise TypeError(f"cannot shard a {type(source).__name__}")
        subset = Subset(source.dataset, [int(source.indices[i]) for i in indices])
        loader = DataLoader(subset, batch_size=self.batch_size, shuffle=False, pin_memory=self.device.type == "cuda")
        yield from DeviceLoader(loader, self.device)


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` wrapped in DistributedDataParallel, its batch norms normalising with the global batch's statistics.

    Without the latter each rank would normalise with its own shard's mean and variance (and DDP would keep rank
    0's running statistics), so a BN model would not match a single process with the same global batch. torch's
    SyncBatchNorm runs on GPUs only (and replaces the modules); here each BatchNorm's forward is replaced on the
    instance (the module, its type and its state_dict stay as they are) by `global_batch_norm`, which is plain
    batch norm outside a process group or in eval mode, so the model behaves as before once training ends.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and "forward" not in vars(module):
            module.forward = functools.partial(global_batch_norm, module)  # type: ignore[method-assign]
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def global_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Training-mode batch norm over the union of all ranks' batches (two differentiable all-reduces: the sums
    for the mean, then the centred squares for the biased variance), updating the running statistics as
    torch's BatchNorm does; plain `bn` outside a process group, in eval mode or without batch statistics."""
    if not (active() and bn.training and bn.track_running_stats and bn.running_mean is not None):
        return type(bn).forward(bn, x)
    dims, shape = [0, *range(2, x.dim())], [1, -1, *([1] * (x.dim() - 2))]
    count = torch.tensor([float(x.numel() // x.shape[1])], dtype=x.dtype, device=x.device)
    sums = dist_autograd.all_reduce(torch.cat([x.sum(dims), count]))
    n = sums[-1].detach()
    mean = sums[:-1] / n
    centred = x - mean.reshape(shape)
    var = dist_autograd.all_reduce((centred * centred).sum(dims)) / n
    with torch.no_grad():
        tracked = cast(torch.Tensor, bn.num_batches_tracked)
        tracked.add_(1)
        factor = bn.momentum if bn.momentum is not None else 1.0 / float(tracked)
        bn.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
        running_var = cast(torch.Tensor, bn.running_var)
        running_var.mul_(1 - factor).add_(var.detach() * n / max(float(n) - 1, 1.0), alpha=factor)
    out = centred * torch.rsqrt(var + bn.eps).reshape(shape)
    if bn.affine:
        out = out * bn.weight.reshape(shape) + bn.bias.reshape(shape)
    return out


def free_port() -> int:
    """A free TCP port on the loopback interface (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun_command(nproc: int, module: str, args: Sequence[str], port: int | None = None) -> list[str]:
    """`python -m torch.distributed.run` with `nproc` local processes on loopback, running `python -m module`."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port if port is not None else free_port()),
        "-m",
        module,
        *args,
    ]
