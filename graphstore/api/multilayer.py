"""The multilayer patch networks of a model given in Python: graphstore.extract.model_multilayer."""

from graphstore.extract.model_multilayer import (
    OTHER_KINDS,
    labelled_batches,
    multilayer_of_model,
    require_chain,
    why_not_chain,
)

__all__ = ["OTHER_KINDS", "labelled_batches", "multilayer_of_model", "require_chain", "why_not_chain"]
