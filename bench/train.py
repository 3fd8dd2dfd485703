"""Training time of graphstore's training loop vs a minimal hand-written PyTorch loop (same model, data, batches).

    python -m bench.train [--reps 3] [--quick]

Cases: small-cnn on digits (16x16), and conv6 on a 28x28 set (scikit-learn's digits upsampled to 28x28, the
offline stand-in for Fashion-MNIST; 512 training images). Both loops use Adam, batch 64, no schedule, no
validation split and no checkpoints, and both end with the test split's accuracy (graphstore's train reports it
after the last epoch), so the difference is the project's own overhead (target <= 10%). Both are
timed by the same outside clock: perf_counter around the whole call (optimiser set-up and every epoch), with the
model built before the clock starts; the calls alternate (hand, ours, hand, ours, ...) so load drifts hit both.
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F

from bench.common import load, machine, record, timed
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import load_dataset
from graphstore.nn.models import make_model
from graphstore.nn.train import train

BATCH = 64


def hand_loop(model: torch.nn.Module, data, epochs: int) -> None:
    """`epochs` epochs of the textbook loop."""
    x, y = data.tensors("train")
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH):
            idx = perm[i : i + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    test_accuracy(model, data)


def test_accuracy(model: torch.nn.Module, data) -> float:
    """Accuracy on the test split, as graphstore's train reports after its last epoch (the same work)."""
    x, y = data.tensors("test")
    model.eval()
    with torch.no_grad():
        right = sum(int((model(x[i : i + 256]).argmax(1) == y[i : i + 256]).sum()) for i in range(0, len(x), 256))
    return right / max(len(x), 1)


def project_loop(model: torch.nn.Module, data, epochs: int) -> None:
    """`epochs` epochs of graphstore.nn.train (no progress callback, no checkpoints)."""
    config = TrainConfig(epochs=epochs, batch_size=BATCH, schedule="none", checkpoint_epochs=())
    train(model, data, config)


def clocked(loop, model_name: str, data, epochs: int) -> float:
    """Seconds of one call of `loop` on a fresh seeded model, by perf_counter around the call."""
    torch.manual_seed(0)
    model = make_model(model_name, data.info)
    return timed(lambda: loop(model, data, epochs))[1]


def case(model_name: str, data, epochs: int, reps: int, quick: bool) -> None:
    """Warm both loops, then alternate timed calls; print and record the medians."""
    before = load()
    clocked(hand_loop, model_name, data, 1)
    clocked(project_loop, model_name, data, 1)  # warm-up both (first optimiser step imports torch._dynamo)
    hand, ours = [], []
    for _ in range(reps):
        hand.append(clocked(hand_loop, model_name, data, epochs))
        ours.append(clocked(project_loop, model_name, data, epochs))
    h, o = statistics.median(hand), statistics.median(ours)
    print(
        f"{model_name}: hand-written {h / epochs:.3f} s/epoch, graphstore {o / epochs:.3f} s/epoch, "
        f"overhead {100 * (o / h - 1):+.1f}% (median of {reps}; best of each "
        f"{100 * (min(ours) / min(hand) - 1):+.1f}%; hand {[round(t, 3) for t in hand]}, "
        f"ours {[round(t, 3) for t in ours]}), load {before} -> {load()}"
    )
    record(
        f"train.{model_name}",
        {"seconds_per_epoch": round(o / epochs, 4), "runs_s": [round(t, 4) for t in ours]},
        {"hand_loop_seconds_per_epoch": round(h / epochs, 4), "runs_s": [round(t, 4) for t in hand]},
        None,
        {"ours_over_hand_loop": round(o / h, 3), "best_ours_over_best_hand": round(min(ours) / min(hand), 3)},
        before,
        size={"epochs": epochs, "reps": reps, "train_images": len(data.tensors("train")[0])}
        | {"torch_threads": torch.get_num_threads()},
        quick=quick,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small-cnn, 128 images, once")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default); 1 is steadier on a shared machine"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    limit = 128 if args.quick else 0  # 0: every image
    reps = 1 if args.quick else args.reps
    print(f"machine: {machine()}, torch threads {torch.get_num_threads()}")
    small = load_dataset("digits", size=16, val_fraction=0.0, limit=limit)
    case("small-cnn", small, epochs=1 if args.quick else 3, reps=reps, quick=args.quick)
    if not args.quick:  # quick: one case runs the same code
        conv = load_dataset("digits", size=28, val_fraction=0.0, limit=512)
        case("conv6", conv, epochs=1, reps=reps, quick=args.quick)


if __name__ == "__main__":
    main()
