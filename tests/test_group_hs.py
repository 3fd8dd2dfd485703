"""Group Hoyer-square regulariser: hand-computed values, conv groups, scale invariance, finite gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from graphstore.pruning.group_hs import group_hs, group_hs_penalty


def test_group_hs_of_a_2x2_linear_weight_by_hand() -> None:
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # input groups are columns: ||(1,3)|| = sqrt(10), ||(2,4)|| = sqrt(20); output groups are rows:
    # ||(1,2)|| = sqrt(5), ||(3,4)|| = 5; ||W||_F^2 = 1 + 4 + 9 + 16 = 30.
    # (sqrt10 + sqrt20)^2 = 30 + 2 sqrt200 = 30 + 20 sqrt2; (sqrt5 + 5)^2 = 30 + 10 sqrt5.
    expected = (60 + 20 * math.sqrt(2) + 10 * math.sqrt(5)) / 30
    assert float(group_hs(w)) == pytest.approx(expected, rel=1e-6)
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(w)
    assert float(group_hs_penalty([("fc", layer)], 0.5).detach()) == pytest.approx(0.5 * expected, rel=1e-6)
    assert float(group_hs_penalty([("fc", layer)], 0.0)) == 0.0


def test_conv_groups_are_channels_and_value_is_scale_invariant() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 2, 3, 3)
    ins = sum(float(w[:, i].norm()) for i in range(2))
    outs = sum(float(w[o].norm()) for o in range(3))
    expected = (ins**2 + outs**2) / float(w.pow(2).sum())
    assert float(group_hs(w)) == pytest.approx(expected, rel=1e-5)
    assert float(group_hs(7.0 * w)) == pytest.approx(expected, rel=1e-5)


def test_a_single_nonzero_group_is_the_minimum_and_zero_groups_have_finite_gradients() -> None:
    w = torch.zeros(4, 4)
    w[0, 0] = 3.0
    w.requires_grad_(True)
    value = group_hs(w)
    value.backward()
    assert float(value.detach()) == pytest.approx(2.0)  # one input group and one output group: (|w|^2 + |w|^2) / |w|^2
    assert torch.isfinite(w.grad).all()
