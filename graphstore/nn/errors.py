"""Errors of the nn layer (models, datasets, checkpoints, training); each names the fix in its hint."""

from __future__ import annotations

from graphstore.errors import GraphstoreError, IngestError, InvalidParams
from graphstore.registry import UnknownName

__all__ = [
    "CheckpointError",
    "DataDoesNotFit",
    "DatasetInvalid",
    "DatasetMissing",
    "InvalidParams",
    "ModelDoesNotFit",
    "UnknownName",
]


class ModelDoesNotFit(GraphstoreError):
    """A model cannot run on a dataset's input shape (e.g. too many pools for the image size)."""


class DataDoesNotFit(IngestError):
    """A dataset cannot feed a model: another input shape, or another number of classes than outputs."""


class DatasetMissing(GraphstoreError):
    """A dataset's files are not on disk; the message names the expected files and where."""


class DatasetInvalid(GraphstoreError):
    """A dataset's files exist but do not parse as the expected format."""


class CheckpointError(GraphstoreError):
    """A checkpoint is missing, corrupt, foreign, or does not match its model."""
