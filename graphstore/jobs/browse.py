"""The browse job: the Neo4j Browser address of the configured graph store, with the connection filled in.

The address carries the server and the user (`?dbms=bolt://user@host:port&db=...`), never the password: the Browser
asks for it in its connect form. The job also says whether the server applies graphstore's stylesheet and guide on
connect (its `browser.post_connect_cmd`), so a user of some other Neo4j knows to run `:style` / `:play` by hand.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from graphstore import services
from graphstore.errors import ServiceError
from graphstore.jobs.base import JOBS, JobContext, JobSpec
from graphstore.services.browser_content import FILES, connect_url

DEFAULT_HTTP_PORT = 7474


@dataclass(frozen=True)
class BrowseParams:
    """Print the Neo4j Browser address of the configured Neo4j graph store, with the connection filled in."""

    http: str | None = field(
        default=None,
        metadata={
            "help": "Neo4j's HTTP address, e.g. http://127.0.0.1:7474 (default: the local server of `graphstore "
            "services` that serves the configured store, else port 7474 on the Bolt host)."
        },
    )
    run_dir: str | None = field(
        default=None, metadata={"help": "Run root of the local servers (default: ~/.local/state/graphstore/services)."}
    )
    check: bool = field(
        default=True,
        metadata={"help": "Check that the Browser answers and whether it applies graphstore's style and guide."},
    )


@dataclass
class BrowseResult:
    """The Browser address and what was found about the server (no password anywhere)."""

    url: str
    http: str
    bolt: str
    user: str
    database: str
    http_from: str
    checked: bool
    styled: bool | None = None
    post_connect_cmd: str = ""
    notes: list[str] = field(default_factory=list)


def _http_address(context: JobContext, params: BrowseParams, bolt: str) -> tuple[str, str]:
    """(HTTP base URL, where it came from): --http, the local server's state, or the Bolt host with port 7474."""
    if params.http:
        parts = urlsplit(params.http if "://" in params.http else f"http://{params.http}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServiceError(
                f"--http {params.http!r} is not an http(s) address.", "Example: --http http://127.0.0.1:7474"
            )
        return f"{parts.scheme}://{parts.netloc}", "--http"
    root = Path(params.run_dir).expanduser() if params.run_dir else services.default_run_root()
    services.check_root(root)
    state = services.neo4j_status(services.run_dirs(root)["neo4j"])
    if state.get("running") and state.get("bolt_uri") == bolt.rstrip("/"):
        return str(state["http_uri"]), f"the local server in {root}"
    host = urlsplit(bolt).hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{DEFAULT_HTTP_PORT}", f"the Bolt host with Neo4j's default HTTP port {DEFAULT_HTTP_PORT}"


def _browser_answers(http: str) -> None:
    """Raise a ServiceError naming the address unless GET <http>/browser/ answers 200."""
    try:
        with urllib.request.urlopen(f"{http}/browser/", timeout=10) as response:
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        problem = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise ServiceError(
        f"Neo4j Browser does not answer at {http}/browser/ ({problem}).",
        "Give Neo4j's HTTP address with --http, start the local servers (graphstore services start), "
        "or pass --no-check to print the address anyway.",
    )


def _post_connect_cmd(context: JobContext) -> str:
    """The server's browser.post_connect_cmd, as the Browser reads it (dbms.clientConfig)."""
    with context.open_store() as store:
        result = store.execute(
            "CALL dbms.clientConfig() YIELD name, value WHERE name = 'browser.post_connect_cmd' RETURN value"
        )
    return str(result.rows[0][0]) if result.rows else ""


def run_browse(context: JobContext, params: BrowseParams) -> BrowseResult:
    """Work out the Browser address for the configured Neo4j store; with check, probe the server too."""
    settings = context.settings
    if not settings.is_neo4j:
        raise ServiceError(
            f"The graph store is the embedded one ({settings.graph_store_uri}); Neo4j Browser needs a Neo4j server.",
            'Start one with `graphstore services start` and use it: eval "$(graphstore services env --app)" '
            "(or --graph-store bolt://HOST:7687).",
        )
    bolt = settings.graph_store_uri
    http, http_from = _http_address(context, params, bolt)
    url = connect_url(http, bolt, settings.neo4j_user, settings.neo4j_database)
    result = BrowseResult(url, http, bolt, settings.neo4j_user, settings.neo4j_database, http_from, params.check)
    if params.check:
        _browser_answers(http)
        result.post_connect_cmd = _post_connect_cmd(context)
        result.styled = all(name in result.post_connect_cmd for name in FILES)
        if not result.styled:
            result.notes.append(
                "This server does not apply graphstore's stylesheet and guide on connect; the servers of "
                "`graphstore services start` and docker/compose.yaml do (docs/BROWSER.md)."
            )
    return result


BROWSE = JobSpec("browse", BrowseParams.__doc__ or "", BrowseParams, run_browse, "graphstore browse --open")
JOBS.register(BROWSE)
