"""`graphstore demo`: a researcher's day end to end on the configured stores (embedded defaults: no server).

It runs the real commands in order - prune imp (which trains the dense network first), ingest the pruned
checkpoint's graphs, analyze, query - so the demo exercises exactly what users run.
"""

from __future__ import annotations

import typer

from graphstore.cli.context import console, settings_of
from graphstore.errors import GraphstoreError


def _global_flags(ctx: typer.Context) -> list[str]:
    """The root options in effect, so each step sees the same stores."""
    settings = settings_of(ctx)
    flags = ["--data-dir", str(settings.data_dir), "--graph-store", settings.graph_store_uri,
             "--database-url", settings.tracking_url]
    if settings.is_neo4j:
        flags += ["--neo4j-user", settings.neo4j_user, "--neo4j-password", settings.neo4j_password]
    return flags


def _step(ctx: typer.Context, title: str, *args: str) -> None:
    """Run one graphstore command in-process; stop the demo when it fails."""
    from graphstore.cli.main import main

    console.rule(f"[bold]{title}[/]  graphstore {' '.join(args)}")
    code = main([*_global_flags(ctx), *args])
    if code:
        raise GraphstoreError(f"Demo step failed: graphstore {' '.join(args)} (exit {code}).")


def _latest_run(ctx: typer.Context, kind: str) -> int:
    from graphstore.tracking import open_tracking

    with open_tracking(settings_of(ctx).tracking_url) as tracking:
        runs = tracking.list_runs(kind=kind, limit=1)
    if not runs:
        raise GraphstoreError(f"The demo found no {kind} run to continue from.")
    return runs[0].id


def demo(
    ctx: typer.Context,
    model: str = typer.Option("small-cnn", help="Model from the registry."),
    dataset: str = typer.Option("digits", help="Dataset from the registry (digits ships offline)."),
    epochs: int = typer.Option(4, help="Training epochs (dense, and per pruning round)."),
    rounds: int = typer.Option(2, help="IMP rounds."),
    rate: float = typer.Option(0.5, help="Fraction of the remaining weights pruned per round."),
    prefix: str = typer.Option("demo", help="Graph ids are <prefix>-<kind> (replaced if present)."),
) -> None:
    """Train and prune a small CNN on digits, ingest its graphs, find communities, and query hubs.

    Example: graphstore demo --epochs 4 --rounds 2
    """
    _step(ctx, "1. train a dense network, then prune it (IMP with rewinding)", "prune", "imp", "--model", model,
          "--dataset", dataset, "--epochs", str(epochs), "--rounds", str(rounds), "--rate", str(rate),
          "--no-progress")
    run_id = _latest_run(ctx, "prune-imp")
    _step(ctx, "2. ingest the pruned network's graphs", "ingest", "--run", str(run_id), "--round", str(rounds),
          "--graphs", "weights,coactivation,knn,class-graph", "--k", "8", "--limit", "600",
          "--graph-id-prefix", prefix, "--replace", "--no-progress")
    _step(ctx, "3. communities of the co-activation graph", "analyze", "louvain", "--graph",
          f"{prefix}-coactivation", "--weight", "w")
    _step(ctx, "4. hubs of the weight graph", "query", "hubs", "-p", f"graph_id={prefix}-weights", "-p", "limit=5")
    _step(ctx, "5. shared neurons (co-activated with 2+ classes)", "query", "shared_neurons",
          "-p", f"graph_id={prefix}-coactivation", "-p", "limit=5")
    _step(ctx, "6. hub samples of the latent kNN graph", "query", "hubs_knn", "-p", f"graph_id={prefix}-knn-k8",
          "-p", "limit=5")
    _step(ctx, "7. the classes nearest to class 3", "query", "nearest_classes", "-p",
          f"graph_id={prefix}-class-graph", "-p", "name=3")
    console.rule("[bold green]done[/]")
    console.print("Next: `graphstore runs list`, `graphstore store list`, `graphstore query --list`; with Neo4j "
                  "(`graphstore services start`), open the Browser and explore the same graphs.")


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)
