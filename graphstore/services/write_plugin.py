"""graphstore's Neo4j server plugin: columnar write procedures, compiled from source against the cached jars.

The plugin (plugin/GraphstoreWrite.java) gives `graphstore.create_nodes` and `graphstore.create_relationships`:
rows arrive as little-endian byte columns and go to the kernel's Write API in the caller's transaction, so a
batch still commits with its progress. Each call is checked whole before it writes: it adds :GraphNode nodes (uids
of their graph) or relationships whose endpoints are all :GraphNode nodes of one graph, and that graph's :Graph
record must be `writing`; names must be identifiers, counts and column lengths must match, type codes must be known.
A refusal's message starts with "graphstore refused:" (the store turns it into InvalidGraph).
`graphstore services start` builds it once per source and Neo4j version (javac + jar from the JDK) into the
distribution's plugins/ folder; a server without it is written through Cypher `UNWIND`
instead (graphstore.store.neo4j_store). For a server of your own: `graphstore services plugin`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from graphstore.errors import ServiceError
from graphstore.safe_fs import atomic_write_bytes

SOURCE = Path(__file__).with_name("plugin") / "GraphstoreWrite.java"
PREFIX = "graphstore-write-"
INSTALL_HINT = (
    "Install a JDK 17 (apt-get install openjdk-17-jdk-headless, or set JAVA_HOME to one); "
    "without the plugin graphstore writes to Neo4j through Cypher, about 2x slower."
)


def _jdk_tool(name: str) -> str:
    """javac or jar from $JAVA_HOME/bin, else PATH; a ServiceError naming the fix when there is none."""
    home = os.environ.get("JAVA_HOME")
    tool = str(Path(home) / "bin" / name) if home else shutil.which(name)
    if not tool or not Path(tool).exists():
        raise ServiceError(f"{name} (from a JDK) is needed to build graphstore's Neo4j plugin.", INSTALL_HINT)
    return tool


def jar_name(version: str) -> str:
    """The plugin's file name: it changes with the source and the Neo4j version it is compiled against."""
    digest = hashlib.sha256(SOURCE.read_bytes() + version.encode()).hexdigest()[:12]
    return f"{PREFIX}{version}-{digest}.jar"


def build_jar(lib: Path, out: Path) -> Path:
    """Compile the plugin against the Neo4j jars in lib and write it to out (a .jar path)."""
    with tempfile.TemporaryDirectory(prefix="graphstore-plugin-") as work:
        classes = Path(work) / "classes"
        classes.mkdir()
        javac = [_jdk_tool("javac"), "--release", "17", "-nowarn", "-cp", f"{lib}/*", "-d", str(classes), str(SOURCE)]
        _run(javac, "compile")
        staged = Path(work) / out.name
        _run([_jdk_tool("jar"), "cf", str(staged), "-C", str(classes), "."], "package")
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, staged.read_bytes())  # temp file + rename: never through a link planted at out
    return out


def _run(cmd: list[str], step: str) -> None:
    """Run one JDK tool; its output in a ServiceError when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        out = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise ServiceError(f"Could not {step} graphstore's Neo4j plugin (exit {proc.returncode}):\n{out}", INSTALL_HINT)


def ensure_plugin(dist: Path, version: str) -> Path:
    """The plugin jar in dist/plugins for this source and version, built when missing (older builds removed).

    The caller holds the distribution's lock, so parallel starts build it once."""
    plugins = dist / "plugins"
    jar = plugins / jar_name(version)
    if jar.is_file():
        return jar
    built = build_jar(dist / "lib", jar)
    for old in plugins.glob(f"{PREFIX}*.jar"):
        if old != built:
            old.unlink(missing_ok=True)
    return built


def build_for_server(out: Path, say: Callable[[str], None]) -> Path:
    """Build the plugin for a server of your own into out (its plugins/ folder), against the cached jars of
    the Neo4j version graphstore pins (fetched with Maven first when missing)."""
    from graphstore.services import neo4j_dist  # deferred: Maven resolution only when this runs

    dist = neo4j_dist.ensure_dist(say=say)
    version = neo4j_dist.neo4j_version()
    return build_jar(dist / "lib", Path(out).expanduser() / jar_name(version))
