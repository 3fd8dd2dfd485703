"""`latent-graphs` (003, Norve 2023): latent kNN graphs across epochs, seeds, noise and lottery-ticket rounds.

One cell is one `study` of one seed pair:

- `training`: models A (seed) and B (seed + pair_offset) are trained with checkpoints at the compared epochs
  (003 section 4.1: epochs 10-15 of 25); at each of them the latent kNN graphs (k = 4, 8, 16, L1, union; docs
  METHODS C4) of the test split are ingested into the configured store. Graph-average Jaccard and CNS (METHODS D)
  between A_t and A_t+1 (and B_t, B_t+1) fill table `epochs` (003 Tables 5.2, 5.3), between A_t and B_t table
  `seeds` (Tables 5.4, 5.5). On A at the last compared epoch: the noise sweep p in 0..1 per k (eq. 4.1, Figs.
  5.2-5.4; the `noise` job) -> `noise`; statistics and hubness of the sample graphs -> `knn_stats` (003 5.1.1);
  the class graph (eq. 4.2, k = 4, METHODS C5), its statistics, Louvain communities and hub class ->
  `class_graph` (Tables 5.6, 5.7).
- `imp`: one dense model (seed) is trained, then IMP (METHODS B1; conv layers only, the output layer never, rewind
  to theta_0, as 003 section 4.3) runs from it at each rate in `rates` (003: 0.2 and 0.01). The kNN graphs of every
  round are ingested and compared with round 0 -> `imp` (Tables 5.9, 5.11; Figs. 5.13, 5.14); sparsity and
  accuracy per round -> `imp_rounds` (Tables 5.8, 5.10).

The real jobs do the work (train, prune-imp, ingest, noise, the stats/hubness/louvain analyses); the similarities
are computed by the library on graphs read back from the store once per cell (a compare job per pair would read
every graph twice per method) and recorded as comparisons in the tracking DB, as `graphstore compare` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from graphstore.errors import GraphstoreError
from graphstore.experiments.base import PIPELINES, CellContext, Pipeline
from graphstore.nn.config import TrainConfig
from graphstore.params import parse_assignments
from graphstore.pruning.params import ImpParams

STUDIES = ("training", "imp")
TRAIN_SET_BY_CELL = ("seed", "device", "checkpoint_epochs", "restore_best")  # the cell's own seed and device
NOISE_P = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # the noise job's default grid (003: 0..1)


@dataclass(frozen=True)
class LatentGraphsParams:
    """One cell of 003's experiments: the training study (epochs, seeds, noise, class graph) or the IMP study."""

    study: str = field(
        default="training",
        metadata={
            "help": "training (epochs, seeds, noise, class graph) or imp (lottery-ticket rounds).",
            "choices": STUDIES,
        },
    )
    model: str = field(default="small-cnn", metadata={"help": "Model from the registry."})
    model_opt: tuple[str, ...] = field(default=(), metadata={"help": "Model parameters KEY=VALUE."})
    dataset: str = field(default="mnist-5k", metadata={"help": "Dataset from the registry."})
    data_opt: tuple[str, ...] = field(default=(), metadata={"help": "Dataset parameters KEY=VALUE."})
    seed: int = field(default=0, metadata={"help": "Seed of model A (and of the IMP study's dense model)."})
    pair_offset: int = field(default=1, metadata={"help": "Model B's seed is seed + pair_offset."})
    compare_epochs: tuple[int, ...] = field(
        default=(), metadata={"help": "Epochs whose graphs are compared (default: the last `window` epochs)."}
    )
    window: int = field(default=3, metadata={"help": "How many final epochs to compare when compare_epochs is empty."})
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=4, step_size=10),
        metadata={
            "help": "Training of the dense models and of every IMP round (patience: the IMP study's early stopping, "
            "best weights kept; 0 = fixed epochs).",
            "exclude": TRAIN_SET_BY_CELL,
        },
    )
    k: tuple[int, ...] = field(default=(4, 8, 16), metadata={"help": "Neighbours per sample; one graph per k."})
    metric: str = field(default="l1", metadata={"help": "Latent distance.", "choices": ("l1", "l2", "cosine")})
    split: str = field(default="test", metadata={"help": "Split whose samples are the graph's nodes."})
    limit: int = field(default=0, metadata={"help": "At most this many samples of the split (0 = all)."})
    noise_p: tuple[float, ...] = field(default=NOISE_P, metadata={"help": "Noise levels p (eq. 4.1)."})
    noise_seed: int = field(default=0, metadata={"help": "Seed of the latent noise."})
    class_k: int = field(default=4, metadata={"help": "Neighbours per class in the class graph."})
    rates: tuple[float, ...] = field(default=(0.2, 0.01), metadata={"help": "IMP rates per round (003: 0.2, 0.01)."})
    imp: ImpParams = field(
        default_factory=lambda: ImpParams(
            rounds=3, layers="conv", exclude_output=True, rewind="init", track_topology=False
        ),
        metadata={
            "help": "IMP of the imp study (003: 15 rounds, conv layers only, rewind to theta_0); rates sets the rate.",
            "exclude": ("rate",),
            "aliases": {"prune_layers": "layers"},
        },
    )
    device: str = field(default="cpu", metadata={"help": "cpu, cuda or auto.", "choices": ("cpu", "cuda", "auto")})
    threads: int = field(
        default=0,
        metadata={"help": "Torch intra-op threads while the cell runs (0 = torch's default; 1 on a busy CPU)."},
    )

    def __post_init__(self) -> None:
        if self.study not in STUDIES:
            raise GraphstoreError(f"Unknown study {self.study!r}.", f"Choose one of {', '.join(STUDIES)}.")
        if self.epochs < 1 or self.window < 1:
            raise GraphstoreError("epochs and window must be >= 1.", "Use e.g. epochs=4 window=3.")
        if not self.k or min(self.k) < 1:
            raise GraphstoreError(f"k must be positive, got {self.k}.", "Use e.g. k=4,8,16.")
        bad = [e for e in self.compare_epochs if not 1 <= e <= self.epochs]
        if bad:
            raise GraphstoreError(
                f"compare_epochs {bad} are outside 1..{self.epochs}.", "Compare epochs the training reaches."
            )
        if self.study == "training" and len(self.window_epochs()) < 2:
            raise GraphstoreError("The training study compares at least two epochs.", "Raise window or epochs.")

    @property
    def epochs(self) -> int:
        """Training epochs (dense models and every IMP round)."""
        return self.train.epochs

    def window_epochs(self) -> list[int]:
        """The compared epochs, ascending."""
        if self.compare_epochs:
            return sorted(set(self.compare_epochs))
        return list(range(max(1, self.epochs - self.window + 1), self.epochs + 1))

    @property
    def ks(self) -> list[int]:
        """Distinct k, ascending."""
        return sorted(set(self.k))


# ---- jobs the cell runs ------------------------------------------------------------------------------


def train_config(p: LatentGraphsParams, seed: int, checkpoints: tuple[int, ...], early: bool) -> TrainConfig:
    """The TrainConfig of a dense model (fixed epochs, 003 Table 4.1) or of the IMP study (early stopping)."""
    return replace(
        p.train,
        patience=p.train.patience if early else 0,
        restore_best=early and p.train.patience > 0,
        checkpoint_epochs=checkpoints,
        seed=seed,
        device=p.device,
    )


def train(ctx: CellContext, p: LatentGraphsParams, label: str, seed: int, config: Any) -> Any:
    """The train job, linked to the cell."""
    from graphstore.jobs.train import ModelChoice, TrainParams  # deferred: torch loads only in a cell

    choice = ModelChoice(p.model, p.dataset, p.model_opt, p.data_opt)
    out = ctx.run_job("train", TrainParams(choice=choice, name=f"latent-graphs-{label}-s{seed}", train=config))
    ctx.link(out.run_id)
    return out


def ingest(ctx: CellContext, p: LatentGraphsParams, source: Any, graphs: str, name: str, opts: tuple[str, ...]) -> str:
    """The ingest job on one checkpoint; returns the graph id prefix (`<prefix>-<kind>[-k<k>]`)."""
    from graphstore.jobs.ingest import ExtractOptions, IngestParams  # deferred: torch loads only in a cell

    prefix = ctx.graph_id(name)
    options = ExtractOptions(
        split=p.split,
        limit=p.limit,
        k=",".join(str(k) for k in p.ks),
        device="cuda" if p.device == "cuda" else "cpu",
        opt=opts,
    )
    ctx.run_job(
        "ingest", IngestParams(source=source, graphs=graphs, options=options, graph_id_prefix=prefix, replace=True)
    )
    return prefix


def ingest_knn(ctx: CellContext, p: LatentGraphsParams, source: Any, name: str) -> dict[int, str]:
    """kNN graphs (every k) of one checkpoint: k -> graph id."""
    prefix = ingest(ctx, p, source, "knn", name, (f"knn.metric={p.metric}",))
    return {k: f"{prefix}-knn-k{k}" for k in p.ks}


def analyse(ctx: CellContext, name: str, graph_id: str, **method: Any) -> dict[str, Any]:
    """One registered analysis (client engine) on a stored graph; its summary."""
    from graphstore.jobs.analyze import analysis_job, analysis_params  # deferred: analysis stack loads in a cell

    return analysis_job(name).run(ctx.job, analysis_params(name, graph_id, "client", **method)).summary


def checkpoint(run_id: Any, epoch: int | None = None, path: Any = None) -> Any:
    """A CheckpointSource: a file, or a run's checkpoint at an epoch."""
    from graphstore.jobs.source import CheckpointSource  # deferred: nn.checkpoint imports torch

    return CheckpointSource(checkpoint=str(path)) if path is not None else CheckpointSource(run=run_id, epoch=epoch)


# ---- similarities ------------------------------------------------------------------------------------


@dataclass
class Similarity:
    """Jaccard and CNS of graph B against reference A, and the accuracy the two graphs' nodes record."""

    jaccard: float
    cns: float
    acc_a: float
    acc_b: float


def compare_pairs(ctx: CellContext, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Similarity]:
    """Read every graph once, compare each pair (A is CNS's reference), record both as comparisons."""
    from graphstore.analysis.similarity import SimilarityParams, cns, jaccard  # deferred: scipy loads in a cell

    params = SimilarityParams()
    ids = sorted({g for pair in pairs for g in pair})
    with ctx.job.open_store() as store:
        graphs = {g: store.read_graph(g) for g in ids}
    accuracy = {g: node_accuracy(graph) for g, graph in graphs.items()}
    out = {}
    with ctx.job.open_tracking() as tracking:
        for a, b in pairs:
            j, c = jaccard(graphs[a], graphs[b], params)[0], cns(graphs[a], graphs[b], params)[0]
            for method, value in (("jaccard", j), ("cns", c)):
                if tracking.get_graph(a) and tracking.get_graph(b):
                    tracking.record_comparison(method, a, b, params=params, result={"value": value})
            out[(a, b)] = Similarity(j, c, accuracy[a], accuracy[b])
    return out


def node_accuracy(graph: Any) -> float:
    """Fraction of samples whose recorded prediction equals their label (the model's accuracy on the nodes)."""
    samples = graph.nodes["Sample"].props
    return float((samples["label"] == samples["prediction"]).mean())


# ---- the training study ------------------------------------------------------------------------------


def training_study(ctx: CellContext, p: LatentGraphsParams) -> None:
    """Models A and B: kNN graphs per compared epoch, epoch and seed similarities, noise, hubs, class graph."""
    epochs = p.window_epochs()
    graphs: dict[str, dict[int, dict[int, str]]] = {}
    runs: dict[str, Any] = {}
    for label, seed in (("A", p.seed), ("B", p.seed + p.pair_offset)):
        out = train(ctx, p, label, seed, train_config(p, seed, tuple(epochs), early=False))
        runs[label] = out.run_id
        ctx.record("training", net=label, model_seed=seed, test_acc=out.final.get("test_acc"), run=out.run_id)
        graphs[label] = {t: ingest_knn(ctx, p, checkpoint(out.run_id, t), f"{label}-e{t}") for t in epochs}
    epoch_pairs = [(label, t, u) for label in graphs for t, u in zip(epochs, epochs[1:], strict=False)]
    pairs = [(graphs[label][t][k], graphs[label][u][k]) for label, t, u in epoch_pairs for k in p.ks]
    pairs += [(graphs["A"][t][k], graphs["B"][t][k]) for t in epochs for k in p.ks]
    sims = compare_pairs(ctx, pairs)
    for label, t, u in epoch_pairs:
        for k in p.ks:
            s = sims[(graphs[label][t][k], graphs[label][u][k])]
            ctx.record("epochs", net=label, t=t, t_next=u, k=k, jaccard=s.jaccard, cns=s.cns, acc=s.acc_a)
    for t in epochs:
        for k in p.ks:
            s = sims[(graphs["A"][t][k], graphs["B"][t][k])]
            ctx.record("seeds", t=t, k=k, jaccard=s.jaccard, cns=s.cns, acc_a=s.acc_a, acc_b=s.acc_b)
    last = epochs[-1]
    noise_study(ctx, p, runs["A"], last)
    knn_stats(ctx, p, graphs["A"][last])
    class_graph_study(ctx, p, runs["A"], last)


def noise_study(ctx: CellContext, p: LatentGraphsParams, run_id: Any, epoch: int) -> None:
    """The noise job per k on one checkpoint (003 eq. 4.1, p in 0..1)."""
    from graphstore.analysis.noise import NoiseParams  # deferred: torch loads only in a cell
    from graphstore.jobs.checkpoint_reports import NoiseJobParams  # deferred: as above

    for k in p.ks:
        method = NoiseParams(
            p=p.noise_p,
            k=k,
            metric=p.metric,
            split=p.split,
            limit=p.limit,
            seed=p.noise_seed,
            device="cuda" if p.device == "cuda" else "cpu",
        )
        result = ctx.run_job("noise", NoiseJobParams(source=checkpoint(run_id, epoch), method=method))
        if result.run_id is not None:
            ctx.link(result.run_id)
        base = result.rows[0]
        for row in result.rows:
            ctx.record(
                "noise",
                k=k,
                p=row.p,
                jaccard=row.jaccard,
                cns=row.cns,
                accuracy=row.accuracy,
                accuracy_drop=base.accuracy - row.accuracy,
                cns_drop=1.0 - row.cns,
            )


def knn_stats(ctx: CellContext, p: LatentGraphsParams, ids: dict[int, str]) -> None:
    """Diameter, mean shortest path, clustering and hubness of A's sample graphs (003 5.1.1: k = 4)."""
    for k, graph_id in ids.items():
        st = analyse(ctx, "stats", graph_id)
        hub = analyse(ctx, "hubness", graph_id)
        ctx.record(
            "knn_stats",
            k=k,
            nodes=st["nodes"],
            edges=st["edges"],
            components=st["components"],
            diameter=st["diameter_hops"],
            average_path=st["average_shortest_path_hops"],
            clustering=st["average_clustering"],
            transitivity=st["transitivity"],
            degree_mean=st["degree_mean"],
            skewness=hub["skewness"],
            hubs=hub["hubs"],
            anti_hubs=hub["anti_hubs"],
            max_k_occurrence=hub["max"],
        )


def class_graph_study(ctx: CellContext, p: LatentGraphsParams, run_id: Any, epoch: int) -> None:
    """Class graph of A (k = the smallest k, 003 uses 4), its statistics, communities and hub (Tables 5.6, 5.7)."""
    opts = (f"class-graph.class_k={p.class_k}", f"class-graph.metric={p.metric}")
    graph_id = ingest(ctx, p, checkpoint(run_id, epoch), "class-graph", "A-class", opts) + "-class-graph"
    st = analyse(ctx, "stats", graph_id)
    louvain = analyse(ctx, "louvain", graph_id, weight="distance", distance_to_similarity="inverse")
    with ctx.job.open_store() as store:
        graph = store.read_graph(graph_id)
    name, degree = hub_class(graph)
    ctx.record(
        "class_graph",
        k=p.ks[0],
        class_k=p.class_k,
        classes=st["nodes"],
        edges=st["edges"],
        diameter=st["diameter_hops"],
        average_path=st["average_shortest_path_hops"],
        average_degree=st["degree_mean"],
        clustering=st["average_clustering"],
        transitivity=st["transitivity"],
        communities=louvain["communities"],
        modularity=louvain["modularity"],
        hub=name,
        hub_degree=degree,
        disconnected_pairs=graph.params.get("disconnected_pairs", 0),
    )


def hub_class(graph: Any) -> tuple[str, int]:
    """The class with the most NEAR edges (003's hub classes) and its degree; ties to the lower label."""
    classes = graph.nodes["Class"]
    edges = graph.edges["NEAR"]
    degree = np.bincount(np.concatenate([edges.src, edges.dst]), minlength=int(classes.keys.max()) + 1)
    best = int(np.argmax(degree))
    names = dict(zip(classes.keys.tolist(), classes.props["name"].tolist(), strict=True))
    return str(names.get(best, best)), int(degree[best])


# ---- the IMP study -----------------------------------------------------------------------------------


def imp_study(ctx: CellContext, p: LatentGraphsParams) -> None:
    """One dense model, IMP at each rate from it; every round's graphs against round 0's."""
    from graphstore.jobs.prune import ImpJobParams, PruneStart  # deferred: torch loads only in a cell

    dense = train(ctx, p, "dense", p.seed, train_config(p, p.seed, (p.epochs,), early=True))
    config = train_config(p, p.seed, (), early=True)
    for rate in p.rates:
        method = replace(p.imp, rate=rate)
        start = PruneStart(source=checkpoint(dense.run_id))
        result = ctx.run_job("prune-imp", ImpJobParams(start=start, method=method, train=config))
        ctx.link(result.run_id)
        ids = {
            r.round: ingest_knn(ctx, p, checkpoint(None, path=r.checkpoint), f"imp{rate:g}-r{r.round}")
            for r in result.rounds
        }
        for record in result.rounds:
            metrics = record.metrics
            ctx.record(
                "imp_rounds", rate=rate, round=record.round, sparsity=record.sparsity, accuracy=metrics.get("test_acc")
            )
        later = [r for r in sorted(ids) if r > 0]
        sims = compare_pairs(ctx, [(ids[0][k], ids[r][k]) for r in later for k in p.ks])
        for r in later:
            for k in p.ks:
                s = sims[(ids[0][k], ids[r][k])]
                ctx.record("imp", rate=rate, round=r, k=k, jaccard=s.jaccard, cns=s.cns, acc=s.acc_b)


def run_cell(ctx: CellContext, p: LatentGraphsParams) -> None:
    """Run the cell's study (the cell runner caps torch's threads at `threads`)."""
    study = training_study if p.study == "training" else imp_study
    study(ctx, p)


def datasets(p: LatentGraphsParams) -> list[tuple[str, dict[str, str]]]:
    """The dataset the cell loads, with its parameters (checked before the run starts)."""
    return [(p.dataset, parse_assignments(p.data_opt, "data_opt"))]


PIPELINE = PIPELINES.register(
    Pipeline(name="latent-graphs", params=LatentGraphsParams, run_cell=run_cell, datasets=datasets)
)
