"""Co-activation (Spearman of all unit pairs): the project's rank + one matmul vs pandas, and conv6 end to end.

    python -m bench.coactivation [--units 1418] [--samples 60000] [--anchor-samples 5000] [--e2e-samples 60000]

1. Correlation step on synthetic activations with ties (half exact zeros, as after a ReLU, plus a few integer-
   valued units): graphstore.extract.coactivation.spearman vs pandas `DataFrame.corr(method="spearman")` (rank
   + Pearson). pandas runs on `--anchor-samples` rows and is scaled linearly to the full sample count (its cost is
   linear in samples at fixed units); both results are compared on that subset.
2. End to end for conv6 on `--e2e-samples` synthetic 28x28 images: forward pass with hooks, Spearman, threshold,
   Graph - beside the 8.5 hours 000 reports for conv6 on Fashion-MNIST (60,000 images).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from bench.common import RssPeak, machine, timed

THESIS_SECONDS = 8.5 * 3600


def activations(samples: int, units: int, seed: int = 0) -> np.ndarray:
    """Synthetic activations with ties: correlated normals, clipped at zero, a tenth of units integer-valued."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((samples, 32)).astype(np.float32)
    mix = rng.standard_normal((32, units)).astype(np.float32) / 4
    x = base @ mix + rng.standard_normal((samples, units)).astype(np.float32)
    np.maximum(x, 0, out=x)
    x[:, ::10] = np.round(x[:, ::10])
    return x


def correlation(args: argparse.Namespace) -> None:
    """Our Spearman vs pandas on the same matrix."""
    import pandas as pd

    from graphstore.extract.coactivation import spearman

    x = activations(args.samples, args.units)
    with RssPeak() as mem:
        (rho, live), ours = timed(lambda: spearman(x))
    sub = x[: args.anchor_samples]
    ref, anchor = timed(lambda: pd.DataFrame(sub).corr(method="spearman").to_numpy())
    check, _ = spearman(sub)
    scaled = anchor * args.samples / len(sub)
    print(
        f"spearman {args.units} units x {args.samples} samples (ties: {np.mean(x == 0):.0%} zeros): "
        f"ours {ours:.2f} s (RSS +{mem.increase_mib:.0f} MiB); pandas corr(spearman) {anchor:.2f} s on "
        f"{len(sub)} samples -> {scaled:.1f} s scaled to {args.samples}; ratio {scaled / ours:.1f}x; "
        f"max |diff| vs pandas on the subset {np.nanmax(np.abs(check - ref)):.2e}"
    )


def end_to_end(args: argparse.Namespace) -> None:
    """conv6 on synthetic 28x28 images: forward + Spearman + threshold + Graph."""
    from graphstore.extract.coactivation import CoactivationParams, coactivation_graph
    from graphstore.nn.datasets.base import DataInfo, DatasetSpec, in_memory
    from graphstore.nn.models import make_model

    n = args.e2e_samples
    info = DataInfo("synthetic", (1, 28, 28), tuple(str(i) for i in range(10)))
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    data = in_memory(DatasetSpec("synthetic"), info, {"train": (x, y)}, 0.0, 0.0, 0, 0)
    torch.manual_seed(0)
    model = make_model("conv6", info)
    params = CoactivationParams(split="train", batch_size=500)
    graph, seconds = timed(lambda: coactivation_graph("bench-conv6", model, data, params, info.class_names))
    print(
        f"conv6 end to end on {n} synthetic 28x28 images ({graph.params['units']} units, "
        f"{len(graph.edges['COACTIVATES'])} edges kept): ours {seconds:.1f} s; 000 reports "
        f"{THESIS_SECONDS / 3600:.1f} h for conv6 on 60,000 Fashion-MNIST images -> ratio "
        f"{THESIS_SECONDS * n / 60000 / seconds:.0f}x (scaled to {n} samples)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1418)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--anchor-samples", type=int, default=5000)
    parser.add_argument("--e2e-samples", type=int, default=60000)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    print(machine(), f"torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    correlation(args)
    if not args.skip_e2e:
        end_to_end(args)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
