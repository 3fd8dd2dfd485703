"""`graphstore demo`: the main job end to end on embedded defaults (no server needed)."""

from __future__ import annotations

import typer

from graphstore.cli.context import console, settings_of
from graphstore.cli.output import OutputFormat, print_result
from graphstore.cli.progress import write_progress


def demo(
    ctx: typer.Context,
    model: str = typer.Option("small-cnn", help="Model from the registry."),
    dataset: str = typer.Option("digits", help="Dataset from the registry (digits ships offline)."),
    seed: int = typer.Option(0, help="Seed for the initial weights."),
    graph_id: str = typer.Option("demo-weights", help="Graph id to store (replaced if present)."),
) -> None:
    """Build a network, extract its weight graph, store it in the configured store and print its hubs.

    Example: graphstore demo --model small-cnn --dataset digits
    """
    import torch

    from graphstore.extract.weights import weight_graph
    from graphstore.nn.datasets import load_dataset
    from graphstore.nn.models import build_model, model_spec
    from graphstore.persist import save_graph
    from graphstore.store import open_store

    settings = settings_of(ctx)
    data = load_dataset(dataset, data_dir=settings.data_dir)
    torch.manual_seed(seed)
    net = build_model(model_spec(model, data.info))
    console.print(f"[bold]{model}[/] on {dataset}: {net.hidden_neurons()} hidden neurons, "
                  f"{len(net.prunable_layers())} weight layers (freshly initialised, seed {seed})")
    graph = weight_graph(graph_id, net.prunable_layers(), class_names=data.info.class_names)
    graph.params.update({"model": model, "dataset": dataset, "seed": seed, "state": "initial"})
    with write_progress(f"writing {graph_id}") as on_progress:
        report = save_graph(settings, graph, replace=True, on_progress=on_progress)
    console.print(f"Stored {report.nodes} nodes and {report.edges} edges in {settings.graph_store_uri} "
                  f"in {report.seconds:.2f} s")
    with open_store(settings) as store:
        print_result(store.run_query("hubs", {"graph_id": graph_id, "limit": 10}), OutputFormat.table,
                     title=f"top hubs of {graph_id} (graphstore query hubs --param graph_id={graph_id})")


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)
