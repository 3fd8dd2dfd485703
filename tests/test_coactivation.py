"""Co-activation: Spearman equals scipy's (with ties), threshold and rescale by hand, dead units dropped."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
import torch

from graphstore.extract.coactivation import (
    CoactivationParams,
    average_ranks,
    coactivation_graph,
    rank_matrix,
    rescaled,
    spearman,
    strip_pairs,
)
from graphstore.nn.datasets import load_dataset
from graphstore.nn.models import make_model


def test_average_ranks_match_scipy_with_ties_and_signed_zero():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(6, 40)).astype(np.float32)
    x[0, :5] = -0.0
    assert np.array_equal(average_ranks(x), ss.rankdata(x, axis=1) - 1)


@pytest.mark.parametrize("sample_chunk", [0, 7])
def test_spearman_equals_scipy_on_tied_data(sample_chunk):
    rng = np.random.default_rng(1)
    x = np.maximum(rng.standard_normal((60, 9)), 0).astype(np.float32)  # many exact zeros
    x[:, 4] = rng.integers(0, 3, 60)
    rho, live = spearman(x, chunk=4, sample_chunk=sample_chunk)
    assert live.all()
    assert np.allclose(rho, ss.spearmanr(x).statistic, atol=1e-5)


def test_constant_units_are_dropped():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 5)).astype(np.float32)
    x[:, 1] = 0.0
    x[:, 3] = 2.5
    rho, live = spearman(x)
    assert live.tolist() == [True, False, True, False, True]
    assert rho.shape == (3, 3)
    assert np.allclose(rho, ss.spearmanr(x[:, live]).statistic, atol=1e-5)


def test_threshold_and_linear_rescale_by_hand():
    rho = np.array([[1.0, 0.5, 0.9, -0.8], [0.5, 1.0, 0.49, 0.75], [0.9, 0.49, 1.0, 0.6], [-0.8, 0.75, 0.6, 1.0]])
    i, j, r32 = strip_pairs(rho.astype(np.float32), 0, 0.5)  # the whole matrix as one strip
    r = r32.astype(np.float64)
    w = rescaled(r, 0.5, "linear")
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    assert np.allclose(r, [0.5, 0.9, 0.75, 0.6])
    assert np.allclose(w, [0.0, 0.8, 0.5, 0.2])
    w2 = rescaled(r, 0.5, "minmax")
    assert np.allclose(w2, [0.0, 1.0, 0.625, 0.25])


@pytest.mark.parametrize("rows", [1, 2, 5, 13])
def test_threshold_in_row_strips_equals_the_whole_upper_triangle(rows):
    """Row strips (from the diagonal on) of any height give the pairs of np.triu over the whole matrix, in the same
    row-major order."""
    rng = np.random.default_rng(5)
    a = rng.uniform(-1, 1, size=(13, 13)).astype(np.float32)
    rho = (a + a.T) / 2
    parts = [strip_pairs(rho[lo : lo + rows, lo:].copy(), lo, 0.2) for lo in range(0, 13, rows)]
    i, j, r = (np.concatenate([p[k] for p in parts]) for k in range(3))
    ei, ej = np.nonzero(np.triu(rho >= 0.2, k=1))
    assert np.array_equal(i, ei) and np.array_equal(j, ej) and len(i) > 10
    assert np.array_equal(r, rho[ei, ej])


@pytest.mark.parametrize("chunk", [1, 3, 256])
def test_rank_rows_equal_scipy_ranks_on_signed_tied_strided_input(chunk):
    """The compiled key pass and tie scatter: negative values, -0.0 tied with 0.0, ties, a constant unit, a
    non-contiguous (N, U) view, chunks that do not divide U; rows centred and of unit norm."""
    rng = np.random.default_rng(6)
    wide = rng.integers(-4, 5, size=(50, 14)).astype(np.float32)
    wide[::3, 2] = -0.0
    wide[:, 5] = 1.5
    wide[:, 7] = rng.standard_normal(50)
    x = wide[:, ::2]  # strided columns 0, 2, ..., 12
    z, live = rank_matrix(x, chunk=chunk)
    assert live.tolist() == [True, True, True, True, True, True, True]
    z2, live2 = rank_matrix(wide, chunk=chunk)
    assert live2.tolist() == [c != 5 for c in range(14)]
    ref = ss.rankdata(x, axis=0).T
    ref = ref - ref.mean(axis=1, keepdims=True)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert np.allclose(z, ref, atol=1e-6)
    assert np.allclose(z2[::2][:3], ref[:3], atol=1e-6)


def test_graph_from_model_drops_dead_units_and_labels_outputs(tmp_path):
    data = load_dataset("digits", tmp_path, size=8)
    torch.manual_seed(0)
    model = make_model("mlp", data.info, {"hidden": (12, 8)})
    with torch.no_grad():
        fc1 = dict(model.prunable_layers())["fc1"]
        fc1.weight[3] = 0.0
        fc1.bias[3] = 0.7
    params = CoactivationParams(split="test", limit=120, threshold=0.5, where="pre")  # hand-checked on pre values
    g = coactivation_graph("c1", model, data, params, data.info.class_names)
    g.validate()
    assert g.params["dead_units"] == 1 and g.params["dead_by_layer"] == {"fc1": 1}
    neurons = g.nodes["Neuron"]
    assert len(neurons) == 12 + 8 + 10 - 1
    assert not ((neurons.props["layer"] == "fc1") & (neurons.props["index"] == 3)).any()
    out = neurons.props["layer_type"] == "output"
    assert list(neurons.props["class_name"][out]) == [str(i) for i in range(10)]
    e = g.edges["COACTIVATES"]
    assert not e.directed and (e.src < e.dst).all() and len(set(zip(e.src, e.dst, strict=True))) == len(e)
    assert (e.props["rho"] >= 0.5).all() and np.allclose(e.props["w"], (e.props["rho"] - 0.5) / 0.5)
    assert len(g.edges["REPRESENTS"]) == 10


def test_record_pre_and_post_activation_values(tmp_path):
    from graphstore.extract.activations import record, select_layers

    data = load_dataset("digits", tmp_path, size=8)
    torch.manual_seed(0)
    model = make_model("small-cnn", data.info).eval()
    layers = select_layers(model, ("conv2", "fc1"))
    pre = record(model, data, "test", layers, "pre", batch_size=50, limit=70)
    post = record(model, data, "test", layers, "post", batch_size=50, limit=70)
    x, _ = data.tensors("test")
    with torch.no_grad():
        h = model.pool1(model.relu1(model.bn1(model.conv1(x[:70]))))
        conv2 = model.conv2(h)
        flat = model.flatten(model.pool2(model.relu2(model.bn2(conv2))))
        fc1 = model.fc1(flat)
    assert pre.values.shape == (70, 64 + 64) and np.array_equal(pre.indices, data.splits["test"].indices[:70])
    assert np.allclose(pre.values[:, :64], conv2.mean(dim=(2, 3)).numpy(), atol=1e-5)
    assert np.allclose(pre.values[:, 64:], fc1.numpy(), atol=1e-5)
    assert np.allclose(post.values[:, 64:], torch.relu(fc1).numpy(), atol=1e-5)
    with torch.no_grad():
        bn_relu = torch.relu(model.bn2(conv2)).mean(dim=(2, 3))
    assert np.allclose(post.values[:, :64], bn_relu.numpy(), atol=1e-5)


def test_default_correlates_post_activation_values_and_the_graph_says_so(tmp_path):
    from graphstore.extract.activations import record, select_layers

    data = load_dataset("digits", tmp_path, size=8)
    torch.manual_seed(0)
    model = make_model("small-cnn", data.info).eval()
    params = CoactivationParams(split="test", limit=90)
    assert params.where == "post"
    g = coactivation_graph("c-post", model, data, params, data.info.class_names)
    assert g.params["where"] == "post"
    post = record(model, data, "test", select_layers(model, ()), "post", limit=90)
    live = post.values.std(axis=0) > 0
    rho, _ = spearman(post.values[:, live])
    i, _ = np.nonzero(np.triu(rho >= 0.5, k=1))
    assert len(g.edges["COACTIVATES"]) == len(i)  # the edges are those of the post-ReLU values
    pre = coactivation_graph("c-pre", model, data, CoactivationParams(split="test", limit=90, where="pre"))
    assert pre.params["where"] == "pre" and pre.params["dead_units"] <= g.params["dead_units"]
