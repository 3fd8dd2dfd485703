"""`graphstore services start|stop|status|env`: local Neo4j and PostgreSQL servers without Docker."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from graphstore import services
from graphstore.cli.context import console, settings_of
from graphstore.errors import ServiceError
from graphstore.masking import MASK, mask_url
from graphstore.services.neo4j_server import MAX_WARM_UP_S, WARM_UP_S

app = typer.Typer(
    help="Local Neo4j (+ Browser, GDS, APOC) and PostgreSQL servers for tests and development.\n\n"
    'Example: graphstore services start && eval "$(graphstore services env)"',
    no_args_is_help=True,
)

NEO4J_OPT = typer.Option(True, "--neo4j/--no-neo4j", help="Include the Neo4j server.")
POSTGRES_OPT = typer.Option(True, "--postgres/--no-postgres", help="Include the PostgreSQL server.")
RUN_DIR_OPT = typer.Option(
    None,
    "--run-dir",
    help="Parent of the neo4j/ and postgres/ run dirs, a folder only you can write "
    "[default: ~/.local/state/graphstore/services].",
)


def _run_root(ctx: typer.Context, run_dir: Path | None) -> Path:
    """The run root from --run-dir, else the private default; refused when another user could have prepared it."""
    settings_of(ctx)  # resolve the global options (and fail early on a bad config)
    root = (run_dir or services.default_run_root()).expanduser().absolute()
    services.check_root(root)  # before resolve(): a symlink is refused, not followed
    return root.resolve()


def _say(message: str) -> None:
    """Progress line for long steps."""
    console.print(f"[dim]{message}[/]", highlight=False, soft_wrap=True)


def _show_neo4j(state: dict[str, Any]) -> None:
    """Print where Neo4j answers."""
    word = "already running" if state.get("already_running") else f"started in {state.get('seconds', '?')} s"
    console.print(
        f"[green]Neo4j {state['version']}[/] {word} (pid {state['pid']}): "
        f"Bolt {state['bolt_uri']}, Browser {state['http_uri']}/browser/, "
        f"user {state['user']}",
        highlight=False,
        soft_wrap=True,
    )
    if "heap" in state:
        console.print(f"[dim]memory: heap {state['heap']}, page cache {state['pagecache']}[/]", highlight=False)
    warmed = state.get("warm_up")
    if warmed and not warmed["error"]:
        cut = " and one cut by its time budget" if warmed["cut"] else ""
        console.print(
            f"[dim]write path warmed up in {warmed['seconds']} s: {warmed['rounds']} whole throw-away graph(s)"
            f"{cut} written and dropped[/]",
            highlight=False,
        )
    elif warmed:
        console.print(
            f"[yellow]warm-up stopped after {warmed['rounds']} round(s) (the server runs): "
            f"{escape(warmed['error'])}[/]",
            highlight=False,
            soft_wrap=True,
        )
    if "write_plugin" in state:
        plugin = state["write_plugin"] or "not installed (writes go through Cypher UNWIND, about 2x slower)"
        console.print(f"[dim]graphstore write plugin: {plugin}[/]", highlight=False, soft_wrap=True)


def _show_postgres(state: dict[str, Any]) -> None:
    """Print where PostgreSQL answers."""
    word = "already running" if state.get("already_running") else "started"
    console.print(
        f"[green]PostgreSQL {state['version']}[/] {word} (pid {state['pid']}): {mask_url(state['url'])}",
        highlight=False,
        soft_wrap=True,
    )


def _explicit_password(ctx: typer.Context) -> str | None:
    """The --neo4j-password flag only: GRAPHSTORE_NEO4J_PASSWORD may belong to another server, so a new
    instance gets a generated password unless one is given on this command line."""
    settings_of(ctx)  # resolve the global options (and fail early on a bad config)
    flags = getattr(ctx.find_root().obj, "flags", {}) or {}
    return flags.get("neo4j_password") or None


@app.command("start")
def start(
    ctx: typer.Context,
    neo4j: bool = NEO4J_OPT,
    postgres: bool = POSTGRES_OPT,
    run_dir: Path | None = RUN_DIR_OPT,
    timeout: float = typer.Option(180.0, "--timeout", help="Seconds to wait for each server."),
    warm_up: bool = typer.Option(
        True,
        "--warm-up/--no-warm-up",
        help="After Neo4j starts, write and drop small throw-away graphs (see --warm-up-seconds, plus the "
        "store's first open and the drops), so less of the JIT's compiling falls into the first real write.",
    ),
    warm_up_seconds: float = typer.Option(
        WARM_UP_S,
        "--warm-up-seconds",
        min=0.0,
        max=MAX_WARM_UP_S,
        help="The warm-up's writing budget: a shorter one starts sooner and leaves more of the compiling to the "
        "first write (measured in bench/RESULTS.md, 'First write after services start'); 0 skips the warm-up.",
    ),
) -> None:
    """Start the servers in the background (first Neo4j start fetches its jars with Maven); no-op if running.

    Example: graphstore services start --no-postgres && eval "$(graphstore services env)"
    Example: graphstore services start --warm-up-seconds 5   (a quicker start, a slower first write)
    """
    dirs = services.run_dirs(services.prepare_root(_run_root(ctx, run_dir)))
    if postgres:
        with console.status("Starting PostgreSQL..."):
            _show_postgres(services.start_postgres(dirs["postgres"], timeout=timeout, say=_say))
    if neo4j:
        password = _explicit_password(ctx)
        with console.status("Starting Neo4j..."):
            _show_neo4j(
                services.start_neo4j(
                    dirs["neo4j"], password, timeout=timeout, say=_say, warm_up=warm_up, warm_up_seconds=warm_up_seconds
                )
            )
    root = dirs["neo4j"].parent
    console.print(
        f'Export the settings: eval "$(graphstore services env --run-dir {root})"', highlight=False, soft_wrap=True
    )


@app.command("plugin")
def plugin(
    out: Path = typer.Option(..., "--out", help="Folder to write the jar into: your Neo4j server's plugins/ folder."),
) -> None:
    """Build graphstore's write plugin (graphstore.create_nodes / create_relationships) for a Neo4j 5 server of
    your own; `services start` installs it in its own server. Needs a JDK 17 (javac).

    Example: graphstore services plugin --out /var/lib/neo4j/plugins   (then restart that server)
    """
    from graphstore.services.write_plugin import build_for_server  # deferred: only this command builds jars

    with console.status("Building graphstore's write plugin..."):
        jar = build_for_server(out, say=_say)
    console.print(
        f"Wrote {jar}. Restart the server: graphstore then writes graphs through the plugin (about 2x faster "
        "than Cypher); without it, it falls back to Cypher by itself.",
        highlight=False,
        soft_wrap=True,
    )


@app.command("stop")
def stop(
    ctx: typer.Context,
    neo4j: bool = NEO4J_OPT,
    postgres: bool = POSTGRES_OPT,
    run_dir: Path | None = RUN_DIR_OPT,
    purge: bool = typer.Option(False, "--purge", help="Also delete the servers' data and run dirs."),
) -> None:
    """Stop the servers (Neo4j: SIGTERM, SIGKILL after 60 s; PostgreSQL: pg_ctl stop -m fast); data is kept.

    Example: graphstore services stop --no-postgres   (or --purge --run-dir DIR to throw an instance away)
    """
    dirs = services.run_dirs(_run_root(ctx, run_dir))
    for name, key, wanted, stop_fn in (
        ("Neo4j", "neo4j", neo4j, services.stop_neo4j),
        ("PostgreSQL", "postgres", postgres, services.stop_postgres),
    ):
        if wanted:
            with console.status(f"Stopping {name}..."):
                stopped = stop_fn(dirs[key], purge=purge)
            word = "stopped" if stopped else "was not running"
            console.print(f"{name}: {word}{' (data deleted)' if purge else ''}")


def _describe(name: str, state: dict[str, Any]) -> str:
    """One status line for a service."""
    if not state.get("service"):
        return f"{name}: [yellow]never started[/]"
    if not state["running"]:
        return f"{name}: [red]stopped[/] (run dir {state.get('run_dir')})"
    where = (
        f"{state['bolt_uri']}, Browser {state['http_uri']}/browser/"
        if name == "neo4j"
        else mask_url(state.get("url", ""))
    )
    return f"{name}: [green]running[/] pid {state['pid']}, {where}, log {state.get('log')}"


@app.command("status")
def status(ctx: typer.Context, run_dir: Path | None = RUN_DIR_OPT) -> None:
    """Show whether each server runs, its pid, URIs and log file.

    Example: graphstore services status --run-dir /tmp/gs
    """
    states = services.status(_run_root(ctx, run_dir))
    for name in ("neo4j", "postgres"):
        console.print(_describe(name, states[name]), highlight=False, soft_wrap=True)


def _exports(states: dict[str, dict[str, Any]], app_settings: bool) -> list[tuple[str, str]]:
    """(name, value) pairs for the running services: test variables, plus app settings if asked."""
    out: list[tuple[str, str]] = []
    neo, pg = states["neo4j"], states["postgres"]
    if neo["running"]:
        out += [
            ("GRAPHSTORE_TEST_NEO4J_URI", neo["bolt_uri"]),
            ("GRAPHSTORE_TEST_NEO4J_HTTP", neo["http_uri"]),
            ("GRAPHSTORE_TEST_NEO4J_USER", neo["user"]),
            ("GRAPHSTORE_TEST_NEO4J_PASSWORD", neo["password"]),
        ]
        if app_settings:
            out += [
                ("GRAPHSTORE_GRAPH_STORE", neo["bolt_uri"]),
                ("GRAPHSTORE_NEO4J_USER", neo["user"]),
                ("GRAPHSTORE_NEO4J_PASSWORD", neo["password"]),
            ]
    if pg["running"]:
        out.append(("GRAPHSTORE_TEST_DATABASE_URL", pg["url"]))
        if app_settings:
            out.append(("GRAPHSTORE_DATABASE_URL", pg["url"]))
    return out


@app.command("env")
def env(
    ctx: typer.Context,
    run_dir: Path | None = RUN_DIR_OPT,
    app_settings: bool = typer.Option(
        False,
        "--app",
        help="Also export GRAPHSTORE_GRAPH_STORE, GRAPHSTORE_NEO4J_USER/PASSWORD and GRAPHSTORE_DATABASE_URL.",
    ),
    reveal: bool = typer.Option(False, "--reveal", help="Print the passwords even on a terminal."),
) -> None:
    """Print shell `export` lines for the running servers: GRAPHSTORE_TEST_*, with --app the app settings.

    The lines carry the generated passwords, for `eval`; on a terminal they are masked unless --reveal.
    Example: eval "$(graphstore services env)" && pytest -m "neo4j or postgres"
    """
    states = services.status(_run_root(ctx, run_dir))
    pairs = _exports(states, app_settings)
    if not pairs:
        raise ServiceError("No local server is running.", "Start them: graphstore services start")
    for name in ("neo4j", "postgres"):
        if not states[name]["running"]:
            typer.echo(f"# {name} is not running")
    hide = sys.stdout.isatty() and not reveal
    if hide:
        typer.echo('# passwords masked on a terminal: use eval "$(graphstore services env ...)" or --reveal')
    for key, value in pairs:
        typer.echo(f"export {key}={shlex.quote(_shown(key, str(value), hide))}")


def _shown(key: str, value: str, hide: bool) -> str:
    """value as printed: passwords and URL passwords masked when hide."""
    if not hide:
        return value
    return MASK if key.endswith("PASSWORD") else mask_url(value)


def register(root: typer.Typer) -> None:
    """Add the `services` group to the root app."""
    root.add_typer(app, name="services")
