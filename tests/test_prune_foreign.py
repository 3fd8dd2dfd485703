"""Pruning any PyTorch model (issue 21 item 4): gs.prune's magnitude masks, IMP and T-IMP on torchvision's resnet18
(random weights, small random inputs, layer1's convs) and on a plain nn.Sequential MLP trained briefly on the
shipped digits, with the user's own train_fn; mask files with a SHA-256; structured and layer pruning refusing a
foreign model by name; and `graphstore prune imp --model MODULE:CALLABLE --weights FILE` end to end (a subprocess
per command): the run's last round ingested on the embedded store + SQLite and on Neo4j + PostgreSQL (by `ingest
--run` and by `ingest --model`; tests/test_foreign_prune_data.py has the other datasets and `ingest --run`'s checks).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import textwrap
import types
import uuid
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import TensorDataset

import graphstore as gs
from graphstore.nn.checkpoint import digest_path
from graphstore.nn.config import TrainConfig
from graphstore.nn.datasets import load_dataset
from graphstore.pruning.common import PruningError
from graphstore.pruning.msf import mst_keep_masks
from graphstore.pruning.structured import StructuredConfig, structured_prune
from tests.test_bad_input import interrupted, wait_for
from tests.test_foreign_cli import BACKENDS, CLI, cli, connect, drop_prefixed, settings_env

torch.set_num_threads(1)
LAYER1 = ["layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2"]
MODULE = textwrap.dedent(
    '''
    """A user's own network for digits at 8x8 (test_prune_foreign)."""
    import torch
    from torch import nn


    def mlp(hidden=32, classes=10):
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    '''
)


def mlp() -> nn.Module:
    """The MLP of MODULE, built here (same seed, same weights)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture(scope="module")
def digits():
    """The shipped digits at 8x8: (train x, train y, test x, test y)."""
    data = load_dataset("digits", size=8)
    return (*data.tensors("train"), *data.tensors("test"))


def trainer(x: torch.Tensor, y: torch.Tensor, steps: int, test: tuple | None = None, lr: float = 0.1):
    """A user's train_fn: SGD with momentum and weight decay on ONE optimiser kept across rounds (its momentum
    would revive pruned weights if the masks were not held), full batch, `steps` steps; returns loss (and test acc)."""
    state: dict[str, torch.optim.Optimizer] = {}

    def train_fn(model: nn.Module) -> dict[str, float]:
        opt = state.setdefault("opt", torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3))
        model.train()
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        out = {"loss": loss.item()}
        if test is not None:
            with torch.no_grad():
                out["test_acc"] = float((model.eval()(test[0]).argmax(1) == test[1]).float().mean())
        return out

    return train_fn


def alive_after(total: int, rate: float, rounds: int) -> int:
    """Survivors after `rounds` global steps, each dropping round(rate x survivors): the exact schedule."""
    alive = total
    for _ in range(rounds):
        alive -= round(rate * alive)
    return alive


def kept(masks: dict, keys: list[str]) -> int:
    return sum(int(masks[k].sum()) for k in keys)


def test_magnitude_masks_are_pure_and_follow_the_scope():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    per_layer = gs.prune.magnitude_masks(model, 0.3, layers="layer1.*", scope="layer")
    assert sorted(per_layer) == [f"{n}.weight" for n in LAYER1]
    for name, module in model.named_modules():
        if name in LAYER1:
            w, m = module.weight.detach(), per_layer[f"{name}.weight"]
            assert int((~m).sum()) == round(0.3 * w.numel())  # per layer: exactly the rate of each
            assert w[~m].abs().max() <= w[m].abs().min()  # the smallest |w| go
    overall = gs.prune.magnitude_masks(model, 0.3, layers=["layer1.*"])
    total = sum(m.numel() for m in overall.values())
    assert sum(int((~m).sum()) for m in overall.values()) == round(0.3 * total)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # pure: nothing changed
    with pytest.raises(gs.LayerPatternError, match="layer9"):
        gs.prune.magnitude_masks(model, 0.3, layers="layer9.*")


def test_resnet18_imp_schedule_masks_held_and_rewind():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    step, seen, keys = trainer(x, y, steps=2, lr=0.05), [], [f"{n}.weight" for n in LAYER1]
    current: dict[str, torch.Tensor] = {}
    by_round: list[dict[str, torch.Tensor]] = []
    zero_in_forward: list[bool] = []

    def check(module: nn.Module, _inputs, _output) -> None:  # the forward sees the masked weights
        mask = current.get("layer1.0.conv1.weight")
        if mask is not None:
            zero_in_forward.append(bool((module.weight[~mask] == 0).all()))

    def train_fn(net: nn.Module) -> dict[str, float]:
        seen.append({k: v.clone() for k, v in net.state_dict().items()})  # the weights each round starts from
        return step(net)

    def on_round(record, net, masks) -> None:
        current.update(masks)
        by_round.append(dict(masks))
        params = dict(net.named_parameters())
        assert all((params[k][~masks[k]] == 0).all() for k in keys), "masks applied after train_fn"

    model.layer1[0].conv1.register_forward_hook(check)
    result = gs.prune.imp(model, train_fn, rounds=3, rate=0.3, layers="layer1.*", on_round=on_round)
    total = sum(theta0[k].numel() for k in keys)
    assert [r.round for r in result.rounds] == [0, 1, 2, 3]
    for r in result.rounds:
        assert r.sparsity == pytest.approx(gs.prune.expected_sparsity(0.3, r.round), abs=1 / total)
        assert r.sparsity == 1 - alive_after(total, 0.3, r.round) / total
    assert kept(result.masks, keys) == alive_after(total, 0.3, 3)
    assert zero_in_forward and all(zero_in_forward[2:])  # rounds 1.. : every forward saw zeros where masked
    # rewind: round r starts from theta_0 * its masks on the chosen weights, and from theta_0 everywhere else
    assert not torch.equal(seen[0]["layer1.0.conv1.weight"], dict(model.named_parameters())["layer1.0.conv1.weight"])
    for r in (1, 2, 3):
        for key, value in theta0.items():
            expected = value * by_round[r][key] if key in keys else value
            assert torch.equal(seen[r][key], expected), (r, key)
    assert "conv1.weight" not in result.masks and "fc.weight" not in result.masks
    assert all(torch.equal(result.theta0[k], v) for k, v in theta0.items())


def test_attention_out_proj_is_masked_in_every_forward():
    """nn.MultiheadAttention reads out_proj.weight without calling out_proj: the masks still hold in its forward."""
    torch.manual_seed(0)
    model = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    x, target = torch.randn(8, 5, 16), torch.randn(8, 5, 16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    seen: list[bool] = []

    def train_fn(net: nn.Module) -> None:
        held["pruned"] = net.self_attn.out_proj.weight == 0  # the round's masks are applied when train_fn starts
        for _ in range(3):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), target).backward()
            opt.step()

    def check(module: nn.Module, _inputs) -> None:
        seen.append(bool((module.out_proj.weight[held["pruned"]] == 0).all()))

    held: dict[str, torch.Tensor] = {}
    model.self_attn.register_forward_pre_hook(check)
    result = gs.prune.imp(model, train_fn, rounds=2, rate=0.5)
    assert result.layers == ["self_attn.out_proj", "linear1", "linear2"]
    assert int(held["pruned"].sum()) > 0  # out_proj lost weights by round 2
    assert len(seen) == 9 and all(seen)


def test_mlp_on_digits_imp_learns_and_keeps_bias_and_unchosen_layers():
    data = load_dataset("digits", size=8)
    x, y, tx, ty = (*data.tensors("train"), *data.tensors("test"))
    model = mlp()
    result = gs.prune.imp(model, trainer(x, y, steps=60, test=(tx, ty)), rounds=2, rate=0.5, layers="1")
    assert list(result.masks) == ["1.weight"] and result.layers == ["1"]
    assert [round(r.sparsity, 6) for r in result.rounds] == [0.0, 0.5, 0.75]
    assert result.rounds[0].metrics["test_acc"] > 0.6  # trained briefly, it learns
    assert result.rounds[-1].metrics["test_acc"] > 0.5
    assert int((model[1].weight == 0).sum()) >= 0.75 * model[1].weight.numel()
    assert int((model[3].weight == 0).sum()) == 0 and int((model[1].bias == 0).sum()) == 0  # not pruned


def test_topology_imp_keeps_each_rounds_spanning_forest(digits):
    x, y = digits[0], digits[1]
    model, forced, by_round = mlp(), [], []

    def on_round(record, net, masks) -> None:
        layers = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)]
        forced.append(mst_keep_masks(layers, masks)[0])
        by_round.append(dict(masks))

    result = gs.prune.topology_imp(model, trainer(x, y, steps=20), rounds=3, rate=0.4, on_round=on_round)
    assert all("np" in r.metrics and "overlap" in r.metrics for r in result.rounds)
    total = 64 * 32 + 32 * 10
    for r in result.rounds:
        assert r.sparsity == 1 - alive_after(total, 0.4, r.round) / total
    for r in (1, 2, 3):  # round r's pruning kept every edge of round r-1's maximum spanning forest
        for key, keep in forced[r - 1].items():
            assert int(keep.sum()) > 0 and bool((by_round[r][key] | ~keep).all()), (r, key)


def test_saved_masks_reapply_identically_and_tampering_is_refused(tmp_path):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    masks = gs.prune.magnitude_masks(model, 0.5, layers="layer1.*,fc")
    path = gs.prune.save_masks(masks, tmp_path / "masks.pt")
    assert digest_path(path).is_file()
    gs.prune.apply_masks(model, masks)
    torch.manual_seed(7)
    fresh = torchvision.models.resnet18(num_classes=10)
    fresh.load_state_dict(theta0)
    loaded = gs.prune.apply_masks(fresh, path)
    assert loaded.keys() == masks.keys() and all(torch.equal(loaded[k], masks[k]) for k in masks)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True))

    data = bytearray(path.read_bytes())
    tampered = tmp_path / "tampered.pt"
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    digest_path(tampered).write_text(digest_path(path).read_text())
    with pytest.raises(PruningError, match="SHA-256"):
        gs.prune.load_masks(tampered)
    bare = tmp_path / "bare.pt"
    bare.write_bytes(path.read_bytes())
    with pytest.raises(PruningError, match="no SHA-256 sidecar") as err:
        gs.prune.apply_masks(fresh, bare)
    assert "sha256sum" in (err.value.hint or "")


def test_mask_files_never_run_code_and_must_fit_the_model(tmp_path):
    pickled = tmp_path / "module.pt"
    torch.save(mlp(), pickled)  # a whole module, not masks: loading it would unpickle code
    digest_path(pickled).write_text(f"{hashlib.sha256(pickled.read_bytes()).hexdigest()}  module.pt\n")
    with pytest.raises(PruningError, match="not a readable mask file"):
        gs.prune.load_masks(pickled)
    path = gs.prune.save_masks(gs.prune.magnitude_masks(mlp(), 0.5), tmp_path / "mlp_masks.pt")
    with pytest.raises(PruningError, match="names no parameter") as err:
        gs.prune.apply_masks(torchvision.models.resnet18(num_classes=10), path)
    assert "another architecture" in (err.value.hint or "")
    wide = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
    with pytest.raises(PruningError, match=r"'1.weight' is \(32, 64\) but the parameter is \(48, 64\)"):
        gs.prune.apply_masks(wide, path)


def test_bad_arguments_are_named():
    model = mlp()
    with pytest.raises(PruningError, match=r"rate=1.5 is not in \[0, 1\)"):
        gs.prune.magnitude_masks(model, 1.5)
    with pytest.raises(PruningError, match="Unknown rewind 'epoch'"):
        gs.prune.imp(model, lambda m: None, rewind="epoch")
    with pytest.raises(PruningError, match="not a dict of metrics"):
        gs.prune.imp(model, lambda m: 0.9, rounds=1)  # type: ignore[arg-type, return-value]
    with pytest.raises(PruningError, match="no Linear or Conv layer"):
        gs.prune.magnitude_masks(nn.Sequential(nn.ReLU()), 0.5)


def test_structured_and_layer_pruning_refuse_a_foreign_model_by_name():
    from graphstore.pruning.common import Start
    from graphstore.pruning.layers import LayerPruneParams, prune_layers

    data = load_dataset("digits", size=8, limit=64)
    with pytest.raises(PruningError, match="registry models .*mlp.*small-cnn") as err:
        structured_prune(mlp(), data, StructuredConfig(0.5, prune_epoch=1), TrainConfig(epochs=1))
    assert "gs.prune.imp" in (err.value.hint or "")
    with pytest.raises(PruningError, match="Layer pruning is defined on graphstore's registry models"):
        prune_layers(Start(mlp(), data, {}), LayerPruneParams(), TrainConfig(epochs=0), ".", None)


# ---- the command line ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> types.SimpleNamespace:
    """The user's module (pmods.py on its own folder), its initial and briefly trained weights, a pickled module."""
    root = tmp_path_factory.mktemp("prune_foreign")
    (root / "mods").mkdir()
    (root / "mods" / "pmods.py").write_text(MODULE)
    data = load_dataset("digits", size=8)
    model = mlp()
    torch.save(model.state_dict(), root / "init.pt")
    trainer(*data.tensors("train"), steps=30)(model)
    torch.save(model.state_dict(), root / "trained.pt")
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), root / "r18.pt")
    two = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2))
    torch.save(two.state_dict(), root / "two.pt")
    return types.SimpleNamespace(
        mods=root / "mods", init=root / "init.pt", trained=root / "trained.pt", r18=root / "r18.pt", two=root / "two.pt"
    )


def fails_cleanly(proc, *phrases: str) -> None:
    """Exit 2, an Error: and a Hint: line, no traceback, each phrase in the output."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Error:" in out and "Hint:" in out and "Traceback" not in out, out
    for phrase in phrases:
        assert phrase in " ".join(out.split()), out


FOREIGN = ("--model", "pmods:mlp", "--dataset", "digits", "--data-opt", "size=8")


@pytest.fixture(scope="module")
def pruned(user, tmp_path_factory) -> types.SimpleNamespace:
    """`graphstore prune imp --model pmods:mlp --weights ... --init-weights ...` on the embedded store + SQLite."""
    root = tmp_path_factory.mktemp("pruned")
    env = settings_env("embedded", root)
    args = (*FOREIGN, "--weights", str(user.trained), "--init-weights", str(user.init), "--rounds", "2")
    proc = cli(env, user, root, "prune", "imp", *args, "--rate", "0.5", "--epochs", "1", "--layers", "all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = Path(env["GRAPHSTORE_DATA_DIR"]) / "runs" / "1"
    output = " ".join((proc.stdout + proc.stderr).split())
    return types.SimpleNamespace(
        env=env, output=output, weights=folder / "round_2_weights.pt", masks=folder / "round_2_masks.pt"
    )


def test_prune_imp_cli_records_the_run_and_its_round_files(pruned, user, tmp_path):
    assert "ingest the last round: graphstore ingest --run 1" in pruned.output
    masks = gs.prune.load_masks(pruned.masks)
    assert sorted(masks) == ["1.weight", "3.weight"]
    assert kept(masks, ["1.weight", "3.weight"]) == alive_after(64 * 32 + 32 * 10, 0.5, 2)
    model = mlp()
    model.load_state_dict(torch.load(pruned.weights, weights_only=True))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gs.prune.apply_masks(model, pruned.masks)  # the round's weights already hold its masks
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with connect(pruned.env) as db:
        run = next(r for r in db.runs(kind="prune-imp", limit=None))
    assert run.status == "completed"
    assert run.params["model"]["source"] == "pmods:mlp" and run.params["method"]["rate"] == 0.5
    assert run.params["weights"]["sha256"] == hashlib.sha256(user.trained.read_bytes()).hexdigest()
    assert run.params["init_weights"]["sha256"] == hashlib.sha256(user.init.read_bytes()).hexdigest()
    by_run = cli(pruned.env, user, tmp_path, "ingest", "--run", "1", "--graphs", "weights")
    assert by_run.returncode == 0, by_run.stdout + by_run.stderr  # the last round's graphs, from the run's own files
    with connect(pruned.env) as db:
        assert db.read("1-r2-weights").edge_count == alive_after(64 * 32 + 32 * 10, 0.5, 2)
        drop_prefixed(db, "1-r2-")
    by_checkpoint = cli(pruned.env, user, tmp_path, "extract", "--run", "1", "--graph", "weights", "--out", "w.zip")
    fails_cleanly(by_checkpoint, "graphstore ingest --run 1", f"--weights {pruned.weights}")  # extract: checkpoints


@pytest.mark.parametrize("backend", BACKENDS)
def test_pruned_round_ingests_on_both_stores(pruned, user, backend, tmp_path):
    model = mlp()
    model.load_state_dict(torch.load(pruned.weights, weights_only=True))
    nonzero = int((model[1].weight != 0).sum() + (model[3].weight != 0).sum())
    env = settings_env(backend, tmp_path)
    prefix = f"pf-{backend}-{uuid.uuid4().hex[:8]}"
    args = ("--weights", str(pruned.weights), "--graphs", "weights", "--graph-id-prefix", prefix)
    proc = cli(env, user, tmp_path, "ingest", *FOREIGN, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with connect(env) as db:
        try:
            graph = db.read(f"{prefix}-weights")
            python = gs.extract(model, TensorDataset(*load_dataset("digits", size=8).tensors("test")), "weights")
            assert graph.node_count == python.node_count == 64 + 32 + 10
            assert graph.edge_count == python.edge_count == nonzero  # an edge per weight the pruning kept
        finally:
            drop_prefixed(db, prefix)


def test_ctrl_c_between_rounds_keeps_the_finished_rounds(user, tmp_path):
    """SIGINT while round 2 retrains: exit 130 with one line, the run recorded interrupted after round 1, the files
    of rounds 0 and 1 complete and verified, no file of round 2."""
    env = settings_env("embedded", tmp_path)
    args = (*FOREIGN, "--weights", str(user.trained), "--init-weights", str(user.init), "--rounds", "30")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    proc = subprocess.Popen(
        [*CLI, "prune", "imp", *args, "--epochs", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**clean, **env, "PYTHONPATH": str(user.mods), "GRAPHSTORE_LOG_DIR": str(tmp_path / "logs")},
    )
    folder = Path(env["GRAPHSTORE_DATA_DIR"]) / "runs" / "1"
    wait_for(lambda: digest_path(folder / "round_1_masks.pt").is_file(), proc, "round 1's masks")
    proc.send_signal(signal.SIGINT)
    interrupted(proc)
    with connect(env) as db:
        run = next(r for r in db.runs(kind="prune-imp", limit=None))
    assert run.status == "interrupted"
    done = sorted(p.name for p in folder.glob("*.pt"))
    assert done[:4] == ["round_0_masks.pt", "round_0_weights.pt", "round_1_masks.pt", "round_1_weights.pt"]
    assert all(digest_path(folder / name).is_file() for name in done)  # no file without its digest
    assert len(done) in (4, 6)  # round 2 whole (the signal came late) or absent, never half written
    assert kept(gs.prune.load_masks(folder / "round_1_masks.pt"), ["1.weight", "3.weight"]) == alive_after(2368, 0.2, 1)


BAD = {
    "rewind init without theta_0": (("--weights", "{trained}"), ("--init-weights FILE", "--rewind none")),
    "rewind epoch": (("--weights", "{trained}", "--rewind", "epoch"), ("--rewind epoch reads a graphstore",)),
    "weights without model": (("--model", "pmods:mlp"), ("--weights FILE",)),
    "weights that do not fit": (("--weights", "{r18}", "--rewind", "none"), ("do not fit pmods:mlp",)),
    "a dataset callable that does not take the options": (
        ("--weights", "{trained}", "--rewind", "none", "--dataset", "pmods:mlp"),
        ("pmods:mlp(size=8) raised TypeError", "Check the --data-opt names"),
    ),
    "nproc": (("--weights", "{trained}", "--rewind", "none", "--nproc", "2"), ("one process",)),
    "weights with a registry model": (
        ("--model", "mlp", "--weights", "{trained}"),
        ("mlp is a registry model", "Drop --weights"),
    ),
    "a model that does not take the data": (
        ("--model", "torchvision.models:resnet18", "--model-opt", "num_classes=10", "--weights", "{r18}"),
        ("cannot run on inputs of (1, 8, 8) per sample", "(batch, 3, H, W)"),
    ),
    "fewer outputs than classes": (
        ("--model", "pmods:mlp", "--model-opt", "classes=2", "--weights", "{two}", "--rewind", "none"),
        ("gives (2, 2) for a batch of 2", "(batch, 10) logits", "num_classes=10"),
    ),
}
OWN_MODEL = ("weights without model", "weights with a registry model", "a model that does not take", "fewer outputs")


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_foreign_prune_input_is_refused_and_records_nothing(user, tmp_path, case):
    extra, phrases = BAD[case]
    files = {"trained": user.trained, "r18": user.r18, "init": user.init, "two": user.two}
    args = [a.format(**files) for a in extra]
    base = list(FOREIGN) if not case.startswith(OWN_MODEL) else ["--dataset", "digits", "--data-opt", "size=8"]
    env = settings_env("embedded", tmp_path)
    proc = cli(env, user, tmp_path, "prune", "imp", *base, *args, "--rounds", "1", "--epochs", "1")
    fails_cleanly(proc, *phrases)
    assert not (Path(env["GRAPHSTORE_DATA_DIR"]) / "runs").exists()


@pytest.mark.parametrize("method", ["structured", "layers"])
def test_structured_and_layers_cli_refuse_a_foreign_model(user, tmp_path, method):
    env = settings_env("embedded", tmp_path)
    proc = cli(env, user, tmp_path, "prune", method, *FOREIGN, "--weights", str(user.trained))
    fails_cleanly(proc, f"prune {method} is defined on graphstore's registry models", "prune imp")
    assert not (Path(env["GRAPHSTORE_DATA_DIR"]) / "runs").exists()
