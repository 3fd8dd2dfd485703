"""The forward pass with hooks (docs/METHODS.md C1b): under inference mode, and its conv channel means (one mean
over the flattened positions) equal torch's mean over the spatial axes bit for bit, down to 1 x 1 maps."""

from __future__ import annotations

import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.data import TensorDataset

from graphstore.extract.activations import _reduce
from graphstore.extract.hooks import record_units


def test_channel_means_equal_the_spatial_mean_bitwise_down_to_one_position():
    """resnet18 on 16 x 16 inputs: maps of 8 x 8 down to 1 x 1 (layer4); every conv channel recorded with
    where="pre" equals out.mean(dim=(2, 3)) of that module's output, read by a hook of our own."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=4).eval()
    x = torch.randn(6, 3, 16, 16)
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            outputs[name] = out.detach().mean(dim=(2, 3))

        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    rec = record_units(
        model, TensorDataset(x, torch.zeros(6, dtype=torch.long)), ["*conv*", "*downsample.0"], where="pre"
    )
    assert outputs["layer4.1.conv2"].shape == (6, 512) and len(rec.layers) == len(outputs) == 20
    for name in rec.layers:
        assert np.array_equal(rec.of(name), outputs[name].numpy()), name


def test_registry_reduction_equals_the_spatial_mean_bitwise():
    out = torch.relu(torch.randn(5, 7, 3, 4))
    assert torch.equal(_reduce(out), out.mean(dim=(2, 3)))
    assert torch.equal(_reduce(out[:, :, :1, :1]), out[:, :, :1, :1].mean(dim=(2, 3)))


class Probe(nn.Module):
    """A Linear that records whether it ran under inference mode and with grad off."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.modes: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.fx.Proxy):  # the symbolic trace that maps the layers runs no tensors
            self.modes.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        return self.fc(x)


def test_recording_runs_under_inference_mode_and_restores_training():
    model = Probe().train()
    rec = record_units(model, TensorDataset(torch.randn(5, 3), torch.zeros(5, dtype=torch.long)), batch_size=2)
    assert rec.values.shape == (5, 2)
    assert model.modes and all(m == (True, False) for m in model.modes)
    assert model.training and torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
