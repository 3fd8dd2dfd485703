"""Benchmark: delta for every node of VGG16's multilayer network (128x128 inputs, 101 classes, as 001's
Caltech-101 setting) by box filters, against building the class networks in networkx as 001 did.

Input: synthetic class-averaged post-ReLU feature maps of the exact shapes VGG16 produces at 128x128 (relu of
Gaussian noise; the values do not change the work done). Our path: `compute_multilayer` from the full
(classes, C, H, W) maps (channel mean, clipped window means, box-filter degrees, entropy), and from the
channel-reduced maps the recorder keeps for the mean weight. Anchor: per class, a networkx DiGraph with every
arc (weights = the node's window mean, computed per node in Python as 001's Algorithm 2 does per arc - per node
is 9x less work, which favours the anchor), weighted in/out degrees, then the entropy; run on a subset of
classes and reported as a rate (node-class pairs/s and arcs/s) and extrapolated to all classes.

Run: .venv/bin/python -m bench.multilayer [--classes 101] [--anchor-classes 2] [--side 128] [--median-classes 10]
"""

from __future__ import annotations

import argparse
import os

import networkx as nx
import numpy as np
import torch

from bench.common import RssPeak, load, machine, ratios, record, timed
from graphstore.extract.feature_maps import FeatureMaps, conv_geometry
from graphstore.extract.multilayer import arc_index, compute_multilayer
from graphstore.nn.datasets.base import DataInfo
from graphstore.nn.models import make_model


def vgg16_layers(side: int, classes: int) -> list:
    """The conv geometry of VGG16 (no BN) on 3 x side x side inputs."""
    info = DataInfo("caltech101", (3, side, side), tuple(str(i) for i in range(classes)))
    model = make_model("vgg16", info, {"batch_norm": False, "width": 1.0})
    return conv_geometry(model, info.input_shape)


def synthetic_maps(layers: list, classes: int, seed: int = 0) -> list[torch.Tensor]:
    """relu(N(0,1)) maps of shape (classes, C, H, W) per conv layer."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(classes, g.channels, g.height, g.width, generator=gen).clamp_min_(0) for g in layers]


def networkx_delta(layers: list, maps: list[np.ndarray], classes: list[int]) -> np.ndarray:
    """001's way: per class, a networkx DiGraph of all arcs, weighted degrees, then the entropy (nodes x classes)."""
    src, dst = arc_index(layers)
    offsets = np.cumsum([0] + [g.size for g in layers])
    degrees = []
    for h in classes:
        weight = np.zeros(offsets[-1])
        for k, g in enumerate(layers[:-1]):
            fmap = maps[k][h]
            for i in range(g.height):
                for j in range(g.width):
                    weight[offsets[k] + i * g.width + j] = fmap[:, max(0, i - 1) : i + 2, max(0, j - 1) : j + 2].mean()
        graph = nx.DiGraph()
        graph.add_nodes_from(range(offsets[-1]))
        graph.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), weight[src].tolist(), strict=True))
        ins, outs = dict(graph.in_degree(weight="weight")), dict(graph.out_degree(weight="weight"))
        degrees.append([ins[v] + outs[v] for v in range(offsets[-1])])
    return np.asarray(degrees)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--anchor-classes", type=int, default=2)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument(
        "--median-classes",
        type=int,
        default=10,
        help="Time the median arc weight on this many classes and extrapolate (0 = skip).",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds): checks the bench still runs")
    args = parser.parse_args()
    if args.quick:
        args.classes, args.anchor_classes, args.side, args.median_classes = 3, 1, 32, 1
    before = load()
    torch.set_num_threads(os.cpu_count() or 1)
    layers = vgg16_layers(args.side, args.classes)
    nodes = sum(g.size for g in layers)
    arcs = len(arc_index(layers)[0])
    print(f"machine: {machine()}; load before: {os.getloadavg()[0]:.2f}")
    print(
        f"vgg16 {args.side}x{args.side}: {len(layers)} conv layers, {nodes:,} nodes, {arcs:,} arcs per class, "
        f"{args.classes} classes ({nodes * args.classes:,} node-class degrees, {arcs * args.classes:,} arcs)"
    )
    maps = synthetic_maps(layers, args.classes)
    size_gib = sum(m.numel() for m in maps) * 4 / 2**30
    full = FeatureMaps(layers, maps, None, torch.ones(args.classes), False)
    with RssPeak() as rss:
        ml, ours = timed(lambda: compute_multilayer(full, "mean", "activation"))
    reduced = FeatureMaps(layers, [m.mean(1, keepdim=True) for m in maps], None, torch.ones(args.classes), True)
    ml_reduced, ours_reduced = timed(lambda: compute_multilayer(reduced, "mean", "activation"))
    delta = ml.delta_flat()
    assert np.allclose(delta, ml_reduced.delta_flat(), atol=1e-5)
    print(
        f"ours, from full class-averaged maps ({size_gib:.2f} GiB): {ours:.2f} s "
        f"({nodes * args.classes / ours:,.0f} node-class/s, {arcs * args.classes / ours:,.0f} arcs/s; "
        f"+{rss.increase_mib:.0f} MiB peak)"
    )
    print(f"ours, from channel-reduced maps (the recorder's mean path): {ours_reduced:.2f} s")
    if args.median_classes:
        n = min(args.median_classes, args.classes)
        part = FeatureMaps(layers, [m[:n] for m in maps], None, torch.ones(n), False)
        _, median = timed(lambda: compute_multilayer(part, "median", "activation"))
        print(
            f"ours, median arc weight (medians over window x channels), {n} classes: {median:.2f} s; "
            f"extrapolated to {args.classes} classes: {median / n * args.classes:.0f} s"
        )
    subset = list(range(min(args.anchor_classes, args.classes)))
    np_maps = [m.numpy() for m in maps]
    anchor_deg, anchor = timed(lambda: networkx_delta(layers, np_maps, subset))
    ours_deg = np.stack([torch.cat([d[h].reshape(-1) for d in ml.degrees]).numpy() for h in subset])
    assert np.allclose(anchor_deg, ours_deg, rtol=1e-4, atol=1e-3), "anchor and ours disagree"
    rate = len(subset) * nodes / anchor
    full_anchor = anchor / len(subset) * args.classes
    print(
        f"anchor networkx (001), {len(subset)} of {args.classes} classes: {anchor:.2f} s "
        f"({rate:,.0f} node-class/s, {len(subset) * arcs / anchor:,.0f} arcs/s); "
        f"extrapolated to {args.classes} classes: {full_anchor:,.0f} s"
    )
    print(
        f"ratio (anchor rate / ours, all classes): {full_anchor / ours:,.0f}x faster; "
        f"delta mean {delta.mean():.4f}, zeros {np.mean(delta == 0):.3f}; load after: {load()}"
    )
    record(
        "multilayer.delta",
        {
            "seconds": round(ours, 4),
            "reduced_maps_s": round(ours_reduced, 4),
            "rss_increase_mib": round(rss.increase_mib),
        },
        {"networkx_extrapolated_s": round(full_anchor, 2)},
        None,
        ratios(ours, {"networkx_extrapolated": full_anchor}),
        before,
        size={"side": args.side, "classes": args.classes, "anchor_classes": len(subset)},
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
