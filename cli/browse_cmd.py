"""`graphstore browse [--open]`: an adapter over graphstore.jobs.browse (the Neo4j Browser address, connection filled
in, never the password)."""

from __future__ import annotations

import webbrowser
from typing import Any

import typer

from graphstore.cli.adapter import Extra, job_command
from graphstore.cli.context import console
from graphstore.jobs.browse import BROWSE, BrowseResult

OPEN = Extra("open_browser", bool, typer.Option(False, "--open", help="Also open the address in a web browser."))


def render(done: BrowseResult, cli: dict[str, Any]) -> None:
    """The address on a line of its own (to copy or pipe), then where it came from and what the server does."""
    typer.echo(done.url)
    console.print(
        f"[dim]Bolt {done.bolt}, database {done.database}, user {done.user}; HTTP from {done.http_from}. "
        "The Browser asks for the password (GRAPHSTORE_NEO4J_PASSWORD; for a local server "
        "`graphstore services env --reveal` shows it).[/]",
        highlight=False,
        soft_wrap=True,
    )
    if done.styled:
        console.print("[dim]On connect the server applies graphstore's stylesheet and opens its guide.[/]")
    for note in done.notes:
        console.print(f"[yellow]{note}[/]", highlight=False, soft_wrap=True)
    if cli.get("open_browser") and not webbrowser.open(done.url):
        console.print("[yellow]No web browser could be started here; open the address above by hand.[/]")


def register(root: typer.Typer) -> None:
    root.command("browse")(job_command(BROWSE, render, extras=[OPEN]))
