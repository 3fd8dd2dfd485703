"""The job layer: one checkpoint source, the jobs registry, the CLI adapter's option generation."""

from __future__ import annotations

import dataclasses

import pytest

from graphstore.cli.adapter import build, parameters
from graphstore.jobs.base import JOBS
from graphstore.jobs.source import CheckpointSource, SourceError
from graphstore.nn.errors import InvalidParams


def test_checkpoint_source_refuses_ambiguous_or_missing(tmp_path) -> None:
    with pytest.raises(SourceError, match="not both"):
        CheckpointSource(checkpoint="a.pt", run=1).resolve(tmp_path)
    with pytest.raises(SourceError, match="No checkpoint given"):
        CheckpointSource().resolve(tmp_path)
    with pytest.raises(SourceError, match="does not exist"):
        CheckpointSource(checkpoint=str(tmp_path / "nope.pt")).resolve(tmp_path)
    with pytest.raises(SourceError, match="--epoch and --round select"):
        CheckpointSource(checkpoint=str(tmp_path / "nope.pt"), epoch=2).resolve(tmp_path)


def test_every_job_is_registered_and_builds_its_options() -> None:
    names = JOBS.names()
    assert {"ingest", "extract", "noise", "topology", "modules", "compare"} <= set(names)
    for spec in JOBS.entries():
        options = parameters(spec.params)
        assert len({p.name for p in options}) == len(options)
        required = [p for p in options if getattr(p.default, "default", None) is ...]
        if required:
            with pytest.raises(InvalidParams, match="Invalid parameters"):
                build(spec.params, {}, spec.name)
        else:
            assert dataclasses.is_dataclass(build(spec.params, {}, spec.name))


def test_unknown_job_offers_close_matches() -> None:
    with pytest.raises(Exception, match="Did you mean ingest"):
        JOBS.get("injest")


def test_nested_values_reach_their_dataclass() -> None:
    from graphstore.jobs.checkpoint_reports import NoiseJobParams

    params = build(NoiseJobParams, {"run": 3, "epoch": 2, "k": 4, "p": "0,0.1"}, "noise")
    assert params.source == CheckpointSource(run=3, epoch=2)
    assert params.method.k == 4 and params.method.p == (0.0, 0.1)
