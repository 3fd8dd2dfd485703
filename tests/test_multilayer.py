"""The multilayer class networks (docs/METHODS.md C3): 001's worked example, box-filter degrees against explicit arcs
and networkx, the feature-map recorder, the stored graph (both stores) and the errors."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.stats import entropy

from graphstore.errors import GraphstoreError
from graphstore.extract.feature_maps import ConvGeometry, FeatureMaps, conv_geometry, record_class_maps
from graphstore.extract.multilayer import (
    MultilayerParams,
    arc_index,
    compute_multilayer,
    entropy_delta,
    extract_multilayer,
    multilayer_graph,
    multilayer_of,
    node_weights,
)
from graphstore.extract.registry import KindDoesNotApply, get_kind
from graphstore.nn.checkpoint import make_checkpoint
from graphstore.nn.datasets import load_dataset
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import make_model
from graphstore.pruning.layers import select_layers

# 001 section 4 (Figures 9-10): 26 nodes in three feature maps, three class networks. The text gives the degrees
# of node 2 (36, 63, 54) and node 11 (9, 8, 9), every delta, and Figure 9's arc weights per class: conv1 -> conv2
# arcs of weight A = (5, 1, 3) and B = (4, 7, 6), conv2 -> conv3 arcs of weight C = (2, -2, 4) and E = (8, 9, -1).
# The figure itself is not in the text, so the other rows below are rebuilt from those weights so that every
# delta the paper states follows: map 1 = nodes 1-5, map 2 = nodes 6-17, map 3 = nodes 18-26.
A, B, C, E = (np.array(v) for v in ((5, 1, 3), (4, 7, 6), (2, -2, 4), (8, 9, -1)))
EXAMPLE_DEGREES = {
    **{v: 9 * A for v in (1, 3, 4, 5)},  # 9 out-arcs of weight A: delta 0.94
    2: 9 * B,  # (36, 63, 54), as in the text: delta 1.07
    **{v: A + B for v in (6, 8, 9, 11)},  # (9, 8, 9), as in the text: delta 1.09
    **{v: B for v in (12, 13, 14)},  # in-arc from node 2 only: delta 1.07
    7: A + 9 * C,  # a negative class degree: no contribution
    **{v: B + 9 * E for v in (10, 15, 16, 17)},  # a negative class degree: no contribution
    **{v: C + E for v in range(18, 24)},  # (10, 7, 3): delta 1.00
    **{v: C for v in (24, 25, 26)},  # a negative class degree: no contribution
}
EXAMPLE_LAYERS = ["conv1"] * 5 + ["conv2"] * 12 + ["conv3"] * 9


def test_worked_example_of_001() -> None:
    degrees = torch.tensor(np.stack([EXAMPLE_DEGREES[v] for v in range(1, 27)], axis=1), dtype=torch.float64)
    delta = entropy_delta(degrees).numpy()
    d = dict(zip(range(1, 27), delta, strict=True))
    assert round(d[2], 2) == 1.07 and round(d[12], 2) == 1.07
    assert abs(d[11] - 1.09) < 0.01  # 1.0971: the paper truncates to 1.09
    assert round(d[1], 2) == 0.94 and round(d[18], 2) == 1.00
    assert all(d[v] == 0 for v in (7, 10, 15, 16, 17, 24, 25, 26))
    assert round(delta.mean(), 2) == 0.71
    assert round(1.5 * delta.mean(), 2) == 1.06
    assert {v for v in d if d[v] > 1.5 * delta.mean()} == {2, 6, 8, 9, 11, 12, 13, 14}
    names = ["conv1", "conv2", "conv3"]
    per_layer = [delta[np.array(EXAMPLE_LAYERS) == n] for n in names]
    sel = select_layers(names, per_layer, 1.5, "mean")
    assert sel.kept == ["conv1", "conv2"] and sel.removed == ["conv3"] and round(sel.threshold, 2) == 1.06


def test_delta_of_all_negative_class_degrees_is_defined_as_in_001() -> None:
    """001 eq. 5 takes log(d^h / d^tot): only a negative ratio (mixed signs) has no log. Hand-checked: degrees
    (-2, -3, -5) give p = (0.2, 0.3, 0.5) and delta = 0.2 ln 5 + 0.3 ln(10/3) + 0.5 ln 2 = 1.0297; (2, -2, 4) (a
    mixed node of 001's example) and (1, -1, 0) (zero total) give 0; (0, -4, -4) gives ln 2."""
    deg = torch.tensor([[-2.0, 2.0, 1.0, 0.0, -2.0], [-3.0, -2.0, -1.0, -4.0, -3.0], [-5.0, 4.0, 0.0, -4.0, -5.0]])
    delta = entropy_delta(deg).numpy()
    hand = 0.2 * np.log(5) + 0.3 * np.log(10 / 3) + 0.5 * np.log(2)
    assert abs(hand - 1.0297) < 1e-4
    np.testing.assert_allclose(delta, [hand, 0.0, 0.0, np.log(2), hand], rtol=1e-12)


def test_class_maps_of_a_limited_class_sorted_split_cover_every_class() -> None:
    """mnist-5k's training split is stored class by class; `limit` takes a seeded sample, not its first images
    (which were classes 0 and 1 only: ln 2 was then the largest delta)."""
    data = load_dataset("mnist-5k")
    assert set(data.tensors("train")[1][:300].tolist()) <= {0, 1}  # the split's own order
    ml, maps = multilayer_of(make_model("small-cnn", data.info), data, MultilayerParams(limit=300, arcs=False))
    assert int(maps.counts.sum()) == 300 and (maps.counts > 10).all()
    assert max(float(d.max()) for d in ml.delta) > np.log(9)


def test_delta_matches_scipy_entropy_and_zero_rules() -> None:
    deg = torch.rand(5, 40, dtype=torch.float64)
    deg[:, 0], deg[2, 1], deg[0, 2] = 0, -0.1, 0
    delta = entropy_delta(deg).numpy()
    assert delta[0] == 0 and delta[1] == 0
    np.testing.assert_allclose(delta[2:], entropy(deg[:, 2:].numpy(), axis=0), rtol=1e-12)


def brute_force(
    layers: list[ConvGeometry], maps: list[np.ndarray], weight: str, classes: tuple[int, ...] | None = None
) -> dict[int, nx.DiGraph]:
    """networkx class networks (of `classes`, default all), arcs and weights enumerated from the definition."""
    offsets = np.cumsum([0] + [g.height * g.width for g in layers])
    graphs = {}
    for h in classes if classes is not None else range(maps[0].shape[0]):
        graph = nx.DiGraph()
        graph.add_nodes_from(range(offsets[-1]))
        for k, (g, n) in enumerate(itertools.pairwise(layers)):
            for i, j in itertools.product(range(g.height), range(g.width)):
                window = maps[k][h, :, max(0, i - 1) : i + 2, max(0, j - 1) : j + 2]
                w = float(window.mean() if weight == "mean" else np.median(window))
                for t, u in itertools.product(range(n.height), range(n.width)):
                    if abs(t - i // g.stride) <= 1 and abs(u - j // g.stride) <= 1:
                        graph.add_edge(offsets[k] + i * g.width + j, offsets[k + 1] + t * n.width + u, weight=w)
        graphs[h] = graph
    return graphs


# 7x7 -> pool 2 -> 3x3 (a floor pool: row 6 maps to 3, outside the next map), then 3x3 -> 3x3, then 1x1 convs.
ODD_LAYERS = [
    ConvGeometry("conv1", 4, 7, 7, 2, (3, 3)),
    ConvGeometry("conv2", 5, 3, 3, 1, (3, 3)),
    ConvGeometry("conv3", 3, 3, 3),
]


@pytest.mark.parametrize("weight", ["mean", "median"])
def test_box_filter_degrees_equal_networkx_on_explicit_arcs(weight: str) -> None:
    gen = torch.Generator().manual_seed(0)
    maps = [torch.rand(3, g.channels, g.height, g.width, generator=gen) for g in ODD_LAYERS]
    ml = compute_multilayer(FeatureMaps(ODD_LAYERS, maps, None, torch.ones(3), False), weight, "activation")
    graphs = brute_force(ODD_LAYERS, [m.numpy() for m in maps], weight)
    src, dst = arc_index(ODD_LAYERS)
    assert {(int(s), int(d)) for s, d in zip(src, dst, strict=True)} == set(graphs[0].edges)
    for h, graph in graphs.items():
        expected = np.array(
            [graph.in_degree(v, weight="weight") + graph.out_degree(v, weight="weight") for v in range(ml.num_nodes)]
        )
        got = torch.cat([d[h].reshape(-1) for d in ml.degrees]).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    per_node = np.stack(
        [
            [g.in_degree(v, weight="weight") + g.out_degree(v, weight="weight") for v in range(ml.num_nodes)]
            for g in graphs.values()
        ]
    )
    np.testing.assert_allclose(ml.delta_flat(), entropy(per_node, axis=0), rtol=1e-5)


def tiny_cnn_data():
    data = load_dataset("digits", size=16, limit=120)
    torch.manual_seed(0)
    return make_model("medium-cnn", data.info).eval(), data


def test_recorder_class_averages_and_real_cnn_degrees() -> None:
    model, data = tiny_cnn_data()
    x, y = data.tensors("train")
    full = record_class_maps(model, [(x[:50], y[:50]), (x[50:], y[50:])], 10, (1, 16, 16), reduce_channels=False)
    with torch.no_grad():
        relu3 = model[: list(dict(model.named_children())).index("relu3") + 1](x)
    for h in (0, 7):
        np.testing.assert_allclose(full.activations[2][h].numpy(), relu3[y == h].mean(0).numpy(), atol=1e-5)
    reduced = record_class_maps(model, [(x, y)], 10, (1, 16, 16))
    np.testing.assert_allclose(
        reduced.activations[2].numpy(), full.activations[2].mean(1, keepdim=True).numpy(), atol=1e-5
    )
    assert [(g.height, g.stride, g.kernel) for g in full.layers] == [
        (16, 1, (3, 3)),
        (16, 2, (3, 3)),
        (8, 1, (3, 3)),
        (8, 1, (1, 1)),
    ]
    ml = compute_multilayer(full, source="activation")
    graphs = brute_force(full.layers, [a.numpy() for a in full.activations], "mean", (0, 9))
    for h in (0, 9):
        expected = [
            graphs[h].in_degree(v, weight="weight") + graphs[h].out_degree(v, weight="weight")
            for v in range(ml.num_nodes)
        ]
        np.testing.assert_allclose(torch.cat([d[h].reshape(-1) for d in ml.degrees]).numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(
        compute_multilayer(reduced, source="activation").delta_flat(), ml.delta_flat(), rtol=1e-4, atol=1e-6
    )


def test_response_weights_are_next_layer_outputs() -> None:
    model, data = tiny_cnn_data()
    x, y = data.tensors("train")
    maps = record_class_maps(model, [(x, y)], 10, (1, 16, 16), activations=False, responses=True, reduce_channels=False)
    weights = node_weights(maps, "mean", "response")
    conv3 = maps.responses[2]  # conv2 (16x16) -> pool -> conv3 (8x8): node (i, j) of conv2 takes conv3 at (i//2, j//2)
    assert torch.allclose(weights[1][4, 13, 6], conv3[4, :, 6, 3].mean())
    median = node_weights(maps, "median", "response")
    assert torch.allclose(median[1][4, 13, 6], torch.tensor(np.median(conv3[4, :, 6, 3].numpy())))


def test_stored_graph_round_trip_and_high_delta_query(store) -> None:
    gen = torch.Generator().manual_seed(1)
    maps = [torch.rand(3, g.channels, g.height, g.width, generator=gen) for g in ODD_LAYERS]
    fm = FeatureMaps(ODD_LAYERS, maps, None, torch.ones(3), False)
    ml = compute_multilayer(fm, source="activation")
    weights = {"mean": ml.weights, "median": node_weights(fm, "median", "activation")}
    graph = multilayer_graph("ml-test", ml, MultilayerParams(source="activation"), ("a", "b", "c"), weights)
    graph.validate()
    src, _ = arc_index(ODD_LAYERS)
    arcs = graph.edges["ARC"]
    assert len(arcs) == 3 * len(src) and len(graph.nodes["Patch"]) == 49 + 9 + 9
    first = arcs.src[0]
    assert arcs.props["w_mean"][0] == pytest.approx(float(ml.weights[0][0].reshape(-1)[first]))
    patches = graph.nodes["Patch"]
    assert set(patches.props) >= {"layer", "i", "j", "delta", "degree", "degree_0", "degree_2"}
    store.write_graph(graph)
    rows = store.run_query("high_delta", {"graph_id": "ml-test", "limit": 5})
    best = np.sort(ml.delta_flat())[::-1][:5]
    assert rows.columns[:5] == ["uid", "layer", "i", "j", "delta"]
    assert [r[4] for r in rows.rows] == pytest.approx(best.tolist())
    layer_max = {g.name: float(d.max()) for g, d in zip(ODD_LAYERS, ml.delta, strict=True)}
    assert all(r[5] == pytest.approx(layer_max[r[1]]) for r in rows.rows)
    back = store.read_graph("ml-test")
    assert len(back.edges["ARC"]) == len(arcs)


def test_extract_from_checkpoint_via_registry_and_errors() -> None:
    model, data = tiny_cnn_data()
    ckpt = make_checkpoint(model, data.spec, data.info, 0)
    kind = get_kind("multilayer")
    params = kind.make_params({"limit": 100, "max_arcs": 10_000_000})
    graph = kind.build(ckpt, data, params, "ml-ckpt")
    layers = conv_geometry(model, (1, 16, 16))
    assert graph.kind == "multilayer" and len(graph.nodes["Patch"]) == sum(g.size for g in layers)
    assert sum(graph.params["images_per_class"]) == 100
    with pytest.raises(GraphstoreError, match="max_arcs"):
        extract_multilayer(ckpt, data, kind.make_params({"max_arcs": 1000}), "too-many")
    mlp = make_model("mlp", DataInfo("digits", (1, 16, 16), tuple("0123456789")), {"hidden": (8,)})
    mlp_ckpt = make_checkpoint(mlp, data.spec, data.info, 0)
    assert kind.why_not(mlp_ckpt, mlp) is not None
    with pytest.raises(KindDoesNotApply) as err:
        extract_multilayer(mlp_ckpt, data, params, "mlp-ml")
    assert "mlp" in err.value.message and "weights" in (err.value.hint or "")
