"""Analysis jobs: one per registered analysis (its parameter dataclass nested under `method`), and compare."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, make_dataclass
from typing import Any

from graphstore.analysis.base import ANALYSES, AnalysisSpec
from graphstore.analysis.compare import run_comparison
from graphstore.analysis.run import ENGINES, AnalysisRun, run_analysis
from graphstore.analysis.similarity import METHODS, SimilarityParams
from graphstore.jobs.base import JOBS, JobContext, JobSpec

ENGINE_HELP = "auto: GDS inside Neo4j when installed, else client-side; gds: require GDS; client: igraph/leidenalg."


@functools.cache
def analysis_job(name: str) -> JobSpec[Any, AnalysisRun]:
    """The job of analysis `name`: --graph, --engine and the analysis's own parameters."""
    spec: AnalysisSpec = ANALYSES.get(name)
    params = make_dataclass(
        f"{spec.params.__name__}Job",
        [
            (
                "graph",
                str,
                field(metadata={"help": "Graph id (see `graphstore store list`).", "flags": ("--graph", "-g")}),
            ),
            ("engine", str, field(default="auto", metadata={"help": ENGINE_HELP, "choices": ENGINES})),
            ("method", spec.params, field(default_factory=spec.params)),
        ],
        frozen=True,
    )

    def run(context: JobContext, values: Any) -> AnalysisRun:
        return run_analysis(context.connections, spec.name, values.graph, values.method, values.engine)

    return JobSpec(
        spec.name, spec.summary, params, run, f"graphstore analyze {spec.name} --graph demo-weights --engine client"
    )


def analysis_params(name: str, graph: str, engine: str = "auto", **method: Any) -> Any:
    """Parameters of analysis `name`'s job: the graph, the engine, and the analysis's own fields."""
    spec: AnalysisSpec = ANALYSES.get(name)
    return analysis_job(name).params(graph=graph, engine=engine, method=spec.params(**method))


@dataclass(frozen=True)
class CompareParams:
    """Two stored graphs on the same nodes, and how to compare them."""

    method: str = field(
        metadata={
            "help": "jaccard (graph-average Jaccard) or cns (class neighbourhood similarity).",
            "choices": METHODS,
            "argument": True,
        }
    )
    a: str = field(metadata={"help": "Reference graph id."})
    b: str = field(metadata={"help": "Graph id compared with the reference."})
    similarity: SimilarityParams = field(default_factory=SimilarityParams)


@dataclass
class CompareResult:
    """The value (None when undefined), how many nodes took part, and the two graphs."""

    method: str
    a: str
    b: str
    summary: dict[str, Any]


def run_compare(context: JobContext, params: CompareParams) -> CompareResult:
    """Read both graphs, compare them (A is the reference for CNS), record and return the result."""
    summary = run_comparison(context.connections, params.method, params.a, params.b, params.similarity)
    return CompareResult(params.method, params.a, params.b, summary)


COMPARE = JobSpec(
    "compare",
    "Compare two graphs on the same nodes (epochs, seeds, pruning rounds, noise levels); record the result.",
    CompareParams,
    run_compare,
    "graphstore compare cns --a run1-e10-knn --b run1-e20-knn",
)
JOBS.register(COMPARE)
