"""Activations of any model through forward hooks (docs/METHODS.md C1b): values by hand, the registry path's values
and graphs on the registry mlp, torchvision resnet18 and mobilenet_v3_small, a transformer encoder layer, keys
shared with the data-flow weight graph, and the errors for bad data and bad names.

CPU, random weights, a handful of samples.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from graphstore.errors import GraphstoreError
from graphstore.extract.activations import latents, record, select_layers
from graphstore.extract.coactivation import CoactivationParams, coactivation_graph
from graphstore.extract.dataflow import LayerPatternError, dataflow_weight_graph
from graphstore.extract.hooks import UnitRecording, coactivation_graph_of, knn_graph_of, record_units
from graphstore.extract.hooks_data import DataError
from graphstore.extract.hooks_taps import HookError
from graphstore.extract.knn import KnnParams, knn_graphs
from graphstore.nn.datasets import load_dataset
from graphstore.nn.models import make_model
from tests.test_dataflow import Encoder

torch.set_num_threads(1)


def images(n: int = 8, size: int = 32) -> TensorDataset:
    """n random RGB images with labels 0..2."""
    gen = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 3, size, size, generator=gen), torch.arange(n) % 3)


def assert_keys_match_weight_graph(model: nn.Module, x: torch.Tensor, rec: UnitRecording) -> None:
    """The recorded units' keys, layers and indices are those of the weight graph for the same layers."""
    g = dataflow_weight_graph(model, x, rec.layers)
    nodes = g.nodes["Neuron"]
    hidden = nodes.props["layer"] != "input"
    assert np.array_equal(nodes.keys[hidden], rec.unit_keys)
    layout = rec.layout
    rows = layout.layer_type != "input"
    assert list(nodes.props["layer"][hidden]) == list(layout.layer[rows])
    assert list(nodes.props["index"][hidden]) == list(layout.index[rows])
    assert rec.values.shape[1] == len(rec.unit_keys) == sum(rec.of(n).shape[1] for n in rec.layers)


class TinyConv(nn.Module):
    """A 2x2 conv with hand-set kernels (+1s and -1s), a ReLU, and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 2, bias=False)
        self.act = nn.ReLU()
        self.head = nn.Linear(8, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.stack([torch.ones(1, 2, 2), -torch.ones(1, 2, 2)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv(x)).flatten(1))


def test_conv_channels_are_averaged_over_positions_by_hand():
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    data = TensorDataset(torch.cat([x, 2 * x, -x]), torch.tensor([0, 1, 0]))
    # windows of 0..8 sum to 8, 12, 20, 24: mean 16 for the +1 kernel, -16 for the -1 kernel; the ReLU zeroes < 0
    pre = record_units(TinyConv(), data, ["conv"], where="pre")
    assert pre.values.tolist() == [[16.0, -16.0], [32.0, -32.0], [-16.0, 16.0]]
    post = record_units(TinyConv(), data, ["conv"])
    assert post.values.tolist() == [[16.0, 0.0], [32.0, 0.0], [0.0, 16.0]]
    assert post.recorded_at == {"conv": "conv -> act"} and pre.recorded_at == {"conv": "conv output"}
    assert post.latent_source == "input:head" and post.latent.shape == (3, 8)
    assert post.labels.tolist() == [0, 1, 0]
    with pytest.raises(DataError) as caught:
        record_units(TinyConv(), TensorDataset(torch.randn(3, 2, 3, 3), torch.zeros(3)))
    assert "(2, 3, 3) per sample" in caught.value.message
    assert caught.value.hint == "The model expects (batch, 1, H, W) for its first layer conv (Conv2d), batch first."


@pytest.fixture(scope="module")
def digits_mlp(tmp_path_factory):
    data = load_dataset("digits", tmp_path_factory.mktemp("data"), size=8)
    torch.manual_seed(0)
    return data, make_model("mlp", data.info, {"hidden": (12, 8)}).eval()


@pytest.mark.parametrize("where", ["pre", "post"])
def test_registry_mlp_values_equal_the_registry_recording(digits_mlp, where):
    data, model = digits_mlp
    ref = record(model, data, "test", select_layers(model, ()), where, batch_size=64)
    rec = record_units(model, TensorDataset(*data.tensors("test")), where=where, batch_size=64)
    assert rec.layers == ["fc1", "fc2", "out"]
    assert np.array_equal(rec.values, ref.values)
    assert np.array_equal(rec.labels, ref.labels) and np.array_equal(rec.predictions, ref.predictions)
    assert np.array_equal(rec.latent, latents(model, data, "test").values)
    expected = {
        "fc1": "fc1 -> relu_fc1",
        "fc2": "fc2 -> relu_fc2",
        "out": "out output (no activation directly follows)",
    }
    assert rec.recorded_at == (expected if where == "post" else {n: f"{n} output" for n in rec.layers})
    assert_keys_match_weight_graph(model, data.tensors("test")[0][:1], rec)


def test_registry_mlp_graphs_equal_the_registry_graphs(digits_mlp):
    data, model = digits_mlp
    names = data.info.class_names
    ref = coactivation_graph("ref", model, data, CoactivationParams(split="test", threshold=0.3), names)
    loader = DataLoader(TensorDataset(*data.tensors("test")), batch_size=50)
    ours = coactivation_graph_of(model, loader, threshold=0.3, class_names=names)
    ours.validate()
    for label in ("Neuron", "Class"):
        assert np.array_equal(ours.nodes[label].keys, ref.nodes[label].keys)
    for prop in ("layer", "index", "layer_type", "class_name"):
        assert list(ours.nodes["Neuron"].props[prop]) == list(ref.nodes["Neuron"].props[prop])
    e, f = ours.edges["COACTIVATES"], ref.edges["COACTIVATES"]
    assert np.array_equal(e.src, f.src) and np.array_equal(e.dst, f.dst) and len(e) > 0
    assert np.array_equal(e.props["rho"], f.props["rho"])
    assert ours.params["method"] == "hooks" and ours.params["dead_units"] == ref.params["dead_units"]
    rec = latents(model, data, "test")
    [knn_ref] = knn_graphs("ref", rec, KnnParams(k=(5,)), "test")
    [knn] = knn_graph_of(model, TensorDataset(*data.tensors("test")), 5)
    assert knn.graph_id == "knn-k5" and knn.params["latent"] == "input:out"
    for a, b in ((knn.edges["KNN"].src, knn_ref.edges["KNN"].src), (knn.edges["KNN"].dst, knn_ref.edges["KNN"].dst)):
        assert np.array_equal(a, b)
    assert np.array_equal(knn.nodes["Sample"].props["label"], rec.labels)


def test_resnet18_post_reads_the_first_call_of_a_shared_relu_and_keys_match():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    data = images()
    rec = record_units(model, data, ["layer1.0.*", "fc"], batch_size=4)
    assert rec.layers == ["layer1.0.conv1", "layer1.0.conv2", "fc"]
    assert rec.recorded_at["layer1.0.conv1"] == "layer1.0.conv1 -> layer1.0.bn1 -> layer1.0.relu"
    assert rec.recorded_at["layer1.0.conv2"] == "layer1.0.conv2 output (no activation directly follows)"
    x = data.tensors[0]
    block = model.layer1[0]
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        first = block.relu(block.bn1(block.conv1(stem)))
        conv2 = block.conv2(first)
        features = torch.flatten(model.avgpool(model.layer4(model.layer3(model.layer2(model.layer1(stem))))), 1)
        logits = model.fc(features)
    assert np.allclose(rec.of("layer1.0.conv1"), first.mean(dim=(2, 3)).numpy(), atol=1e-5)
    assert np.allclose(rec.of("layer1.0.conv2"), conv2.mean(dim=(2, 3)).numpy(), atol=1e-5)
    assert np.allclose(rec.of("fc"), logits.numpy(), atol=1e-5)
    assert rec.latent_source == "input:fc" and np.allclose(rec.latent, features.numpy(), atol=1e-5)
    assert_keys_match_weight_graph(model, x[:1], rec)


def test_mobilenet_v3_small_depthwise_and_squeeze_excitation():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(num_classes=10)
    rec = record_units(model, images(), ["features.1.*"], batch_size=8)
    assert rec.recorded_at == {
        "features.1.block.0.0": "features.1.block.0.0 -> features.1.block.0.1 -> features.1.block.0.2",
        "features.1.block.1.fc1": "features.1.block.1.fc1 -> features.1.block.1.activation",
        "features.1.block.1.fc2": "features.1.block.1.fc2 -> features.1.block.1.scale_activation",
        "features.1.block.2.0": "features.1.block.2.0 output (no activation directly follows)",
    }
    gate = rec.of("features.1.block.1.fc2")
    assert rec.values.shape == (8, 16 + 8 + 16 + 16) and (gate >= 0).all() and (gate <= 1).all()  # hardsigmoid
    assert_keys_match_weight_graph(model, images(1).tensors[0], rec)


def test_transformer_mlp_units_average_tokens():
    torch.manual_seed(0)
    model = Encoder().eval()
    x = torch.randn(6, 5, 16)
    data = TensorDataset(x, torch.arange(6) % 3)
    rec = record_units(model, data, ["enc.linear1", "head"], batch_size=4)
    enc = model.enc
    with torch.no_grad():
        x1 = enc.norm1(x + enc.self_attn(x, x, x, need_weights=False)[0])
        hidden = torch.relu(enc.linear1(x1))
        out = enc(x)[:, 0]
    assert rec.recorded_at["enc.linear1"] == "enc.linear1 -> relu"
    assert np.allclose(rec.of("enc.linear1"), hidden.mean(dim=1).numpy(), atol=1e-5)
    assert np.allclose(rec.latent, out.numpy(), atol=1e-5) and rec.latent_source == "input:head"
    assert_keys_match_weight_graph(model, x[:1], rec)
    every = record_units(model, data)
    assert every.layers == ["enc.linear1", "enc.linear2", "head"]
    assert every.skipped == ["enc.self_attn.in_proj", "enc.self_attn.out_proj"]
    with pytest.raises(HookError, match="in_proj"):
        record_units(model, data, ["enc.self_attn"])


def test_bad_data_and_names_are_refused_clearly(digits_mlp):
    data, model = digits_mlp
    x, y = data.tensors("test")
    with pytest.raises(DataError) as caught:
        record_units(model, TensorDataset(x))
    assert "no labels" in caught.value.message
    assert "a list of 1 (a tensor of shape (256, 1, 8, 8))" in caught.value.message
    with pytest.raises(DataError) as caught:
        record_units(model, TensorDataset(torch.randn(10, 3, 5, 5), torch.zeros(10)))
    assert "(3, 5, 5) per sample" in caught.value.message
    assert "64 values per sample" in (caught.value.hint or "") and "fc1" in (caught.value.hint or "")
    with pytest.raises(DataError, match="one integer label per input"):
        record_units(model, TensorDataset(x, torch.zeros(len(x), 3)))
    with pytest.raises(DataError, match="Dataset or DataLoader"):
        record_units(model, x)
    with pytest.raises(LayerPatternError) as caught:
        record_units(model, TensorDataset(x, y), ["fc9"])
    assert isinstance(caught.value, GraphstoreError) and "fc1" in (caught.value.hint or "")
    with pytest.raises(HookError) as caught:
        record_units(model, TensorDataset(x, y), latent="input:fx1")
    assert "fc1" in (caught.value.hint or "")
    with pytest.raises(HookError, match="where"):
        record_units(model, TensorDataset(x, y), where="after")


class SharedAct(nn.Module):
    """The ReLU after `a` is also called inside `gate`, whose branch torch.fx cannot trace (kept opaque)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.act, self.b = nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2)
        self.gate = Gate(self.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.gate(self.act(self.a(x))))


class Gate(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(x - 1)
        return y if y.sum() > 0 else -y


def test_module_running_more_often_than_traced_is_refused():
    data = TensorDataset(torch.randn(5, 4), torch.zeros(5, dtype=torch.long))
    assert record_units(SharedAct(), data, ["a", "b"], where="pre").values.shape == (5, 7)
    with pytest.raises(HookError) as caught:
        record_units(SharedAct(), data, ["a", "b"])
    assert "act ran 2 times in a forward; the fx trace shows 1" in caught.value.message


def test_class_names_need_the_output_layer_last():
    data = TensorDataset(torch.randn(4, 1, 3, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(LayerPatternError, match="3 class names for the 2 units of conv"):
        coactivation_graph_of(TinyConv(), data, ["conv"], class_names=("a", "b", "c"))
    assert coactivation_graph_of(TinyConv(), data, class_names=("a", "b")).params["layers"] == ["conv", "head"]
