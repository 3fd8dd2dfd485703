"""Pipelines nest TrainConfig and the pruning method dataclasses (issue 20 item 3): nested keys (`train.lr`), flat
keys where one field has the name, ambiguous flat keys refused, defaults from TrainConfig, shipped plans unchanged.

tests/experiment_plans_before.json holds every shipped definition's cells as planned before the nesting (smoke
scale, and paper where it is small): each cell's flat parameters and the job parameters its cell derives (the
TrainConfig, IMP, structured, layer and sculpting parameters handed to the jobs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from graphstore.errors import InvalidParams
from graphstore.experiments.base import PIPELINES, Pipeline
from graphstore.experiments.definition import find_definition, load_definition
from graphstore.experiments.pipelines import latent_graphs
from graphstore.experiments.plan import UnknownSetting, make_plan
from graphstore.nn.config import TrainConfig
from graphstore.params import AmbiguousKey, from_nested, resolve_key, to_dict
from graphstore.pruning.params import ImpParams

BEFORE = json.loads((Path(__file__).parent / "experiment_plans_before.json").read_text())


def plan_of(name: str, scale: str = "smoke", *sets: str) -> Any:
    definition = find_definition(name)
    return make_plan(definition, PIPELINES.get(definition.pipeline), scale, sets)


def test_nested_keys_parse() -> None:
    cell = plan_of("latent-graphs", "smoke", "train.lr=0.01", "imp.rounds=2").cells[0]
    assert cell.params.train.lr == 0.01 and cell.params.imp.rounds == 2
    assert cell.params.train.epochs == 3  # the definition's flat `epochs` still lands in train.epochs
    assert to_dict(cell.params)["train"]["lr"] == 0.01  # recorded nested


def test_flat_keys_still_work_and_match_the_nested_spelling() -> None:
    flat = plan_of("imp-topology", "smoke", "lr=0.02", "rounds=4", "scope=global")
    nested = plan_of("imp-topology", "smoke", "train.lr=0.02", "imp.rounds=4", "imp.scope=global")
    assert [c.params for c in flat.cells] == [c.params for c in nested.cells]
    assert flat.cells[0].params.train.lr == 0.02 and flat.cells[0].params.imp.scope == "global"
    assert [c.fingerprint for c in flat.cells] == [c.fingerprint for c in nested.cells]
    renamed = plan_of("latent-graphs", "smoke", "prune_layers=all")  # a flat key kept as an alias of imp.layers
    assert renamed.cells[0].params.imp.layers == "all"


def test_a_set_on_a_grid_axis_by_its_nested_name_replaces_the_axis_and_keeps_its_name() -> None:
    plan = plan_of("imp-topology", "smoke", "train.seed=3,4")
    assert plan.axes["seed"] == [3, 4] and [c.key for c in plan.cells][:2] == ["arch=fcn,seed=3", "arch=fcn,seed=4"]
    assert [c.params.train.seed for c in plan.cells] == [3, 4, 3, 4]
    with pytest.raises(UnknownSetting, match="given 2 times"):
        plan_of("imp-topology", "smoke", "lr=0.1", "train.lr=0.2")


def test_a_field_the_cell_sets_itself_is_not_a_key() -> None:
    with pytest.raises(UnknownSetting, match="train.seed") as refused:
        plan_of("latent-graphs", "smoke", "train.seed=1")  # the cell's seed (A) and seed + pair_offset (B)
    assert "train.lr=0.001" in (refused.value.hint or "")  # the hint lists the nested keys with defaults
    with pytest.raises(UnknownSetting, match="nope"):
        plan_of("latent-graphs", "smoke", "train.nope=1")


@dataclass(frozen=True)
class Inner:
    """A nested dataclass with a field named like one of TrainConfig's."""

    gamma: float = field(default=0.5, metadata={"help": "Not the decay factor."})


@dataclass(frozen=True)
class Outer:
    """Two nested dataclasses that both have `gamma`."""

    train: TrainConfig = field(default_factory=TrainConfig)
    other: Inner = field(default_factory=Inner)
    seed: int = field(default=0, metadata={"help": "A field of the outer dataclass."})


def test_an_ambiguous_flat_key_is_refused_naming_the_candidates(tmp_path: Path) -> None:
    with pytest.raises(AmbiguousKey) as ambiguous:
        resolve_key(Outer, "gamma")
    assert "train.gamma" in ambiguous.value.message and "other.gamma" in ambiguous.value.message
    assert resolve_key(Outer, "seed") == ("seed",)  # the outer field wins over train.seed
    built = from_nested(Outer, {"train.gamma": "0.2", "other.gamma": 0.7, "lr": "0.5"}, "outer")
    assert (built.train.gamma, built.other.gamma, built.train.lr, built.train.seed) == (0.2, 0.7, 0.5, 0)
    with pytest.raises(InvalidParams, match="lr must be positive"):
        from_nested(Outer, {"lr": -1}, "outer")
    pipeline = Pipeline("test-ambiguous", Outer, lambda ctx, p: None)
    path = tmp_path / "amb.toml"
    path.write_text(
        'name = "amb"\npipeline = "test-ambiguous"\ndocument = "t"\ntitle = "t"\n[params]\ngamma = 0.3\n'
        "[smoke]\ngrid = { seed = [0] }\n"
    )
    with pytest.raises(UnknownSetting, match="ambiguous") as refused:
        make_plan(load_definition(path), pipeline, "smoke")
    assert "train.gamma and other.gamma" in refused.value.message and "train.gamma" in (refused.value.hint or "")
    with pytest.raises(UnknownSetting, match="ambiguous"):
        make_plan(load_definition(path), pipeline, "smoke", ("other.gamma=1",))  # the definition's key still is


def test_defaults_come_from_train_config(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclass(frozen=True)
    class SlowTrainConfig(TrainConfig):
        """TrainConfig with another default learning rate and optimiser."""

        lr: float = field(default=0.123, metadata={"help": "Learning rate."})
        optimizer: str = field(default="sgd", metadata={"help": "Optimiser.", "choices": ("adam", "sgd")})

    before = plan_of("latent-graphs").cells[0].params.train
    assert (before.lr, before.optimizer) == (TrainConfig().lr, TrainConfig().optimizer)
    monkeypatch.setattr(latent_graphs, "TrainConfig", SlowTrainConfig)
    p = plan_of("latent-graphs", "smoke", "momentum=0.5").cells[0].params
    assert isinstance(p.train, SlowTrainConfig) and (p.train.lr, p.train.optimizer, p.train.momentum) == (
        0.123,
        "sgd",
        0.5,
    )
    assert latent_graphs.train_config(p, 7, (1,), early=False).lr == 0.123  # and into the train job's config


def derived(name: str, p: Any) -> dict[str, Any]:
    """The job parameters a cell of each pipeline hands to its jobs (as recorded in experiment_plans_before.json)."""
    from graphstore.experiments.pipelines import coactivation_hierarchy as co
    from graphstore.experiments.pipelines import sculpting_modules as sc

    if name == "latent-graphs":
        config = latent_graphs.train_config
        return {
            "train_A": to_dict(config(p, p.seed, (1, 2), early=False)),
            "train_B": to_dict(config(p, p.seed + p.pair_offset, (1, 2), early=False)),
            "train_early": to_dict(config(p, p.seed, (), early=True)),
            "imp": [to_dict(replace(p.imp, rate=r)) for r in p.rates],
        }
    if name == "imp-topology":
        out = {"train": to_dict(p.train), "imp": to_dict(p.imp), "timp": to_dict(p.timp())}
        return out | {"model": list(p.model()), "model_e": list(p.model(True))}
    if name == "layer-pruning":
        out = {"train": to_dict(p.train_config()), "retrain": to_dict(p.train_config(retrain=True))}
        return out | {"method": {w: to_dict(p.method(w)) for w in p.weights}}
    if name == "coactivation-hierarchy":
        try:
            q = co.paper_settings(p)
        except ValueError as exc:
            return {"paper_error": str(exc)}
        return {
            "train": to_dict(co.train_config(q, q.train.epochs, co.checkpoint_epochs(q.train.epochs, q.checkpoints))),
            "prune_train": to_dict(co.train_config(q, q.prune_epochs or q.train.epochs, ())),
            "structured": [to_dict(replace(q.structured, sparsity=s, lam=co.paper_lambda(q, s))) for s in q.sparsities],
            "reference": co.reference_for(q),
        }
    if name == "sculpting-modules":
        trial = sc.trial_params(p)
        return {"method": to_dict(trial.method), "detection": to_dict(trial.detection)}
    return {}


def value_at(params: Any, key: str) -> Any:
    """The value of the field a (flat) key of the old plan names in the nested parameters."""
    value = params
    for name in resolve_key(type(params), key):
        value = getattr(value, name)
    return json.loads(json.dumps(value, default=str))


@pytest.mark.parametrize("plan_name", sorted(BEFORE))
def test_each_shipped_definition_builds_the_same_plan(plan_name: str) -> None:
    name, scale = plan_name.split(":")
    sets = ("graph=g",) if name == "hierarchy-runs" and scale == "paper" else ()
    plan = plan_of(name, scale, *sets)
    before = BEFORE[plan_name]
    assert sorted(c.key for c in plan.cells) == sorted(before)  # the same cells
    for cell in plan.cells:
        old = before[cell.key]
        assert {k: value_at(cell.params, k) for k in old["params"]} == old["params"], cell.key
        assert json.loads(json.dumps(derived(name, cell.params), default=str)) == old["derived"], cell.key


def test_imp_topology_prunes_both_methods_alike() -> None:
    p = plan_of("imp-topology").cells[0].params
    assert isinstance(p.imp, ImpParams) and to_dict(p.timp()) == {**to_dict(p.imp), "conv_norm": "l1"}
