"""`resnet18`: torchvision's ResNet-18 with the dataset's channels and classes; a small-input stem by default.

hidden_neurons() counts every conv's channels, 1x1 downsample convs included (4,800 with the default stem).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import MODELS, ModelEntry
from graphstore.nn.models.base import PrunableMixin, require_image

PARTS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")


@dataclass(frozen=True)
class Resnet18:
    """torchvision ResNet-18; small_input uses a 3x3 stride-1 stem without max-pool (CIFAR-style)."""

    small_input: bool = field(
        default=True,
        metadata={"help": "3x3 stride-1 stem, no max-pool (for ~32x32 images); false = ImageNet stem (7x7/2, pool)."},
    )


class ResNet18Net(PrunableMixin, nn.Module):
    """The torchvision modules under their usual names (conv1, layer1.0.conv1, ..., fc)."""

    conv1: nn.Module
    bn1: nn.Module
    relu: nn.Module
    maxpool: nn.Module
    layer1: nn.Module
    layer2: nn.Module
    layer3: nn.Module
    layer4: nn.Module
    avgpool: nn.Module
    fc: nn.Module

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        for name in PARTS:
            setattr(self, name, getattr(net, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, four stages, global average pool, fc."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(params: Resnet18, info: DataInfo) -> ResNet18Net:
    """Needs at least 8x8 images (small stem) or 32x32 (ImageNet stem)."""
    from torchvision.models import resnet18  # deferred: torchvision is slow to import and only this path needs it

    c, _, _ = require_image(info, "resnet18", pools=3 if params.small_input else 5)
    net = resnet18(weights=None, num_classes=info.num_classes)
    if params.small_input:
        net.conv1 = nn.Conv2d(c, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif c != 3:
        net.conv1 = nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False)
    return ResNet18Net(net)


MODELS.register(ModelEntry("resnet18", Resnet18, build))
