"""`graphstore analyze NAME --graph ID`: one subcommand per registered analysis, options from its dataclass."""

from __future__ import annotations

import inspect
import json
from typing import Any

import typer

from graphstore.cli.context import console, settings_of
from graphstore.cli.options import cli_parameters

app = typer.Typer(help="Analyse a stored graph: communities, centrality, statistics. Results become node "
                       "properties (as GDS .write does) and a record in the tracking DB.", no_args_is_help=True)

ENGINE_HELP = "auto: GDS inside Neo4j when installed, else client-side; gds: require GDS; client: igraph/leidenalg."


def _command(name: str, params_cls: type, summary: str) -> Any:
    """A Typer command for one analysis whose options are generated from its parameter dataclass."""
    from graphstore.nn import params as P

    def command(ctx: typer.Context, graph: str, engine: str, **options: Any) -> None:
        from graphstore.analysis.run import get_analysis, run_analysis

        spec = get_analysis(name)
        values = spec.params and P.from_mapping(spec.params, {k: v for k, v in options.items() if v is not None},
                                                f"analysis {name!r}")
        done = run_analysis(settings_of(ctx), name, graph, values, engine)
        console.print(f"[bold]{name}[/] on {graph} ({done.engine}, {done.seconds:.2f} s)")
        console.print_json(json.dumps(done.summary, default=str))

    fixed = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter("graph", inspect.Parameter.KEYWORD_ONLY, annotation=str,
                          default=typer.Option(..., "--graph", "-g", help="Graph id (see `graphstore store list`).")),
        inspect.Parameter("engine", inspect.Parameter.KEYWORD_ONLY, annotation=str,
                          default=typer.Option("auto", "--engine", help=ENGINE_HELP)),
    ]
    command.__signature__ = inspect.Signature(fixed + cli_parameters(params_cls))  # type: ignore[attr-defined]
    command.__doc__ = f"{summary}\n\nExample: graphstore analyze {name} --graph demo-weights --engine client"
    return command


def _register_all() -> None:
    from graphstore.analysis.run import load_analyses

    for name, spec in sorted(load_analyses().items()):
        app.command(name)(_command(name, spec.params, spec.summary))


def compare(
    ctx: typer.Context,
    method: str = typer.Argument(..., help="jaccard (graph-average Jaccard) or cns (class neighbourhood similarity)."),
    graph_a: str = typer.Option(..., "--a", help="Reference graph id."),
    graph_b: str = typer.Option(..., "--b", help="Graph id compared with the reference."),
    rel_types: str = typer.Option("", help="Comma-separated relationship types (default: all)."),
    label_property: str = typer.Option("label", help="Node property holding the class (CNS)."),
) -> None:
    """Compare two graphs on the same nodes (epochs, seeds, pruning rounds, noise levels); record the result.

    Example: graphstore compare cns --a run1-e10-knn --b run1-e20-knn
    """
    from graphstore.analysis.compare import run_comparison
    from graphstore.analysis.similarity import SimilarityParams

    result = run_comparison(settings_of(ctx), method, graph_a, graph_b, SimilarityParams(rel_types, label_property))
    console.print(f"[bold]{method}[/]({graph_a}, {graph_b}) = {result['value']}")
    console.print_json(json.dumps(result))


def register(root: typer.Typer) -> None:
    _register_all()
    root.add_typer(app, name="analyze")
    root.command("compare")(compare)
