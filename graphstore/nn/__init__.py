"""Models, datasets, training, checkpoints; names resolve lazily (`import graphstore.nn` skips torch).

from graphstore.nn import load_dataset, make_model, train, TrainConfig, load_checkpoint
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelSpec": "graphstore.nn.models",
    "build_model": "graphstore.nn.models",
    "make_model": "graphstore.nn.models",
    "model_spec": "graphstore.nn.models",
    "MODELS": "graphstore.nn.models",
    "DataInfo": "graphstore.nn.datasets",
    "DatasetSpec": "graphstore.nn.datasets",
    "LoadedDataset": "graphstore.nn.datasets",
    "load_dataset": "graphstore.nn.datasets",
    "dataset_spec": "graphstore.nn.datasets",
    "DATASETS": "graphstore.nn.datasets",
    "Checkpoint": "graphstore.nn.checkpoint",
    "load_checkpoint": "graphstore.nn.checkpoint",
    "save_checkpoint": "graphstore.nn.checkpoint",
    "make_checkpoint": "graphstore.nn.checkpoint",
    "find_checkpoint": "graphstore.nn.checkpoint",
    "checkpoint_path": "graphstore.nn.checkpoint",
    "list_checkpoints": "graphstore.nn.checkpoint",
    "apply_masks": "graphstore.nn.checkpoint",
    "TrainConfig": "graphstore.nn.config",
    "train": "graphstore.nn.train",
    "evaluate": "graphstore.nn.train",
    "Callback": "graphstore.nn.train",
    "CheckpointSaver": "graphstore.nn.train",
    "seed_everything": "graphstore.nn.train",
    "RunLog": "graphstore.nn.run_log",
    "tracked_run": "graphstore.nn.run_log",
    "TrackedTraining": "graphstore.nn.tracked",
    "train_tracked": "graphstore.nn.tracked",
    "boolean_task": "graphstore.nn.datasets.boolean_modular",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'graphstore.nn' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
