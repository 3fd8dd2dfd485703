"""graphstore's Neo4j Browser content: a GraSS stylesheet and a `:play` guide, and where the Browser finds them.

Neo4j 5.26 serves its Browser from the classpath folder `browser` at /browser (Neo4jBrowserModule: one
`ClassLoader.getResource("browser")`, so the first jar on the classpath that has the folder wins). `services start`
therefore puts a copy of the Browser jar with the two files added under `browser/graphstore/` into the instance's
conf/ folder, which the launcher's classpath (`plugins/*:conf/*:lib/*`) reads before lib/: the files are served
by the same server, same origin, no internet and no extra process. neo4j.conf's `browser.post_connect_cmd` runs
`:style` and `:guide` on them after each connect, and `browser.remote_content_hostname_whitelist` (5.26's name; the
docs of later versions say allowlist, which 5.26 refuses as unknown) lets the Browser fetch from 127.0.0.1 (its
default list is guides.neo4j.com and localhost). docker/compose.yaml serves the same
files from a small web server instead, since the image's Browser jar cannot be extended from outside.

Nothing leaves the machine: the Browser of a Community server loads web fonts, Segment analytics and a Canny
feedback widget from the internet whatever `browser.allow_outgoing_connections` says (5.26 Community does not even
declare that setting, and the Browser's `shouldAllowOutgoingConnections` is true for any non-Enterprise server).
So the server sends its Browser a Content-Security-Policy (`dbms.security.http_static_content_security_policy_header`)
that allows only the server itself and loopback hosts; Chromium then blocks those requests before they are sent.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import quote, urlencode

from graphstore.safe_fs import atomic_write_bytes

CONTENT_DIR = Path(__file__).with_name("browser")
FILES = ("style.grass", "guide.html")
MOUNT = "graphstore"  # served at <http>/browser/graphstore/
JAR_NAME = "graphstore-browser.jar"
ALLOWLIST = "127.0.0.1,localhost"
LOOPBACK = ("127.0.0.1", "localhost")
CSP_SETTING = "dbms.security.http_static_content_security_policy_header"


def content_security_policy() -> str:
    """The Browser's CSP: its own origin and loopback hosts only (Bolt over ws:, content over http:), no internet.

    Neo4j's default allows cdn.segment.com, canny.io, fonts.googleapis.com and any http:, https:, ws: connection.
    """
    hosts = " ".join(f"{scheme}://{host}:*" for scheme in ("http", "ws") for host in LOOPBACK)
    return (
        "default-src 'self'; script-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"font-src 'self' data:; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; connect-src 'self' {hosts}"
    )


def content_base(http_uri: str) -> str:
    """The URL the Browser fetches the stylesheet and guide from, for a server built by `write_content_jar`."""
    return f"{http_uri.rstrip('/')}/browser/{MOUNT}"


def post_connect_cmd(base: str) -> str:
    """The Browser commands run after each connect: apply the stylesheet, then open the guide in the guide sidebar.

    `:guide` rather than `:play`: both fetch asynchronously, and two frames would land in either order; the sidebar
    also keeps the guide beside the results while its queries run.
    """
    return f"style {base}/style.grass; guide {base}/guide.html"


def browser_settings(http_uri: str) -> list[str]:
    """neo4j.conf lines that make the Browser apply graphstore's style and guide on connect."""
    return [
        f"browser.post_connect_cmd={post_connect_cmd(content_base(http_uri))}",
        f"browser.remote_content_hostname_whitelist={ALLOWLIST}",
        f"{CSP_SETTING}={content_security_policy()}",
    ]


def browser_jar(dist: Path) -> Path | None:
    """Neo4j Browser's jar among the resolved server jars (None when the Browser is not there)."""
    jars = sorted((Path(dist) / "lib").glob("neo4j-browser-*.jar"))
    return jars[-1] if jars else None


def write_content_jar(conf_dir: Path, dist: Path) -> Path | None:
    """Write conf_dir/graphstore-browser.jar: the Browser jar plus the style and guide under browser/graphstore/.

    Rewritten on every start (a copy of about 15 MB, built in memory and written by temp file + rename, never
    through a symlink), so an upgraded Browser or edited guide is always served. Returns None (and removes a stale
    copy) when the resolved server has no Browser jar.
    """
    target = Path(conf_dir) / JAR_NAME
    source = browser_jar(dist)
    if source is None:
        target.unlink(missing_ok=True)
        return None
    buffer = io.BytesIO(source.read_bytes())
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as jar:
        for name in FILES:
            jar.write(CONTENT_DIR / name, f"browser/{MOUNT}/{name}")
    atomic_write_bytes(target, buffer.getvalue(), mode=0o600)
    return target


def connect_url(http_uri: str, bolt_uri: str, user: str, database: str = "neo4j") -> str:
    """The Browser's address with the connection filled in (server and user; the password is typed in the form)."""
    scheme, sep, rest = bolt_uri.partition("://")
    dbms = f"{scheme}{sep}{quote(user, safe='')}@{rest}" if sep and user else bolt_uri
    query = urlencode({"dbms": dbms, "db": database, "preselectAuthMethod": "NATIVE"})
    return f"{http_uri.rstrip('/')}/browser/?{query}"
