"""densenet121 (torchvision, random weights) among the architectures nobody here wrote (issue 21 item 5): its
concatenations in the weight graph, and the command line storing what gs.ingest stores, on both stores.

The whole network is checked in Python (32x32 RGB input: 10,250 units, 4,970,688 channel edges, ~4 s): one node per
unit, and into every Conv/Linear exactly its real channel connections (each input channel of a dense layer comes
from one earlier layer through the concatenation). The stores get dense block 1 and transition 1 only
(`--layers`): 1,091 nodes and 110,592 edges; the whole network's 5 M edges would take minutes to write to Neo4j on
the 2 shared cores the suite runs on, and the block holds every kind of connection the whole network has.
"""

from __future__ import annotations

import types
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import graphstore as gs
from graphstore.nn.checkpoint import file_sha256
from tests.test_dataflow import count_into, edges_between, graph_and_inputs, layer_keys
from tests.test_foreign_cli import BACKENDS, cli, connect, drop_prefixed, ingest_run, settings_env, shape

BLOCK = ["features.denseblock1.*", "features.transition1.conv"]
B1 = "features.denseblock1.denselayer"


def densenet121(classes: int = 10) -> nn.Module:
    """torchvision's densenet121, random weights (seeded)."""
    torch.manual_seed(0)
    return torchvision.models.densenet121(weights=None, num_classes=classes)


def unit_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_densenet121_whole_network_nodes_channel_edges_and_concatenation_paths():
    model = densenet121().eval()
    g, inputs = graph_and_inputs(model)  # validated; node count == 3 input channels + every unit
    assert g.node_count == 3 + 10_250
    for name, module in unit_layers(model):  # real channel connections: Cout x Cin, one source per input channel
        assert count_into(g, name) == module.weight.shape[0] * module.weight.shape[1], name
    assert len(g.edges["WEIGHT"]) == sum(m.weight.shape[0] * m.weight.shape[1] for _, m in unit_layers(model))
    # Concatenation offsets: dense layer 3 reads the stem (64), then layer 1's and layer 2's new channels (32 each).
    third = inputs[f"{B1}3.conv1"]
    assert len(third) == 64 + 2 * 32
    assert third[63] == [("features.conv0", range(63, 64))]
    assert third[64 + 5] == [(f"{B1}1.conv2", range(5, 6))]
    assert third[64 + 32 + 5] == [(f"{B1}2.conv2", range(5, 6))]
    # Paths along the concatenation, skipping the layers between: stem -> layer 6, layer 1 -> layer 3, block 4's
    # last layer and the stem's pooled features -> the classifier (1x1 at the end: one position per channel).
    assert edges_between(g, "features.conv0", f"{B1}6.conv1").sum() == 128 * 64
    assert edges_between(g, f"{B1}1.conv2", f"{B1}3.conv1").sum() == 128 * 32
    assert edges_between(g, f"{B1}1.conv2", f"{B1}2.conv2").sum() == 0
    assert edges_between(g, "features.transition1.conv", "features.denseblock2.denselayer12.conv1").sum() == 128 * 128
    assert edges_between(g, "features.denseblock4.denselayer16.conv2", "classifier").sum() == 10 * 32
    assert count_into(g, "classifier") == 10 * 1024


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> types.SimpleNamespace:
    """densenet121's state dict (two classes) and 8 random 32x32 images of two classes in an imagefolder tree."""
    from PIL import Image

    root = tmp_path_factory.mktemp("densenet")
    (root / "mods").mkdir()
    torch.save(densenet121(2).state_dict(), root / "dn121.pt")
    rng = np.random.default_rng(0)
    for i in range(8):
        folder = root / "img" / ("cat", "dog")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return types.SimpleNamespace(mods=root / "mods", weights=root / "dn121.pt", images=root / "img")


@pytest.mark.parametrize("backend", BACKENDS)
def test_densenet121_block_cli_equals_python(backend, user, tmp_path: Path):
    """Dense block 1 + transition 1 by the command line and by gs.ingest: identical weight graphs; node count =
    inputs + the block's units, edges = its real channel connections (with the concatenation's paths)."""
    from graphstore.extract.model_data import registry_data

    env, tag = settings_env(backend, tmp_path), uuid.uuid4().hex[:8]
    opts = {"path": str(user.images), "size": 32, "val_fraction": 0, "test_fraction": 0}
    done = cli(
        env,
        user,
        tmp_path,
        "ingest",
        *("--model", "torchvision.models:densenet121", "--model-opt", "num_classes=2", "--weights", str(user.weights)),
        *("--dataset", "imagefolder", *[f"--data-opt={k}={v}" for k, v in opts.items()], "--split", "train"),
        *("--graphs", "weights", "--layers", ",".join(BLOCK), "--graph-id-prefix", f"dcli-{tag}"),
        "--no-progress",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = registry_data("imagefolder", "train", None, None, opts)
    try:
        with connect(env) as db:
            gs.ingest(densenet121(2), data.source, ["weights"], f"dpy-{tag}", layers=BLOCK, session=db)
            g = db.read(f"dcli-{tag}-weights")
            assert shape(g) == shape(db.read(f"dpy-{tag}-weights"))
            assert g.node_count == 3 + 6 * (128 + 32) + 128
            assert g.edge_count == 6 * 32 * 128 + 15 * 128 * 32 + 6 * 128 * 32
            assert edges_between(g, f"{B1}1.conv2", f"{B1}3.conv1").sum() == 128 * 32
            assert edges_between(g, f"{B1}6.conv2", "features.transition1.conv").sum() == 128 * 32
            assert len(layer_keys(g, f"{B1}4.conv1")) == 128
            run = ingest_run(db, f"dcli-{tag}-weights")
            assert run.params["model"]["source"] == "torchvision.models:densenet121"
            assert run.params["weights"]["sha256"] == file_sha256(user.weights)
            assert run.params["model"]["sha256"] == gs.state_dict_sha256(densenet121(2))
    finally:
        with connect(env) as db:
            drop_prefixed(db, f"dcli-{tag}", f"dpy-{tag}")
