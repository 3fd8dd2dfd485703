"""000 (Petkov 2021): class trees from co-activation graphs across training and under structured pruning.

One cell = one model on one dataset with one seed:
1. train with checkpoints at `checkpoints` evenly spaced epochs from 0 to `epochs` (000: 11 points from the first
   SGD update to convergence; ours start at epoch 0, the initialised net, since checkpoints are per epoch);
2. per sparsity of `sparsities`: structured magnitude pruning with group-HS from scratch, pruned once at 70% of
   `prune_epochs`, fine-tuned (000 section 4.3.5; its Tables 5-7 give the compression epochs and lambdas);
3. per checkpoint (the training points and each pruned net's final one): the co-activation graph (post-ReLU
   activation values, Spearman rho >= 0.5 rescaled to [0, 1]) ingested into the configured store under
   ctx.graph_id, then `runs` nested SBM class trees compared with the reference tree by Robinson-Foulds.

Rows: table `training` (epoch, test accuracy, RF mean/std over the runs, graph size), table `pruning` (sparsity,
accuracy, RF), table `accuracy_rf` (per cell: Spearman correlation of accuracy and RF over the training points).
The reference tree: `reference` if given, else the dataset's (fashion-mnist, cifar20, the planted tree of
planted-tree); a dataset without one (digits) gets trees and accuracies but no RF.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.nn.config import TrainConfig
from graphstore.params import parse_assignments
from graphstore.pruning.params import StructuredConfig

SHIPPED_TREES = ("fashion-mnist", "cifar20")
TRAIN_SET_BY_CELL = ("seed", "device", "checkpoint_epochs")  # the cell's seed and device; checkpoints from its plan
SPARSITIES = (0.5, 0.675, 0.75, 0.825, 0.9)

# 000 Appendix A, Tables 3-4: (epochs, lr, weight decay, batch) per (dataset, model). The tables' "Decay" and
# "LR Rate" columns are swapped: the text's grid searched weight decay in 1e-4..1e-7 and the learning rate in
# 1e-4..0.01, which fits the columns the other way round (docs/experiments/coactivation-hierarchy.md).
PAPER_TRAIN = {
    ("fashion-mnist", "small-cnn"): (100, 1e-3, 1e-5, 500),
    ("fashion-mnist", "medium-cnn"): (100, 1e-4, 1e-7, 200),
    ("fashion-mnist", "conv6"): (120, 0.05, 1e-6, 500),
    ("cifar20", "small-cnn"): (250, 1e-3, 1e-4, 300),
    ("cifar20", "medium-cnn"): (250, 1e-3, 1e-4, 300),
    ("cifar20", "conv6"): (100, 0.01, 1e-4, 500),
}
# 000 Tables 5-7: compression epochs and the group-HS weight per sparsity (0.5, 0.675, 0.75, 0.825, 0.9).
PAPER_PRUNE = {
    ("fashion-mnist", "small-cnn"): (250, (1e-5, 1e-5, 1e-5, 1e-4, 1e-3)),
    ("cifar20", "small-cnn"): (300, (1e-4, 0.01, 1e-4, 1e-4, 1e-4)),
    ("fashion-mnist", "medium-cnn"): (200, (1e-4, 1e-3, 1e-3, 1e-3, 1e-4)),
    ("cifar20", "medium-cnn"): (300, (1e-4, 1e-4, 1e-3, 1e-3, 1e-3)),
    ("fashion-mnist", "conv6"): (150, (1e-4, 1e-4, 1e-4, 1e-4, 1e-3)),
    ("cifar20", "conv6"): (150, (1e-3, 1e-4, 1e-4, 1e-5, 1e-5)),
}


@dataclass(frozen=True)
class CoactivationHierarchyParams:
    """000: nested-SBM class trees of co-activation graphs over training and structured pruning, RF vs reference."""

    model: str = field(default="small-cnn", metadata={"help": "Model from the registry (000: small-cnn, ...)."})
    dataset: str = field(default="planted-tree", metadata={"help": "Dataset from the registry."})
    data_opt: tuple[str, ...] = field(default=(), metadata={"help": "Dataset parameters KEY=VALUE."})
    model_opt: tuple[str, ...] = field(default=(), metadata={"help": "Model parameters KEY=VALUE."})
    seed: int = field(default=0, metadata={"help": "Training seed (and first nested SBM seed)."})
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=10, schedule="none"),
        metadata={
            "help": "Training (000: to convergence, Tables 3-4; conv6: SGD with cosine annealing; augment: paper).",
            "exclude": TRAIN_SET_BY_CELL,
        },
    )
    hyperparameters: str = field(
        default="given",
        metadata={
            "help": "given: the fields here; 000: 000's Appendix A per (dataset, model) for epochs, lr, weight decay, "
            "batch (conv6: SGD with cosine annealing) and Tables 5-7 for pruning epochs and group-HS per sparsity."
        },
    )
    checkpoints: int = field(default=11, metadata={"help": "Evenly spaced training checkpoints (000: 11)."})
    sparsities: tuple[float, ...] = field(
        default=(0.5, 0.675, 0.75, 0.825, 0.9), metadata={"help": "Structured pruning sparsities (000's five)."}
    )
    prune_epochs: int = field(default=0, metadata={"help": "Epochs of each pruning run (0 = train.epochs)."})
    structured: StructuredConfig = field(
        default_factory=StructuredConfig,
        metadata={
            "help": "Structured pruning (lam: group-HS weight before pruning, 000 Tables 5-7); sparsities sets the "
            "sparsity.",
            "exclude": ("sparsity",),
        },
    )
    split: str = field(default="train", metadata={"help": "Split whose samples make the co-activation graph."})
    limit: int = field(default=0, metadata={"help": "At most this many samples for the graph (0 = all, as 000)."})
    where: str = field(default="post", metadata={"help": "Activation values after the ReLU (post, 000) or pre."})
    threshold: float = field(default=0.5, metadata={"help": "Keep pairs with Spearman rho >= this (000: 0.5)."})
    runs: int = field(default=50, metadata={"help": "Nested SBM runs per graph (000: 50; RF mean +- std)."})
    method: str = field(default="auto", metadata={"help": "Hierarchy method: auto (nsbm where graph-tool works)."})
    reference: str = field(default="", metadata={"help": "Reference tree (default: the dataset's)."})
    workers: int = field(default=2, metadata={"help": "Processes for the nested SBM runs."})
    device: str = field(default="cpu", metadata={"help": "Training and forward device (cpu, cuda, auto)."})
    threads: int = field(
        default=0,
        metadata={"help": "Torch intra-op threads while the cell runs (0 = torch's default; 1 on a busy CPU)."},
    )


def paper_settings(p: CoactivationHierarchyParams) -> CoactivationHierarchyParams:
    """The cell's parameters with 000's hyperparameters filled in when asked (hyperparameters=000)."""
    if p.hyperparameters != "000":
        return p
    key = (p.dataset, p.model)
    if key not in PAPER_TRAIN:
        raise ValueError(
            f"000 gives no hyperparameters for {p.model} on {p.dataset}; it trained small-cnn, medium-cnn and conv6 "
            "on fashion-mnist and cifar20 (use hyperparameters=given)"
        )
    epochs, lr, decay, batch = PAPER_TRAIN[key]
    conv6 = p.model == "conv6"
    train = replace(
        p.train,
        epochs=epochs,
        lr=lr,
        weight_decay=decay,
        batch_size=batch,
        optimizer="sgd" if conv6 else "adam",
        schedule="cosine" if conv6 else "none",
    )
    return replace(p, train=train, prune_epochs=PAPER_PRUNE[key][0])


def paper_lambda(p: CoactivationHierarchyParams, sparsity: float) -> float:
    """The group-HS weight for a sparsity: 000's Tables 5-7 with hyperparameters=000, else `lam`."""
    if p.hyperparameters == "000" and sparsity in SPARSITIES:
        return PAPER_PRUNE[(p.dataset, p.model)][1][SPARSITIES.index(sparsity)]
    return p.structured.lam


def data_params(p: CoactivationHierarchyParams) -> dict[str, str]:
    """The dataset parameters of the cell."""
    return parse_assignments(p.data_opt, "data_opt")


def reference_for(p: CoactivationHierarchyParams) -> str:
    """The reference tree: the explicit one, the shipped tree of the dataset, or the planted tree; '' = none."""
    if p.reference:
        return p.reference
    if p.dataset in SHIPPED_TREES:
        return p.dataset
    if p.dataset == "planted-tree":
        return f"planted-tree:{data_params(p).get('depth', 3)}"
    return ""


def checkpoint_epochs(epochs: int, points: int) -> tuple[int, ...]:
    """`points` evenly spaced epochs from 0 to `epochs`, rounded, duplicates dropped (fewer when epochs < points)."""
    if points <= 1:
        return (epochs,)
    return tuple(sorted({round(i * epochs / (points - 1)) for i in range(points)}))


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman correlation of two equal-length lists (None when undefined)."""
    from scipy.stats import spearmanr  # deferred: scipy stays out of the pipeline registry's import

    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(spearmanr(a, b)[0])


def train_config(p: CoactivationHierarchyParams, epochs: int, keep: tuple[int, ...] | None) -> TrainConfig:
    """The TrainConfig of the cell: its training settings, with the cell's seed, device, epochs and checkpoints."""
    return replace(p.train, epochs=epochs, checkpoint_epochs=keep, seed=p.seed, device=p.device)


def accuracy(path: Path, data: Any, device: str) -> float:
    """Test accuracy of a checkpoint (masks applied)."""
    from graphstore.nn.checkpoint import load_checkpoint  # deferred: torch
    from graphstore.nn.train import evaluate, resolve_device  # deferred: torch

    dev = resolve_device(device)
    model = load_checkpoint(path).build_model(dev)
    return float(evaluate(model, data, "test" if data.size("test") else "val", 1024, dev)["acc"])


def hierarchy_of(ctx: CellContext, p: CoactivationHierarchyParams, path: Path, label: str) -> dict[str, Any]:
    """Ingest the checkpoint's co-activation graph under the cell's graph id, run the class hierarchy; the row."""
    from graphstore.analysis.hierarchy import HierarchyParams  # deferred: analysis registry
    from graphstore.jobs.analyze import analysis_job  # deferred: jobs load torch and the stores
    from graphstore.jobs.ingest import ExtractOptions, IngestParams  # deferred: as above
    from graphstore.jobs.source import CheckpointSource  # deferred: as above

    opts = (f"coactivation.where={p.where}", f"coactivation.threshold={p.threshold}")
    ingest = ctx.run_job(
        "ingest",
        IngestParams(
            source=CheckpointSource(checkpoint=str(path)),
            graphs="coactivation",
            options=ExtractOptions(split=p.split, limit=p.limit, device=p.device, opt=opts),
            graph_id_prefix=ctx.graph_id(label),
            replace=True,
        ),
    )
    graph = ingest.outcomes[0]
    job = analysis_job("hierarchy")
    method = HierarchyParams(reference=reference_for(p), runs=p.runs, seed=p.seed, workers=p.workers, method=p.method)
    done = job(ctx.job, job.params(graph=graph.graph_id, engine="client", method=method))
    s = done.summary
    row = {
        "graph": graph.graph_id,
        "nodes": graph.nodes,
        "edges": graph.edges,
        "method": s["method"],
        "engine": s["engine"],
        "tree": s["trees"][0],
    }
    if "rf" in s:
        row |= {"rf_mean": s["rf_mean"], "rf_std": s["rf_std"], "rf_normalised": s["rf_normalised_mean"]}
    return row


def labels(p: CoactivationHierarchyParams) -> dict[str, Any]:
    """The columns every row carries whether or not they are grid axes (the tables group by them)."""
    return {"dataset": p.dataset, "model": p.model}


def load_data(ctx: CellContext, p: CoactivationHierarchyParams) -> Any:
    """The cell's dataset (for test accuracies)."""
    from graphstore.nn.datasets import load_dataset  # deferred: torch

    return load_dataset(p.dataset, ctx.job.settings.data_dir, **data_params(p))


def run_training(ctx: CellContext, p: CoactivationHierarchyParams, data: Any) -> None:
    """Train with evenly spaced checkpoints; one `training` row per checkpoint, the last also as sparsity 0."""
    from graphstore.jobs.train import ModelChoice, TrainParams  # deferred: jobs load torch

    epochs = checkpoint_epochs(p.train.epochs, p.checkpoints)
    choice = ModelChoice(model=p.model, dataset=p.dataset, model_opt=p.model_opt, data_opt=p.data_opt)
    out = ctx.run_job("train", TrainParams(choice=choice, train=train_config(p, p.train.epochs, epochs)))
    ctx.link(out.run_id)
    by_epoch = {int(path.stem.rsplit("_", 1)[-1]): path for path in out.saved if path.stem.startswith("epoch_")}
    accs, rfs = [], []
    row: dict[str, Any] = {}
    for epoch in epochs:
        ctx.job.status(f"co-activation hierarchy at epoch {epoch}")
        acc = accuracy(by_epoch[epoch], data, p.device)
        row = {"accuracy": acc, "run_id": int(out.run_id), **hierarchy_of(ctx, p, by_epoch[epoch], f"e{epoch}")}
        ctx.record("training", **labels(p), epoch=epoch, **row)
        accs.append(acc)
        rfs.append(row.get("rf_mean"))
    # 000's sparsity 0 is the converged unpruned net
    ctx.record("pruning", **labels(p), sparsity=0.0, epoch=epochs[-1], **row)
    scored = [r for r in rfs if r is not None]
    if len(scored) == len(rfs):
        ctx.record("accuracy_rf", **labels(p), spearman=spearman(accs, scored), points=len(rfs))


def run_pruning(ctx: CellContext, p: CoactivationHierarchyParams) -> None:
    """Per sparsity: group-HS training, one-shot structured pruning at 70%, fine-tuning; then the hierarchy."""
    from graphstore.jobs.prune import PruneStart, StartModel, StructuredJobParams  # deferred: torch

    start = PruneStart(choice=StartModel(model=p.model, dataset=p.dataset, model_opt=p.model_opt, data_opt=p.data_opt))
    for sparsity in p.sparsities:
        ctx.job.status(f"structured pruning at sparsity {sparsity}")
        params = StructuredJobParams(
            start=start,
            method=replace(p.structured, sparsity=sparsity, lam=paper_lambda(p, sparsity)),
            train=train_config(p, p.prune_epochs or p.train.epochs, ()),
        )
        run = ctx.run_job("prune-structured", params)
        ctx.link(run.run_id)
        final = run.saved[-1]
        row = hierarchy_of(ctx, p, final, f"p{sparsity}")
        acc = run.result.final.get("test_acc")
        ctx.record("pruning", **labels(p), sparsity=sparsity, accuracy=acc, run_id=int(run.run_id), **row)


def run_cell(ctx: CellContext, p: CoactivationHierarchyParams) -> None:
    """Training checkpoints, then the pruned nets; rows in tables training, pruning, accuracy_rf (the cell runner
    caps torch's threads at `threads`)."""
    p = paper_settings(p)
    data = load_data(ctx, p)
    run_training(ctx, p, data)
    if p.sparsities:
        run_pruning(ctx, p)


PIPELINE = PIPELINES.register(
    Pipeline(
        name="coactivation-hierarchy",
        params=CoactivationHierarchyParams,
        run_cell=run_cell,
        datasets=lambda p: [(p.dataset, data_params(p))],
    )
)
