"""The demo job: a researcher's day composed of the real jobs (prune imp -> ingest -> analyze -> named queries).

The CLI ends it with a report of what it did (graphstore.report.demo; the report layer sits above the jobs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphstore.jobs.analyze import analysis_job, analysis_params
from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.jobs.ingest import ExtractOptions, IngestParams, IngestResult, run_ingest
from graphstore.jobs.prune import ImpJobParams, PruneStart, RoundsResult, StartModel, run_imp_job
from graphstore.jobs.source import CheckpointSource
from graphstore.nn.config import TrainConfig
from graphstore.pruning.params import ImpParams
from graphstore.store.base import GraphStore


@dataclass(frozen=True)
class DemoParams:
    """Train and prune a small CNN on digits, ingest its graphs, find communities, and query hubs."""

    model: str = field(default="small-cnn", metadata={"help": "Model from the registry."})
    dataset: str = field(default="digits", metadata={"help": "Dataset from the registry (digits ships offline)."})
    epochs: int = field(default=4, metadata={"help": "Training epochs (dense, and per pruning round)."})
    rounds: int = field(default=2, metadata={"help": "IMP rounds."})
    rate: float = field(default=0.5, metadata={"help": "Fraction of the remaining weights pruned per round."})
    prefix: str = field(default="demo", metadata={"help": "Graph ids are <prefix>-<kind> (replaced if present)."})


@dataclass
class QueryStep:
    """One named query the demo ran, and its rows."""

    title: str
    name: str
    params: dict[str, Any]
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class DemoResult:
    """Every step's result, in order, and where the graphs are."""

    pruning: RoundsResult
    ingest: IngestResult
    analysis: Any
    queries: list[QueryStep]
    store: str
    commands: list[str] = field(default_factory=list)
    hierarchy: Any = None


def queries(prefix: str, class_name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The demo's named queries: (title, query, parameters); class_name is one of the dataset's classes."""
    return [
        ("hubs of the weight graph", "hubs", {"graph_id": f"{prefix}-weights", "limit": 5}),
        (
            "shared neurons (co-activated with 2+ classes)",
            "shared_neurons",
            {"graph_id": f"{prefix}-coactivation", "limit": 5},
        ),
        ("hub samples of the latent kNN graph", "hubs_knn", {"graph_id": f"{prefix}-knn-k8", "limit": 5}),
        (
            f"the classes nearest to class {class_name}",
            "nearest_classes",
            {"graph_id": f"{prefix}-class-graph", "name": class_name},
        ),
    ]


def run_demo(context: JobContext, params: DemoParams) -> DemoResult:
    """Run each step through its job, on the configured stores, and collect the results."""
    context.note("1/5 train a dense network, then prune it (IMP with rewinding)")
    pruning = run_imp_job(
        context,
        ImpJobParams(
            start=PruneStart(choice=StartModel(model=params.model, dataset=params.dataset)),
            method=ImpParams(rounds=params.rounds, rate=params.rate),
            train=TrainConfig(epochs=params.epochs),
        ),
    )
    context.note("2/5 ingest the pruned network's graphs")
    ingest = run_ingest(
        context,
        IngestParams(
            source=CheckpointSource(run=int(pruning.run_id), round=params.rounds),
            graphs="weights,coactivation,knn,class-graph",
            options=ExtractOptions(k="8", limit=600),
            graph_id_prefix=params.prefix,
            replace=True,
        ),
    )
    context.note("3/5 communities of the co-activation graph")
    analysis = analysis_job("louvain").run(
        context, analysis_params("louvain", f"{params.prefix}-coactivation", weight="w")
    )
    context.note("4/5 the class tree of the co-activation graph")
    hierarchy = analysis_job("hierarchy").run(
        context,
        analysis_params("hierarchy", f"{params.prefix}-coactivation", method="louvain-levels", runs=5, workers=1),
    )
    context.note("5/5 named queries")
    steps = []
    with context.open_store() as store:
        for title, name, values in queries(params.prefix, _a_class_name(store, f"{params.prefix}-class-graph")):
            result = store.run_query(name, values)
            steps.append(QueryStep(title, name, values, list(result.columns), [list(r) for r in result.rows]))
    return DemoResult(
        pruning, ingest, analysis, steps, context.settings.graph_store_uri, commands(params, pruning), hierarchy
    )


def _a_class_name(store: GraphStore, graph_id: str) -> str:
    """The fourth class of the stored class graph (its first when it has fewer): a name the dataset really has
    (digits: "3"; planted-tree: "c011")."""
    names = store.read_graph(graph_id, labels=["Class"], rel_types=[]).nodes["Class"].props["name"]
    return str(names[min(3, len(names) - 1)])


def commands(params: DemoParams, pruning: RoundsResult) -> list[str]:
    """The command lines that do the same steps one by one (shown with each step's result)."""
    p = params.prefix
    return [
        f"graphstore prune imp --model {params.model} --dataset {params.dataset} --epochs {params.epochs} "
        f"--rounds {params.rounds} --rate {params.rate}",
        f"graphstore ingest --run {pruning.run_id} --round {params.rounds} --graphs "
        f"weights,coactivation,knn,class-graph --k 8 --limit 600 --graph-id-prefix {p} --replace",
        f"graphstore analyze louvain --graph {p}-coactivation --weight w",
        f"graphstore analyze hierarchy --graph {p}-coactivation --method louvain-levels --runs 5",
    ]


DEMO = JobSpec("demo", DemoParams.__doc__ or "", DemoParams, run_demo, "graphstore demo --epochs 4 --rounds 2")
JOBS.register(DEMO)
