"""The weight graph from a checkpoint: masked weights absent, signed/absolute weights, classes linked."""

from __future__ import annotations

import numpy as np
import torch

from graphstore.extract.registry import get_kind
from graphstore.extract.weights import WeightGraphParams, weights_from_checkpoint
from graphstore.nn.checkpoint import make_checkpoint
from graphstore.nn.datasets.base import DataInfo, DatasetSpec
from graphstore.nn.models import make_model

INFO = DataInfo("toy", (1, 8, 8), ("a", "b", "c"))


def toy_checkpoint(masks: dict | None = None):
    torch.manual_seed(0)
    model = make_model("small-cnn", INFO)
    return make_checkpoint(model, DatasetSpec("digits", {"size": 8}), INFO, 1, masks=masks), model


def test_masked_weights_are_absent_and_classes_linked():
    _, model = toy_checkpoint()
    mask = torch.ones_like(model.fc2.weight, dtype=torch.bool)
    mask[0, :5] = False
    ckpt, _ = toy_checkpoint({"fc2.weight": mask})
    g = weights_from_checkpoint(ckpt, None, WeightGraphParams(), "w1")
    g.validate()
    neurons = g.nodes["Neuron"]
    layer = neurons.props["layer"]
    n_fc1, n_fc2 = (layer == "fc1").sum(), (layer == "fc2").sum()
    edges = g.edges["WEIGHT"]
    fc1_keys = neurons.keys[layer == "fc1"]
    fc2_keys = neurons.keys[layer == "fc2"]
    between = np.isin(edges.src, fc1_keys) & np.isin(edges.dst, fc2_keys)
    assert between.sum() == n_fc1 * n_fc2 - 5
    missing = {(int(fc1_keys[i]), int(fc2_keys[0])) for i in range(5)}
    assert not missing & set(zip(edges.src[between].tolist(), edges.dst[between].tolist(), strict=True))
    w = edges.props["w"][between]
    assert np.allclose(edges.props["abs_w"][between], np.abs(w))
    out = neurons.props["layer_type"] == "output"
    assert list(neurons.props["class_name"][out]) == ["a", "b", "c"]
    assert list(g.nodes["Class"].props["name"]) == ["a", "b", "c"]
    rep = g.edges["REPRESENTS"]
    assert np.array_equal(rep.src, neurons.keys[out]) and len(rep) == 3
    assert g.params["masked_weights"] == 5


def test_conv_edges_are_l1_of_kernel_slices():
    ckpt, model = toy_checkpoint()
    g = weights_from_checkpoint(ckpt, None, WeightGraphParams(), "w2")
    neurons, edges = g.nodes["Neuron"], g.edges["WEIGHT"]
    conv2 = neurons.keys[neurons.props["layer"] == "conv2"]
    conv1 = neurons.keys[neurons.props["layer"] == "conv1"]
    row = np.flatnonzero((edges.src == conv1[3]) & (edges.dst == conv2[5]))[0]
    kernel = model.conv2.weight.detach().numpy()[5, 3]
    assert np.isclose(edges.props["abs_w"][row], np.abs(kernel).sum(), rtol=1e-5)
    assert np.isclose(edges.props["w"][row], kernel.sum(), rtol=1e-4, atol=1e-6)


def test_registered_without_data():
    kind = get_kind("weights")
    assert kind.needs_data is False and kind.params is WeightGraphParams
