"""Prune your own network with your own training loop: IMP (lottery tickets) through gs.prune, then save the masks
and reapply them to a fresh copy.

    python examples/prune_your_model.py [ROUNDS]

An MLP on scikit-learn's digits; `train_fn(model) -> metrics` is an ordinary PyTorch loop with nothing of graphstore
in it. Each round drops half of the surviving Linear weights by |w|, rewinds the survivors to the initial weights
(theta_0) and retrains; the masks stay applied throughout. Nothing is stored but the mask file, in a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn

import graphstore as gs


def digits() -> tuple[torch.Tensor, ...]:
    """Digits as 64 features in [0, 1]: (train x, train y, test x, test y), split 80/20 with a fixed seed."""
    bunch = load_digits()
    x, y = torch.tensor(bunch.data, dtype=torch.float32) / 16, torch.tensor(bunch.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(y))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def make_model() -> nn.Module:
    """The network: any torch.nn.Module would do."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def main(rounds: int) -> None:
    x, y, test_x, test_y = digits()

    def train_fn(model: nn.Module) -> dict[str, float]:
        """Your own training loop; what it returns is recorded with the round."""
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(40):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        with torch.no_grad():
            return {"test_acc": float((model(test_x).argmax(1) == test_y).float().mean())}

    model = make_model()
    result = gs.prune.imp(model, train_fn, rounds=rounds, rate=0.5)  # round 0 trains the dense model
    for r in result.rounds:
        expected = gs.prune.expected_sparsity(0.5, r.round)
        acc = r.metrics["test_acc"]
        print(f"round {r.round}: sparsity {r.sparsity:.2%} (expected {expected:.2%}), test acc {acc:.3f}")

    with tempfile.TemporaryDirectory(prefix="graphstore-prune-") as tmp:
        path = gs.prune.save_masks(result.masks, Path(tmp) / "masks.pt")  # + masks.pt.sha256
        ticket = make_model()  # a fresh copy at theta_0 (same seed); with the masks, the "winning ticket"
        masks = gs.prune.apply_masks(ticket, path)  # checks the digest, the names and the shapes
        expected = {k: v * masks[k] if k in masks else v for k, v in result.theta0.items()}
        same = all(torch.equal(v, expected[k]) for k, v in ticket.state_dict().items())
        kept = sum(int(m.sum()) for m in masks.values())
        print(f"masks reapplied from {path.name}: {kept} weights kept, the ticket is theta_0 masked: {same}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
