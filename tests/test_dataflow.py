"""Weight graphs of any architecture from the torch.fx data flow (docs/METHODS.md C1, "any architecture").

CPU, random weights, small inputs: a hand-checked tiny net, the registry path's graph on registry models, and
torchvision's resnet18 (residuals), mobilenet_v3_small (depthwise, squeeze-excitation), a DenseNet (concatenation),
a transformer encoder layer and the errors for untraceable models and unknown layer names.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from graphstore.errors import GraphstoreError
from graphstore.extract.dataflow import LayerPatternError, UntraceableModel, dataflow_weight_graph, unit_map
from graphstore.extract.weights import weight_graph
from graphstore.graph import Graph
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import make_model
from graphstore.nn.models.base import prunable

torch.set_num_threads(1)


def edges_of(graph: Graph) -> dict[tuple[int, int], tuple[float, float]]:
    """(src, dst) -> (w, abs_w); fails on a duplicate pair."""
    e = graph.edges["WEIGHT"]
    out = {
        (int(s), int(d)): (float(w), float(a))
        for s, d, w, a in zip(e.src, e.dst, e.props["w"], e.props["abs_w"], strict=True)
    }
    assert len(out) == len(e), "duplicate WEIGHT edges"
    return out


def assert_same_edges(ours: dict, ref: dict) -> None:
    """Same (src, dst) pairs with the same (w, abs_w) up to float rounding."""
    assert set(ours) == set(ref)
    pairs = sorted(ref)
    assert np.allclose([ours[p] for p in pairs], [ref[p] for p in pairs], rtol=1e-6, atol=1e-9)


def layer_keys(graph: Graph, name: str) -> np.ndarray:
    nodes = graph.nodes["Neuron"]
    return nodes.keys[nodes.props["layer"] == name]


def edges_between(graph: Graph, src_layer: str, dst_layer: str) -> np.ndarray:
    """Boolean rows of WEIGHT edges from one layer's units to another's."""
    e = graph.edges["WEIGHT"]
    return np.isin(e.src, layer_keys(graph, src_layer)) & np.isin(e.dst, layer_keys(graph, dst_layer))


def graph_and_inputs(model: nn.Module) -> tuple[Graph, dict[str, list]]:
    """The weight graph of a 32x32 RGB net (validated, one node per unit) and each layer's input sources."""
    g = dataflow_weight_graph(model, torch.randn(1, 3, 32, 32))
    g.validate()
    assert g.node_count == 3 + units_of(model)
    layers, _ = unit_map(model, torch.randn(1, 3, 32, 32))
    return g, {layer.name: layer.inputs for layer in layers}


def count_into(graph: Graph, layer: str) -> int:
    return int(np.isin(graph.edges["WEIGHT"].dst, layer_keys(graph, layer)).sum())


def units_of(model: nn.Module) -> int:
    return sum(int(m.weight.shape[0]) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)))


class Tiny(nn.Module):
    """conv a -> conv b, residual b + a, flatten (3 channels x 2 x 2) -> fc; every weight set by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 3, 1, bias=False)
        self.b = nn.Conv2d(3, 3, 1, bias=False)
        self.fc = nn.Linear(12, 2, bias=False)
        with torch.no_grad():
            self.a.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -2.0], [3.0, 4.0]]).reshape(3, 2, 1, 1))
            self.b.weight.copy_(torch.tensor([[0.5, 0, 0], [0, 0, -1.0], [2.0, 0, 0]]).reshape(3, 3, 1, 1))
            fc = torch.zeros(2, 12)
            fc[0, 0:4] = torch.tensor([1.0, -1.0, 2.0, 0.0])  # channel 0: sum 2, l1 4
            fc[0, 8:12] = torch.tensor([0.0, 0.0, 0.0, -3.0])  # channel 2: sum -3, l1 3
            fc[1, 4:8] = 1.0  # channel 1: sum 4, l1 4
            self.fc.weight.copy_(fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        h = torch.relu(self.b(h)) + h
        return self.fc(h.flatten(1))


def test_tiny_model_every_edge_by_hand():
    g = dataflow_weight_graph(Tiny(), torch.randn(2, 2, 2, 2))
    g.validate()
    # keys: inputs 0,1; a 2..4; b 5..7; fc 8,9. The residual makes a's and b's channel c both feed fc's columns
    # of channel c; fc aggregates a channel's 4 positions (sum for w, L1 for abs_w).
    assert edges_of(g) == {
        (0, 2): (1.0, 1.0),
        (1, 3): (-2.0, 2.0),
        (0, 4): (3.0, 3.0),
        (1, 4): (4.0, 4.0),
        (2, 5): (0.5, 0.5),
        (4, 6): (-1.0, 1.0),
        (2, 7): (2.0, 2.0),
        (2, 8): (2.0, 4.0),
        (5, 8): (2.0, 4.0),
        (4, 8): (-3.0, 3.0),
        (7, 8): (-3.0, 3.0),
        (3, 9): (4.0, 4.0),
        (6, 9): (4.0, 4.0),
    }
    nodes = g.nodes["Neuron"]
    assert list(nodes.props["layer"]) == ["input"] * 2 + ["a"] * 3 + ["b"] * 3 + ["fc"] * 2
    assert list(nodes.props["layer_type"]) == ["input"] * 2 + ["conv"] * 6 + ["output"] * 2
    assert list(nodes.props["index"]) == [0, 1, 0, 1, 2, 0, 1, 2, 0, 1]


def test_tiny_model_norms_and_masks():
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 4:8] = False  # fc unit 1 loses all of channel 1: its two edges go
    g = dataflow_weight_graph(Tiny(), torch.randn(2, 2, 2, 2), conv_norm="maxabs", masks={"fc.weight": mask})
    edges = edges_of(g)
    assert (3, 9) not in edges and (6, 9) not in edges
    assert edges[(2, 8)] == (2.0, 2.0) and edges[(7, 8)] == (-3.0, 3.0)
    assert edges_of(dataflow_weight_graph(Tiny(), torch.randn(1, 2, 2, 2), conv_norm="l2"))[(2, 8)][1] == (
        pytest.approx(np.sqrt(6.0))
    )


def test_restricted_layers_connect_only_directly_connected_chosen_layers():
    g = dataflow_weight_graph(Tiny(), torch.randn(2, 2, 2, 2), layers=["a", "f*"])
    assert g.params["unit_layers"] == ["a", "fc"]
    assert g.params["unlinked"] == {"fc": ["b"]}
    edges = edges_of(g)
    # keys: inputs 0,1; a 2..4; fc 5,6: fc keeps only a's edges (b's half of the residual is not in the graph)
    assert {k: v for k, v in edges.items() if k[1] >= 5} == {
        (2, 5): (2.0, 4.0),
        (4, 5): (-3.0, 3.0),
        (3, 6): (4.0, 4.0),
    }


def test_grouped_conv_connects_only_within_groups():
    model = nn.Sequential(nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.Conv2d(6, 6, 1, groups=6))
    g = dataflow_weight_graph(model, torch.randn(1, 4, 5, 5))
    e = edges_of(g)
    # keys: inputs 0..3, conv 0 4..9, depthwise conv 2 10..15
    assert set(e) == {(i, 4 + j) for j in range(6) for i in ((0, 1) if j < 3 else (2, 3))} | {
        (4 + c, 10 + c) for c in range(6)
    }


def test_plain_sequential_matches_the_registry_weight_graph():
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 5))
    with torch.no_grad():
        model[1].weight[0, :7] = 0.0
    mask = torch.rand(5, 16) > 0.3
    g = dataflow_weight_graph(model, torch.randn(2, 3, 4, 4), masks={"4.weight": mask})
    g.validate()
    assert g.node_count == 48 + 16 + 5
    nonzero = int((model[1].weight != 0).sum()) + int(mask.sum())
    assert len(g.edges["WEIGHT"]) == nonzero
    reference = weight_graph("ref", [("1", model[1]), ("4", model[4])], {"4.weight": mask})
    ref = edges_of(reference)
    assert_same_edges(edges_of(g), {k: v for k, v in ref.items() if v[1] > 0})


@pytest.mark.parametrize("name", ["small-cnn", "mlp"])
def test_registry_models_give_the_registry_graph(name):
    torch.manual_seed(0)
    info = DataInfo("toy", (1, 8, 8), ("a", "b", "c"))
    model = make_model(name, info)
    ours = dataflow_weight_graph(model, torch.randn(2, 1, 8, 8), class_names=info.class_names)
    ref = weight_graph("ref", prunable(model).prunable_layers(), None, info.class_names)
    for prop in ("layer", "index", "layer_type", "class_name"):
        assert list(ours.nodes["Neuron"].props[prop]) == list(ref.nodes["Neuron"].props[prop])
    assert_same_edges(edges_of(ours), edges_of(ref))
    assert len(ours.edges["REPRESENTS"]) == 3


def test_resnet18_residuals():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    g, inputs = graph_and_inputs(model)
    # The add's consumer reads both summands: the block's conv2 and the identity (the stem conv via maxpool).
    assert inputs["layer1.1.conv1"][5] == [("conv1", range(5, 6)), ("layer1.0.conv2", range(5, 6))]
    assert inputs["layer2.1.conv1"][7] == [("layer2.0.conv2", range(7, 8)), ("layer2.0.downsample.0", range(7, 8))]
    assert inputs["layer1.0.conv2"][3] == [("layer1.0.conv1", range(3, 4))]
    # Real channel pairs (random weights: every kernel slice is nonzero): Cout x Cin x sources per channel.
    assert count_into(g, "layer1.0.conv2") == 64 * 64
    assert count_into(g, "layer1.1.conv1") == 64 * 64 * 2
    assert count_into(g, "layer2.0.conv1") == 128 * 64 * 3
    assert count_into(g, "layer2.0.downsample.0") == 128 * 64 * 3
    assert count_into(g, "fc") == 10 * 512 * 3
    # A path from the block's input units around the block: stem channel c -> layer1.1.conv1 (identity skip).
    assert edges_between(g, "conv1", "layer1.1.conv1").sum() == 64 * 64
    assert edges_between(g, "conv1", "layer1.0.conv2").sum() == 0


def test_resnet18_layer_globs():
    g = dataflow_weight_graph(torchvision.models.resnet18(num_classes=10), torch.randn(1, 3, 32, 32), ["layer4.*"])
    assert g.params["unit_layers"] == [
        "layer4.0.conv1",
        "layer4.0.conv2",
        "layer4.0.downsample.0",
        "layer4.1.conv1",
        "layer4.1.conv2",
    ]
    assert set(g.params["unlinked"]) == {"layer4.0.conv1", "layer4.0.downsample.0"}


def test_mobilenet_v3_depthwise_and_squeeze_excitation():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(num_classes=10)
    g, inputs = graph_and_inputs(model)
    nodes, e = g.nodes["Neuron"], g.edges["WEIGHT"]
    index = dict(zip(nodes.keys.tolist(), nodes.props["index"].tolist(), strict=True))
    depthwise = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 11
    for name in depthwise:
        into = np.isin(e.dst, layer_keys(g, name))
        assert all(index[int(s)] == index[int(d)] for s, d in zip(e.src[into], e.dst[into], strict=True)), name
        assert into.sum() >= len(layer_keys(g, name))
    # features.1: depthwise (block.0) -> SE (block.1: fc1, fc2) -> gate * x -> project (block.2).
    assert inputs["features.1.block.1.fc1"][4] == [("features.1.block.0.0", range(4, 5))]
    assert inputs["features.1.block.2.0"][4] == [
        ("features.1.block.0.0", range(4, 5)),
        ("features.1.block.1.fc2", range(4, 5)),
    ]
    assert count_into(g, "features.1.block.2.0") == 16 * 16 * 2


def test_densenet_concatenation_offsets():
    torch.manual_seed(0)
    model = torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, bn_size=2)
    g, inputs = graph_and_inputs(model)
    second = inputs["features.denseblock1.denselayer2.conv1"]
    assert len(second) == 16 + 8
    assert second[15] == [("features.conv0", range(15, 16))]
    assert second[16 + 3] == [("features.denseblock1.denselayer1.conv2", range(3, 4))]
    transition = inputs["features.transition1.conv"]
    assert [src[0][0] for src in transition[::8]] == [
        "features.conv0",
        "features.conv0",
        "features.denseblock1.denselayer1.conv2",
        "features.denseblock1.denselayer2.conv2",
    ]
    assert count_into(g, "features.denseblock1.denselayer2.conv1") == 16 * 24


class Encoder(nn.Module):
    """One transformer encoder layer and a head on the first token."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x)[:, 0])


def test_transformer_encoder_layer():
    torch.manual_seed(0)
    model = Encoder()
    g = dataflow_weight_graph(model, torch.randn(2, 5, 16))
    g.validate()
    assert g.params["unit_layers"] == [
        "enc.self_attn.in_proj",
        "enc.self_attn.out_proj",
        "enc.linear1",
        "enc.linear2",
        "head",
    ]
    assert g.node_count == 16 + 48 + 16 + 32 + 16 + 3
    assert count_into(g, "enc.self_attn.in_proj") == 48 * 16
    assert count_into(g, "enc.self_attn.out_proj") == 16 * 16
    assert edges_between(g, "enc.self_attn.in_proj", "enc.self_attn.out_proj").sum() == 16 * 16
    v_units = layer_keys(g, "enc.self_attn.in_proj")[32:]
    assert set(g.edges["WEIGHT"].src[edges_between(g, "enc.self_attn.in_proj", "enc.self_attn.out_proj")]) == set(
        v_units.tolist()
    )
    assert count_into(g, "enc.linear1") == 32 * 16 * 2  # norm1(x + attention): inputs and out_proj
    assert count_into(g, "enc.linear2") == 16 * 32
    assert count_into(g, "head") == 3 * 16 * 3  # norm2(h + ff): linear2, out_proj and the inputs


class Branchy(nn.Module):
    """A unit layer, then data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x)
        return y if y.sum() > 0 else -y


class WithBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 5)
        self.gate = Branchy()
        self.b = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.gate(self.a(x)))


def test_untraceable_module_is_named_with_the_way_out():
    with pytest.raises(UntraceableModel) as caught:
        dataflow_weight_graph(WithBranch(), torch.randn(2, 4))
    assert "gate (Branchy)" in caught.value.message
    assert "layers=" in (caught.value.hint or "")
    g = dataflow_weight_graph(WithBranch(), torch.randn(2, 4), layers=["a", "b"])
    assert g.params["unit_layers"] == ["a", "b"]
    assert g.params["unlinked"] == {"b": ["opaque:gate"]}
    assert count_into(g, "a") == 20 and count_into(g, "b") == 0
    with pytest.raises(UntraceableModel):
        dataflow_weight_graph(WithBranch(), torch.randn(2, 4), layers=["a", "gate.lin"])


def test_activation_product_is_refused_by_name():
    class Bilinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.a(x) @ self.b(x).T

    with pytest.raises(UntraceableModel, match="matmul"):
        dataflow_weight_graph(Bilinear(), torch.randn(4, 4))


def test_bad_layer_pattern_lists_close_names():
    with pytest.raises(LayerPatternError) as caught:
        dataflow_weight_graph(Tiny(), torch.randn(1, 2, 2, 2), layers=["a", "fx"])
    assert isinstance(caught.value, GraphstoreError)
    assert "'fx'" in caught.value.message and "fc" in (caught.value.hint or "")
