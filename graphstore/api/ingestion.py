"""`gs.ingest(model, data, kinds=...)`: the one call at the end of anyone's training loop.

It extracts the asked kinds from the model, stores them, and (with `tracking=True`) records a run of kind "ingest"
whose parameters say exactly what was ingested: the model's class and source (`module:qualname`), its parameter
count, the SHA-256 of its state dict, the dataset (class, length, registry spec) and every kind's parameters. The
graphs carry the run id. Kinds, parameters, graph ids, the data's first input and the model's trace are checked
before the first write, and an id already stored is refused unless `replace=True`, so a mistake overwrites nothing.
The work is graphstore.jobs.model_ingest, which `graphstore ingest --model` runs too: both store the same graphs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from graphstore.api.session import Session, connect
from graphstore.extract.model_data import resolve_data
from graphstore.extract.model_kinds import check_model
from graphstore.jobs.model_ingest import DEFAULT_KINDS, RUN_KIND, ingest_model, model_record, plan, state_dict_sha256
from graphstore.store.base import GraphInfo

__all__ = ["DEFAULT_KINDS", "RUN_KIND", "ingest", "model_record", "plan", "state_dict_sha256"]


def ingest(
    model: nn.Module,
    data: Any,
    kinds: str | Iterable[str] = DEFAULT_KINDS,
    prefix: str | None = None,
    name: str | None = None,
    tracking: bool = True,
    *,
    replace: bool = False,
    session: Session | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    split: str = "test",
    data_dir: str | Path | None = None,
    **options: Any,
) -> list[GraphInfo]:
    """Extract `kinds` of `model` over `data`, store them (ids <prefix>-<kind>) and record the run; returns the
    stored graphs' infos. `options` (layers=, latent=, limit=, k=, device=, ...) go to every kind that takes them,
    `params={kind: {...}}` to one kind; `session` defaults to gs.connect()."""
    check_model(model)
    planned = plan(kinds, options, params or {})
    source = resolve_data(data, split=split, data_dir=data_dir)
    db = connect() if session is None else session
    try:
        written = ingest_model(
            db.connections, model, source, planned, prefix=prefix, name=name, tracking=tracking, replace=replace
        )
    finally:
        if session is None:
            db.close()
    return [w.info for w in written]
