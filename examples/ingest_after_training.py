"""Train a small MLP on scikit-learn's digits in a plain PyTorch loop, then hand it to graphstore in three lines.

    python examples/ingest_after_training.py [PREFIX]

Graphs go where graphstore's settings say (GRAPHSTORE_GRAPH_STORE, GRAPHSTORE_DATABASE_URL, a config file); with
none, into an embedded store and SQLite under a fresh temporary folder (printed), never your own data folder.
"""

from __future__ import annotations

import os
import sys
import tempfile

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


def digits() -> tuple[TensorDataset, TensorDataset]:
    """Digits as (64 features in [0, 1], label) pairs, split 80/20 with a fixed seed."""
    bunch = load_digits()
    data = TensorDataset(torch.tensor(bunch.data, dtype=torch.float32) / 16, torch.tensor(bunch.target))
    train, test = random_split(data, [0.8, 0.2], generator=torch.Generator().manual_seed(0))
    return train, test  # type: ignore[return-value]


def train(model: nn.Module, data: TensorDataset, epochs: int = 10) -> None:
    """Your own training loop: nothing of graphstore in it."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for x, y in DataLoader(data, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimiser.step()


def main(prefix: str = "digits-mlp") -> None:
    if not any(os.environ.get(v) for v in ("GRAPHSTORE_DATA_DIR", "GRAPHSTORE_GRAPH_STORE", "GRAPHSTORE_CONFIG")):
        os.environ["GRAPHSTORE_DATA_DIR"] = tempfile.mkdtemp(prefix="graphstore-example-")
        print(f"storing under {os.environ['GRAPHSTORE_DATA_DIR']}")
    torch.manual_seed(0)
    train_data, test_data = digits()
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))
    train(model, train_data)
    x, y = next(iter(DataLoader(test_data, batch_size=len(test_data))))
    print(f"test accuracy {(model(x).argmax(1) == y).float().mean():.3f}")

    import graphstore as gs

    infos = gs.ingest(model, test_data, kinds=("weights", "coactivation", "knn"), prefix=prefix, replace=True)

    for info in infos:
        print(f"{info.graph_id}: {info.node_count} nodes, {info.edge_count} edges (run {info.run_id})")


if __name__ == "__main__":
    main(*sys.argv[1:2])
