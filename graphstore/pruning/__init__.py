"""Pruning methods (docs/METHODS.md B, E, F): imp, topology (T-IMP), structured, sculpt, layers.

The parameter dataclasses live in graphstore.pruning.params (torch-free, re-exported here); shared run
plumbing is graphstore.pruning.common.
"""

from __future__ import annotations

from graphstore.pruning.params import (
    CONV_NORMS,
    LAYER_CHOICES,
    REWINDS,
    SCOPES,
    ImpParams,
    LayerPruneParams,
    SculptConfig,
    StructuredConfig,
    TopologyImpParams,
)

__all__ = [
    "CONV_NORMS",
    "LAYER_CHOICES",
    "REWINDS",
    "SCOPES",
    "ImpParams",
    "LayerPruneParams",
    "SculptConfig",
    "StructuredConfig",
    "TopologyImpParams",
]
