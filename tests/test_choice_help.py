"""--model / --dataset help (read by --help without importing torch) names every registered model and dataset."""

from __future__ import annotations

import dataclasses

from graphstore.jobs.train import ModelChoice
from graphstore.nn.datasets import DATASETS
from graphstore.nn.models import MODELS


def _help(name: str) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(ModelChoice) if f.name == name)


def test_model_help_names_every_registered_model() -> None:
    missing = [m for m in MODELS.names() if m not in _help("model")]
    assert not missing, f"add {missing} to ModelChoice.model's help text"


def test_dataset_help_names_every_registered_dataset() -> None:
    missing = [d for d in DATASETS.names() if d not in _help("dataset")]
    assert not missing, f"add {missing} to ModelChoice.dataset's help text"
