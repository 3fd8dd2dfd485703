"""Epoch time of graphstore's training loop vs a minimal hand-written PyTorch loop (same model, data, batches).

    python -m bench.train [--reps 3]

Cases: small-cnn on digits (16x16), and conv6 on a 28x28 set (scikit-learn's digits upsampled to 28x28, the
offline stand-in for Fashion-MNIST; 512 training images). Both loops use Adam, batch 64, no schedule, no
validation split and no checkpoints, so the difference is the project's own overhead (target <= 10%).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from bench.common import machine
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import load_dataset
from graphstore.nn.models import make_model
from graphstore.nn.train import train

BATCH = 64


def hand_loop(model_name: str, data, epochs: int) -> float:
    """Seconds for `epochs` epochs of the textbook loop."""
    torch.manual_seed(0)
    model = make_model(model_name, data.info)
    x, y = data.tensors("train")
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH):
            idx = perm[i : i + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return time.perf_counter() - start


def project_loop(model_name: str, data, epochs: int) -> float:
    """Seconds of graphstore.nn.train's epochs (its own per-epoch timing, progress bar on)."""
    torch.manual_seed(0)
    model = make_model(model_name, data.info)
    config = TrainConfig(epochs=epochs, batch_size=BATCH, schedule="none", checkpoint_epochs=())
    result = train(model, data, config, progress=True)
    return sum(h["seconds"] for h in result.history)


def case(model_name: str, data, epochs: int, reps: int) -> None:
    hand_loop(model_name, data, 1)
    project_loop(model_name, data, 1)  # warm-up both (first optimiser step imports torch._dynamo)
    hand = [hand_loop(model_name, data, epochs) for _ in range(reps)]
    ours = [project_loop(model_name, data, epochs) for _ in range(reps)]
    h, o = statistics.median(hand), statistics.median(ours)
    print(
        f"{model_name}: hand-written {h / epochs:.3f} s/epoch, graphstore {o / epochs:.3f} s/epoch, "
        f"overhead {100 * (o / h - 1):+.1f}% (median of {reps})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}")
    case("small-cnn", load_dataset("digits", size=16, val_fraction=0.0), epochs=3, reps=args.reps)
    case("conv6", load_dataset("digits", size=28, val_fraction=0.0, limit=512), epochs=1, reps=args.reps)


if __name__ == "__main__":
    main()
