"""`gs.extract(model, data, kind, **params)` and the API's graph kinds: graphstore.extract.model_kinds, the code
`graphstore ingest --model` runs too (so the command line and Python store the same graphs)."""

from graphstore.extract.model_kinds import (
    HOOK_OPTIONS,
    KINDS,
    Kind,
    UnknownKind,
    build,
    check_model,
    checked_forward,
    extract,
    get_kind,
)

__all__ = [
    "HOOK_OPTIONS",
    "KINDS",
    "Kind",
    "UnknownKind",
    "build",
    "check_model",
    "checked_forward",
    "extract",
    "get_kind",
]
