"""Networks nobody here wrote: shapes read as values (a channel shuffle), tensors computed from parameters alone (a
relative position bias), an op whose ids cannot follow it (named, not a raw RuntimeError), and a weight graph too
large for the machine refused before it is built (graphstore/extract/dataflow_budget.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.fx
import torchvision
from torch import nn
from torch.nn import functional as F

from graphstore.extract import dataflow
from graphstore.extract.dataflow import UntraceableModel, dataflow_weight_graph, unit_map
from graphstore.extract.dataflow_budget import GraphTooLarge, check_fits, planned_edges

torch.set_num_threads(1)


class Shuffle(nn.Module):
    """conv -> shufflenet's channel shuffle (view by x.size(), transpose, view) -> 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        return self.b(x)


def test_channel_shuffle_moves_each_channel_where_the_data_goes() -> None:
    layers, _ = unit_map(Shuffle(), torch.randn(1, 3, 8, 8))
    b = next(layer for layer in layers if layer.name == "b")
    # view(n, 2, 3) then transpose: column j of b reads channel (j % 2) * 3 + j // 2 of a.
    assert b.inputs == [[("a", range(k, k + 1))] for k in (0, 3, 1, 4, 2, 5)]


def test_shufflenet_v2_weight_graph_has_every_channel_pair() -> None:
    torch.manual_seed(0)
    model = torchvision.models.shufflenet_v2_x0_5(num_classes=10)
    g = dataflow_weight_graph(model, torch.randn(1, 3, 64, 64))
    g.validate()
    planned = sum(planned_edges(*_chosen(model, 64)).values())
    assert g.edge_count == planned  # random weights: no zero kernel, so the plan is the graph


@torch.fx.wrap
def bias_of(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """A leaf function of parameters and buffers only (torchvision's _get_relative_position_bias)."""
    return table[index].sum(0)


class Biased(nn.Module):
    """A linear layer plus a bias table read through an index buffer (swin's relative position bias, in small)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 6), nn.Linear(6, 3)
        self.table = nn.Parameter(torch.randn(5, 6))
        self.register_buffer("index", torch.tensor([4, 0, 2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = bias_of(self.table, self.index)  # parameters and buffers only: no unit feeds it
        return self.fc2(torch.relu(self.fc1(x) + bias))


def test_a_tensor_computed_from_parameters_alone_has_no_sources() -> None:
    g = dataflow_weight_graph(Biased(), torch.randn(1, 4))
    into_fc2 = g.edges["WEIGHT"].dst >= 4 + 6
    assert into_fc2.sum() == 6 * 3  # fc1's units only, nothing from the table
    assert g.params["opaque"] == []


@torch.fx.wrap
def project(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A weight applied outside an nn module, to the channels of an NHWC map (swin's shifted_window_attention)."""
    return F.linear(x, weight)


class Outside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 1), nn.Linear(8, 2)
        self.w = nn.Parameter(torch.randn(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = project(self.conv(x).permute(0, 2, 3, 1), self.w)
        return self.fc(y.mean((1, 2)))


def test_an_op_the_ids_cannot_follow_is_named_with_the_way_out() -> None:
    with pytest.raises(UntraceableModel, match=r"node project\): project was not followed \(RuntimeError") as err:
        dataflow_weight_graph(Outside(), torch.randn(1, 3, 4, 4))
    assert "layers=" in (err.value.hint or "")
    g = dataflow_weight_graph(Outside(), torch.randn(1, 3, 4, 4), ["conv", "fc"])
    assert any(step.startswith("project: project was not followed") for step in g.params["opaque"])


def _chosen(model: nn.Module, size: int, layers: list[str] | None = None):
    """(chosen layers, source sets, kept units) as dataflow_weight_graph plans them (inputs kept)."""
    chosen, flow = dataflow.chosen_units(model, torch.randn(1, 3, size, size), layers)
    kept = np.zeros(flow.sets.offsets[-1], bool)
    for name in ["input", *(layer.name for layer in chosen)]:
        at = flow.sets.names.index(name)
        kept[flow.sets.offsets[at] : flow.sets.offsets[at + 1]] = True
    return chosen, flow.sets, kept


@pytest.mark.parametrize("layers", [None, ["layer4.*"]], ids=["all", "layer4"])
def test_planned_edges_are_the_graph_edges_of_resnet18(layers: list[str] | None) -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    g = dataflow_weight_graph(model, torch.randn(1, 3, 32, 32), layers)
    planned = planned_edges(*_chosen(model, 32, layers))
    assert sum(planned.values()) == g.edge_count
    assert planned.get("layer1.1.conv1", 64 * 64 * 2) == 64 * 64 * 2  # as test_dataflow counts by hand


def test_a_graph_beyond_the_available_memory_is_refused_before_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    model = torchvision.models.resnet18(num_classes=10)
    monkeypatch.setattr(dataflow, "available_bytes", lambda: 2**30)  # 1 GiB: resnet18's 2.4M edges need about 0.2
    dataflow_weight_graph(model, torch.randn(1, 3, 32, 32))
    monkeypatch.setattr(dataflow, "available_bytes", lambda: 2**20)
    with pytest.raises(GraphTooLarge, match=r"would hold 2,444,480 edges") as err:
        dataflow_weight_graph(model, torch.randn(1, 3, 32, 32))
    assert "Largest layers: layer4.1.conv1" in err.value.message
    assert "layers=['layer4.*']" in (err.value.hint or "") and "--layers 'layer4.*'" in (err.value.hint or "")


def test_check_fits_without_a_memory_figure_builds() -> None:
    check_fits({"a": 10**12}, None)
    with pytest.raises(GraphTooLarge, match="a 1,000,000,000,000"):
        check_fits({"a": 10**12}, 2**40)


def tiny_swin() -> nn.Module:
    """torchvision's Swin Transformer at 16 x 16, embed 8, one block per stage, 2 x 2 windows."""
    torch.manual_seed(0)
    return torchvision.models.SwinTransformer(
        patch_size=[4, 4], embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=[2, 2], num_classes=3
    ).eval()


def test_swin_window_attention_reads_like_multi_head_attention() -> None:
    layers, _ = unit_map(tiny_swin(), torch.randn(1, 3, 16, 16))
    by = {layer.name: layer for layer in layers}
    qkv, proj = by["features.1.0.attn.qkv"], by["features.1.0.attn.proj"]
    assert (qkv.units, proj.units) == (24, 8)
    assert qkv.inputs == [[("features.0.0", range(c, c + 1))] for c in range(8)]  # the stream after the stem
    assert proj.inputs == [[("features.1.0.attn.qkv", range(16 + c, 17 + c))] for c in range(8)]  # v units only
    # The residual add: the MLP reads the stream and the attention's projection, channel by channel.
    assert by["features.1.0.mlp.0"].inputs[5] == [
        ("features.0.0", range(5, 6)),
        ("features.1.0.attn.proj", range(5, 6)),
    ]
    # Patch merging concatenates four 2 x 2 neighbours: 32 columns, channel c of the stream at column c, 8 + c, ...
    merged = by["features.2.reduction"].inputs
    assert len(merged) == 32 and merged[3] == merged[11] == merged[19] == merged[27]
    assert merged[3] == [
        ("features.0.0", range(3, 4)),
        ("features.1.0.attn.proj", range(3, 4)),
        ("features.1.0.mlp.3", range(3, 4)),
    ]


def test_swin_graphs_weights_and_coactivation() -> None:
    from torch.utils.data import TensorDataset

    import graphstore as gs

    model = tiny_swin()
    data = TensorDataset(torch.randn(32, 3, 16, 16), torch.randint(0, 3, (32,)))
    g = gs.extract(model, data, "weights")
    g.validate()
    assert g.edge_count == sum(planned_edges(*_chosen(model, 16)).values())
    c = gs.extract(model, data, "coactivation")
    assert c.params["skipped"] == [f"features.{s}.0.attn.{p}" for s in (1, 3) for p in ("qkv", "proj")]
    assert c.node_count == g.node_count - 3 - 24 - 8 - 48 - 16  # no inputs, no projection computed in the call
