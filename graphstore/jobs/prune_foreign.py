"""`graphstore prune imp|topology --model MODULE:CALLABLE --weights FILE [--init-weights FILE] --dataset D`.

The model is built and its weights checked as `graphstore ingest --model` does (graphstore.nn.foreign); the data
is any --dataset ingest takes (a registry name, a torchvision class, MODULE:CALLABLE returning a Dataset), split
for retraining by graphstore.pruning.foreign_data; graphstore's training loop retrains each round (--optimizer,
--epochs, --lr, ... as for registry datasets) and logs loss and accuracy per round.
The run records the model (class, source, parameter count, state-dict digest), the weights files' digests, the
dataset and the method; each round's weights and masks are files of the run (graphstore.pruning.foreign_run), and
`graphstore ingest --run ID [--round R]` turns a round into graphs (graphstore.jobs.ingest_pruned).
The other pruning methods refuse a foreign model by name (`registry_only`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graphstore.extract.model_kinds import checked_forward
from graphstore.jobs.base import JobContext
from graphstore.jobs.model_ingest import model_record
from graphstore.names import slug
from graphstore.nn.foreign import fit_weights, load_foreign_model, parse_options
from graphstore.nn.train import config_dict
from graphstore.nn.weights_file import read_weights
from graphstore.params import to_dict
from graphstore.pruning.common import PruningError
from graphstore.pruning.foreign_data import retraining_data, spec_of
from graphstore.pruning.foreign_run import ForeignPrune, ForeignPruneRun, run_foreign


def is_foreign(choice: Any) -> bool:
    """Whether the start's --model is a MODULE:CALLABLE (or --weights was given): a network nobody here wrote."""
    return (choice.model is not None and ":" in choice.model) or choice.weights is not None


def registry_only(choice: Any, method: str) -> None:
    """Refuse --model MODULE:CALLABLE / --weights for a method defined on the registry's architectures only."""
    if is_foreign(choice):
        raise PruningError(
            f"prune {method} is defined on graphstore's registry models; --model {choice.model} --weights is not one.",
            "Foreign networks take `graphstore prune imp` or `prune topology` (or gs.prune.imp in Python); "
            f"prune {method} takes a checkpoint, --run ID or --model NAME of the registry (graphstore train --list).",
        )


def foreign_start(context: JobContext, choice: Any, params: Any) -> ForeignPrune:
    """The model with its trained weights, theta_0 (--init-weights) or None, the data and the record."""
    if params.start.source.given:
        raise PruningError("Give a checkpoint (path or --run) or --model/--weights, not both.", "Drop one of them.")
    if params.nproc > 1:
        raise PruningError(
            "--nproc trains graphstore's registry models under torchrun; a foreign model trains in one process.",
            "Drop --nproc.",
        )
    if choice.model is not None and ":" not in choice.model:
        raise PruningError(
            f"--weights is for a --model MODULE:CALLABLE; {choice.model} is a registry model, trained from scratch.",
            "Drop --weights (and --init-weights), or start from a graphstore checkpoint: a path or --run ID.",
        )
    if choice.model is None or choice.weights is None:
        raise PruningError(
            "A foreign model needs --model MODULE:CALLABLE and --weights FILE (its trained state dict).",
            "Example: --model torchvision.models:resnet18 --model-opt num_classes=10 --weights trained.pt",
        )
    data = retraining_data(spec_of(choice.dataset, choice.data_opt), context.settings.data_dir)
    loaded = load_foreign_model(choice.model, parse_options(choice.model_opt, "--model-opt"), choice.weights)
    check_fits(loaded.model, data, choice.model)
    record: dict[str, Any] = {"model": model_record(loaded.model, choice.model), **loaded.record()}
    theta0 = None
    if choice.init_weights is not None:
        init = read_weights(choice.init_weights)
        fit_weights(loaded.model, init, choice.model)  # checks the file fits; the trained weights go back below
        theta0 = {k: v.detach().clone() for k, v in loaded.model.state_dict().items()}
        fit_weights(loaded.model, loaded.weights, choice.model)
        record["init_weights"] = init.record()
    record.update(
        {"method": to_dict(params.method), "train": config_dict(params.train), "dataset": data.spec.to_dict()}
    )
    record["data_splits"] = data.meta.get("splits", {})
    name = f"{type(loaded.model).__name__.lower()}-{slug(data.spec.name)}"
    spec = {"model": choice.model, "model_opt": list(choice.model_opt), "dataset": data.spec.to_dict()}
    return ForeignPrune(loaded.model.train(), theta0, data, record, name, spec)


def check_fits(model: nn.Module, data: Any, spec: str) -> None:
    """Before the run starts: the model runs on two samples (a wrong input shape named) and gives one logit per
    class of the data at least (the training loss needs them)."""
    x = next(iter(data.loader("test", batch_size=2)))[0]
    checked_forward(model, x)
    with torch.no_grad():
        out = model.eval()(x)
    classes = data.info.num_classes
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] < classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PruningError(
            f"{spec} gives {got} for a batch of 2; retraining on {data.info.name} needs (batch, {classes}) logits.",
            f"Build it for {classes} classes (e.g. --model-opt num_classes={classes}), or prune in Python with your "
            "own train_fn (gs.prune.imp).",
        )


def run_foreign_rounds(context: JobContext, params: Any, on_round: Any) -> ForeignPruneRun:
    """IMP or T-IMP of the foreign model as a tracked run; a note names the command that ingests the last round."""
    choice = params.start.choice
    job = foreign_start(context, choice, params)
    settings = context.settings
    run = run_foreign(
        job, params.method, params.train, settings.data_dir, settings.tracking_url, context.progress, on_round
    )
    context.note(f"ingest the last round: graphstore ingest --run {run.run_id} (or --round R for another)")
    return run
