"""`graphstore db upgrade | status`: migrate and inspect the tracking database (runs, metrics, graphs)."""

from __future__ import annotations

import typer
from rich.table import Table

from graphstore.cli.context import address_origin, console, resolved_of, settings_of
from graphstore.config import mask_url
from graphstore.tracking import db as tracking_db

app = typer.Typer(
    help="Create, upgrade and inspect the tracking database (SQLite by default, PostgreSQL by URL).\n\n"
    "Example: graphstore db status",
    no_args_is_help=True,
)

STATE_TEXT = {
    "current": "[green]yes[/]",
    "behind": "[yellow]no - run `graphstore db upgrade`[/]",
    "newer": "[red]no - migrated by a newer graphstore; upgrade the package[/]",
}


@app.command("upgrade")
def upgrade_cmd(
    ctx: typer.Context,
    revision: str = typer.Option("head", "--revision", help="Target revision (default: the newest)."),
) -> None:
    """Apply the Alembic migrations to the tracking database (SQLite also upgrades itself on first use).

    Example: graphstore --database-url postgresql+psycopg://graphstore@127.0.0.1:5432/graphstore db upgrade
    """
    url = settings_of(ctx).tracking_url
    before, after = tracking_db.upgrade(url, revision)
    if before == after:
        console.print(f"{mask_url(url)} is already at revision {after}.", highlight=False)
    else:
        console.print(f"Upgraded {mask_url(url)}: {before or '(empty)'} -> {after}.", highlight=False)


def _table(status: tracking_db.SchemaStatus) -> Table:
    """The status as a two-column table."""
    table = Table(title="tracking database", show_header=False)
    table.add_column("field")
    table.add_column("value")
    current = status.current or ("(no database file yet)" if not status.exists else "(empty)")
    table.add_row("url", status.url)
    table.add_row("current revision", current)
    table.add_row("head revision", status.head)
    table.add_row("up to date", STATE_TEXT[status.state])
    for name, count in (status.counts or {}).items():
        table.add_row(name, str(count))
    return table


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    check: bool = typer.Option(False, "--check", help="Fail (exit code 2) unless the schema is up to date."),
) -> None:
    """Show the tracking DB URL (masked), its revision, the code's head revision, and row counts.

    Example: GRAPHSTORE_DATABASE_URL=sqlite:///runs.db graphstore db status --check
    """
    resolved = resolved_of(ctx)
    url = resolved.settings.tracking_url
    status = tracking_db.schema_status(url)
    table = _table(status)
    table.add_row("url set", address_origin(resolved, "database_url"))
    console.print(table, highlight=False)
    if check and not status.up_to_date:
        heads = tuple(status.current.split(",")) if status.current else ()
        raise tracking_db.newer_error(url, heads) if status.state == "newer" else tracking_db.behind_error(url, heads)


def register(root: typer.Typer) -> None:
    """Add the `db` group to the root app."""
    root.add_typer(app, name="db")
