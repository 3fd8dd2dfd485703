"""`imp-topology` (004): IMP vs topology-preserving IMP per round, and 004's kappa* tables.

See docs/experiments/imp-topology.md.

One cell = one architecture (`fcn`: the MNIST FCN, an `mlp`; `cnn`: the MNIST CNN, `synflow-conv`) and one seed:

1. train the dense network once (the `train` job); IMP and T-IMP both start from its last checkpoint and rewind to
   its theta_0, so at equal round they have equal sparsity and differ only in which weights they keep;
2. per method, the pruning job (`prune-imp`, `prune-topology`: local pruning by default, 004 footnote 5), then the
   `topology` job over every round (--all-rounds): accuracy, NP, kappa*, MST overlap vs sparsity -> table `rounds`;
3. the `topology` job on the trained dense checkpoint: kappa* of every layer and the whole model -> table `kappa`
   (`kappa_004` in 004's count, `kappa` measured on the graph chosen by `conv_graph`);
4. the `topology` job on an untrained model of 004 App. E's shape for the cell's architecture (28 x 28 inputs,
   10 classes; no data or training needed): table `app_e`, which must equal App. E at every scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.nn.config import TrainConfig
from graphstore.params import parse_assignments
from graphstore.pruning.params import ImpParams, TopologyImpParams

ARCHS = ("fcn", "cnn")
METHODS = ("imp", "timp")
APP_E_FCN = (100, 100, 100, 100, 100)  # 004 App. D Table 2: 784-100x5-10
APP_E_CNN = (32, 32)  # 004 App. D Table 3: two 3x3 32-filter convs, pad 1, then 25,088 -> 10


@dataclass(frozen=True)
class ImpTopologyParams:
    """One cell of 004's study: IMP vs T-IMP per round (accuracy, NP, MST overlap) and the kappa* tables."""

    arch: str = field(
        default="fcn", metadata={"help": "fcn (mlp, 004's MNIST FCN) or cnn (synflow-conv).", "choices": ARCHS}
    )
    fcn_hidden: tuple[int, ...] = field(default=APP_E_FCN, metadata={"help": "Hidden sizes of the fcn."})
    cnn_filters: tuple[int, ...] = field(default=APP_E_CNN, metadata={"help": "Filters per conv layer of the cnn."})
    dataset: str = field(default="mnist", metadata={"help": "Dataset from the registry (28 x 28 for App. E)."})
    data_opts: tuple[str, ...] = field(default=(), metadata={"help": "Dataset options KEY=VALUE."})
    train: TrainConfig = field(
        default_factory=TrainConfig,
        metadata={"help": "Training of the dense net and of every round (seed: initialisation, shuffling)."},
    )
    imp: ImpParams = field(
        default_factory=lambda: ImpParams(rounds=10, rate=0.2, scope="layer"),
        metadata={"help": "Pruning rounds, rate and scope of both methods (004: layer-wise, local pruning)."},
    )
    methods: tuple[str, ...] = field(default=METHODS, metadata={"help": "Pruning methods: imp, timp."})
    conv_graph: str = field(
        default="channel",
        metadata={
            "help": "Conv graph of the measured NP / kappa / overlap: channel (the graph T-IMP preserves) or "
            "unrolled (Toeplitz, 004's count).",
            "choices": ("channel", "unrolled"),
        },
    )
    threads: int = field(
        default=0,
        metadata={"help": "Torch intra-op threads while the cell runs (0 = torch's default; 1 on a busy CPU)."},
    )

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {', '.join(METHODS)}; got {self.methods}")

    @property
    def seed(self) -> int:
        """The training seed (also of App. E's untrained model)."""
        return self.train.seed

    def timp(self) -> TopologyImpParams:
        """T-IMP's parameters: IMP's rounds, rate, scope, ... (so both prune alike) and T-IMP's default conv norm."""
        return TopologyImpParams(**{f.name: getattr(self.imp, f.name) for f in fields(ImpParams)})

    def model(self, app_e: bool = False) -> tuple[str, tuple[str, ...]]:
        """(registry model, model options) of this cell's architecture; App. E's own shape with app_e."""
        if self.arch == "fcn":
            return "mlp", ("hidden=" + ",".join(map(str, APP_E_FCN if app_e else self.fcn_hidden)),)
        return "synflow-conv", ("filters=" + ",".join(map(str, APP_E_CNN if app_e else self.cnn_filters)),)


def run_cell(ctx: CellContext, p: ImpTopologyParams) -> None:
    """Train once, prune with each method from the same start, tabulate rounds and the kappa* tables (the cell
    runner caps torch's threads at `threads`)."""
    from graphstore.jobs.checkpoint_reports import TopologyJobParams  # deferred: torch (cells only)
    from graphstore.jobs.prune import ImpJobParams, PruneStart, TopologyImpJobParams  # deferred: torch
    from graphstore.jobs.source import CheckpointSource  # deferred: torch (checkpoints)
    from graphstore.jobs.train import ModelChoice, TrainParams  # deferred: torch

    model, opts = p.model()
    config = p.train
    choice = ModelChoice(model=model, dataset=p.dataset, model_opt=opts, data_opt=p.data_opts)
    trained = ctx.run_job("train", TrainParams(choice=choice, name=f"imp-topology-{p.arch}-s{p.seed}", train=config))
    ctx.link(trained.run_id)
    start = PruneStart(source=CheckpointSource(run=int(trained.run_id)))
    report = _report_params(p)
    for method in p.methods:
        if method == "imp":
            pruned = ctx.run_job("prune-imp", ImpJobParams(start=start, method=p.imp, train=config))
        else:
            pruned = ctx.run_job("prune-topology", TopologyImpJobParams(start=start, method=p.timp(), train=config))
        ctx.link(pruned.run_id)
        source = CheckpointSource(run=int(pruned.run_id))
        table = ctx.run_job("topology", TopologyJobParams(source=source, all_rounds=True, method=report))
        _link(ctx, table.run_id)
        for row in table.round_rows:
            ctx.record("rounds", method=method, **_round_values(row))
    dense = ctx.run_job("topology", TopologyJobParams(source=CheckpointSource(run=int(trained.run_id)), method=report))
    _link(ctx, dense.run_id)
    _record_kappa(ctx, "kappa", dense)
    shape = ctx.run_job(
        "topology", TopologyJobParams(source=CheckpointSource(str(app_e_checkpoint(ctx, p))), method=report)
    )
    _link(ctx, shape.run_id)
    _record_kappa(ctx, "app_e", shape)


def _report_params(p: ImpTopologyParams) -> Any:
    """The topology report's parameters for this cell."""
    from graphstore.analysis.topology_report import TopologyReportParams  # deferred: imports torch

    return TopologyReportParams(conv_graph=p.conv_graph)


def _link(ctx: CellContext, run_id: int | None) -> None:
    """Link a tracked run if the job made one (no tracking DB: nothing to link)."""
    if run_id is not None:
        ctx.link(run_id)


ROUND_KEYS = ("round", "sparsity", "accuracy", "np", "np_normalized", "kappa", "overlap", "overlap_pooled")


def _round_values(row: list[Any]) -> dict[str, Any]:
    """The columns of one topology round row that the `rounds` table keeps."""
    from graphstore.analysis.topology_report import ROUND_COLUMNS  # deferred: imports torch

    values = dict(zip(ROUND_COLUMNS, row, strict=True))
    return {k: _plain(values[k]) for k in ROUND_KEYS}


def _plain(value: Any) -> Any:
    """A JSON scalar: numpy numbers to Python, NaN to None."""
    if value is None:
        return None
    number = float(value) if not isinstance(value, int | str) else value
    return None if isinstance(number, float) and number != number else number


def _record_kappa(ctx: CellContext, table: str, result: Any) -> None:
    """One row per layer (kappa_004, measured kappa, shape) and a `model` row (004's Final Compression)."""
    for row in result.layer_rows:
        values = dict(zip(result.layer_columns, row, strict=True))
        ctx.record(
            table,
            layer=values["layer"],
            group=values["group"],
            graph=values["graph"],
            n_in=int(values["n_in"]),
            n_out=int(values["n_out"]),
            kappa_004=_plain(values["kappa_004"]),
            kappa=_plain(values["kappa"]),
        )
    totals = result.totals
    ctx.record(
        table,
        layer="model",
        group="model",
        graph="model",
        n_in=None,
        n_out=None,
        kappa_004=_plain(totals.get("kappa_004")),
        kappa=_plain(totals.get("kappa")),
    )


def app_e_checkpoint(ctx: CellContext, p: ImpTopologyParams) -> Path:
    """An untrained checkpoint of 004 App. E's model for the cell's architecture (1 x 28 x 28 inputs, 10 classes)."""
    import torch  # deferred: torch loads only when a cell runs

    from graphstore.nn.checkpoint import make_checkpoint, save_checkpoint  # deferred: torch
    from graphstore.nn.datasets.base import DataInfo, DatasetSpec  # deferred: the nn package loads torch
    from graphstore.nn.models import make_model  # deferred: torch

    model, opts = p.model(app_e=True)
    info = DataInfo("mnist", (1, 28, 28), tuple(str(i) for i in range(10)))
    torch.manual_seed(p.seed)
    net = make_model(model, info, parse_assignments(opts, "model options"))
    ckpt = make_checkpoint(net, DatasetSpec("mnist", {}), info, 0)
    folder = Path(ctx.job.settings.data_dir) / "experiments" / f"x{ctx.experiment_run_id}" / ctx.key
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(ckpt, folder / f"app-e-{p.arch}.pt")


def _datasets(p: ImpTopologyParams) -> list[tuple[str, dict[str, Any]]]:
    """The dataset each cell loads (checked before the run starts)."""
    return [(p.dataset, parse_assignments(p.data_opts, "data_opts"))]


PIPELINE = PIPELINES.register(
    Pipeline(name="imp-topology", params=ImpTopologyParams, run_cell=run_cell, datasets=_datasets)
)
