"""Model registry: hidden-neuron contract, forward passes, fit errors, specs that rebuild the model."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.errors import InvalidParams, ModelDoesNotFit, UnknownName
from graphstore.nn.models import MODELS, ModelSpec, build_model, make_model, model_spec

TEN = tuple(str(i) for i in range(10))
DIGITS16 = DataInfo("digits", (1, 16, 16), TEN)
CIFAR = DataInfo("cifar10", (3, 32, 32), TEN)
BOOL = DataInfo("boolean-modular", (4,), ("y1", "y2", "y3", "y4"), "multilabel")
SMALL = {"vgg16": {"width": 0.125}, "vgg16-plain": {"width": 0.125}}  # keep the forward-pass test light


@pytest.mark.parametrize(("name", "hidden"), [("small-cnn", 192), ("medium-cnn", 576), ("conv6", 1408)])
def test_hidden_neuron_contract(name: str, hidden: int) -> None:
    assert make_model(name, CIFAR).hidden_neurons() == hidden
    assert make_model(name, DataInfo("m", (1, 28, 28), TEN)).hidden_neurons() == hidden


def test_vgg16_and_mlp_counts() -> None:
    vgg = make_model("vgg16", CIFAR)
    convs = [m for _, m in vgg.prunable_layers() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13 and sum(isinstance(m, nn.MaxPool2d) for m in vgg.modules()) == 5
    assert vgg.hidden_neurons() == 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 2 * 4096
    assert (
        make_model("vgg16", CIFAR, {"width": 0.25}).hidden_neurons()
        == (2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 2 * 4096) // 4
    )
    assert make_model("mlp", BOOL, {"hidden": "24,24"}).hidden_neurons() == 48


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_runs_forward(name: str) -> None:
    info = BOOL if name == "mlp" else CIFAR
    model = make_model(name, info, SMALL.get(name)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *info.input_shape))
    assert out.shape == (2, info.num_classes)
    layers = model.prunable_layers()
    assert layers and all(isinstance(m, nn.Conv2d | nn.Linear) for _, m in layers)
    assert layers[-1][1].out_features == info.num_classes
    assert model.output_layer()[0] == layers[-1][0]


def test_small_cnn_architecture() -> None:
    model = make_model("small-cnn", DIGITS16)
    names = [n for n, _ in model.prunable_layers()]
    assert names == ["conv1", "conv2", "fc1", "fc2", "out"]
    assert [type(m).__name__ for m in model][:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert model.conv1.padding == (1, 1) and model.fc1.in_features == 64 * 4 * 4
    assert (model.fc1.out_features, model.fc2.out_features) == (64, 32)


def test_conv6_is_padded() -> None:
    model = make_model("conv6", CIFAR)
    assert all(m.padding == (1, 1) for _, m in model.prunable_layers() if isinstance(m, nn.Conv2d))
    assert model.fc1.in_features == 256 * 4 * 4


def test_unfit_models_say_why() -> None:
    with pytest.raises(ModelDoesNotFit, match=r"32x32.*16x16"):
        make_model("vgg16", DIGITS16)
    with pytest.raises(ModelDoesNotFit, match="image inputs"):
        make_model("small-cnn", BOOL)
    with pytest.raises(ModelDoesNotFit):
        make_model("conv6", DataInfo("tiny", (1, 4, 4), TEN))


def test_unknown_model_lists_known() -> None:
    with pytest.raises(UnknownName) as err:
        make_model("lenet", DIGITS16)
    assert all(name in str(err.value) for name in ("small-cnn", "conv6", "vgg16", "resnet18", "mlp"))


def test_bad_params_are_named() -> None:
    with pytest.raises(InvalidParams, match="depth"):
        model_spec("small-cnn", DIGITS16, {"depth": 3})
    with pytest.raises(InvalidParams, match="width"):
        model_spec("vgg16", CIFAR, {"width": "wide"})
    with pytest.raises(InvalidParams):
        model_spec("vgg16", CIFAR, {"width": 0})


def test_spec_is_json_and_rebuilds_the_model() -> None:
    spec = model_spec("mlp", DIGITS16, {"hidden": "64,32"})
    assert spec.params["hidden"] == [64, 32]
    again = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    torch.manual_seed(0)
    a = build_model(spec)
    torch.manual_seed(0)
    b = build_model(again)
    assert a.spec == spec
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert [n for n, _ in a.prunable_layers()] == ["fc1", "fc2", "out"]
