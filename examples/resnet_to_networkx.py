"""A torchvision ResNet-18 (random weights, tiny inputs) as graphs, analysed in networkx: no store, no training.

python examples/resnet_to_networkx.py
"""

from __future__ import annotations

from collections import Counter

import torch
import torchvision
from torch.utils.data import TensorDataset

import graphstore as gs


def main() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4)
    data = TensorDataset(torch.randn(16, 3, 32, 32), torch.arange(16) % 4)  # 16 images of 32x32, 4 classes

    layers = ["conv1", "layer1.*.conv*"]  # module names or globs; the same layers give the same node keys
    weights = gs.extract(model, data, "weights", layers=layers)  # channels, following the residual data flow
    coactivation = gs.extract(model, data, "coactivation", layers=layers, threshold=0.5)

    for graph in (weights, coactivation):
        g = graph.to_networkx()
        degrees = [d for _, d in g.degree()]
        per_layer = Counter(layer for _, layer in g.nodes(data="layer"))
        print(f"{graph.kind}: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges")
        print(f"  degree min {min(degrees)}, mean {sum(degrees) / len(degrees):.1f}, max {max(degrees)}")
        print(f"  nodes per layer: {dict(list(per_layer.items())[:6])} ...")


if __name__ == "__main__":
    main()
