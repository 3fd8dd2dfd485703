"""Neo4j jars (server, Browser, OpenGDS, APOC) resolved once by Maven from neo4j-pom.xml into a cache dir.

The jars run inside the server as whoever starts it, so the cache must be private (services/run_dir.py) and its
plugins/ folder, which is on the server's classpath, must hold exactly the jars Maven put there (listed in
`.plugins` when resolved) and graphstore's own write plugin.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from graphstore.errors import ServiceError
from graphstore.safe_fs import atomic_write_text, ensure_private_dir
from graphstore.services import run_dir
from graphstore.services.state import Say, quiet

POM = Path(__file__).with_name("neo4j-pom.xml")
MARKER = ".complete"
PLUGINS = ".plugins"  # the jars Maven put into plugins/, one name a line
WHAT = "Neo4j distribution"
CACHE_ENV = "GRAPHSTORE_SERVICES_CACHE"
MAVEN_ARGS_ENV = "GRAPHSTORE_MAVEN_ARGS"
_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def pom_properties(pom: Path = POM) -> dict[str, str]:
    """The <properties> of the pom (the single source of the Neo4j/GDS/APOC/Browser versions)."""
    props = ET.parse(pom).getroot().find("m:properties", _NS)
    return {el.tag.split("}", 1)[-1]: (el.text or "").strip() for el in (props if props is not None else [])}


def neo4j_version(pom: Path = POM) -> str:
    """The Neo4j version the pom pins."""
    return pom_properties(pom)["neo4j.version"]


def cache_root() -> Path:
    """Where resolved servers live: $GRAPHSTORE_SERVICES_CACHE, else ~/.cache/graphstore (outlives clones)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "graphstore"


def dist_dir(pom: Path = POM) -> Path:
    """The cache dir for this pom's Neo4j version: <cache>/neo4j-<version> with lib/ and plugins/."""
    return cache_root() / f"neo4j-{neo4j_version(pom)}"


def _pom_digest(pom: Path) -> str:
    """A digest of the pom without comments, stored in the marker: an edited pom triggers a new resolution."""
    canonical = ET.canonicalize(from_file=str(pom), with_comments=False, strip_text=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_complete(home: Path, pom: Path = POM) -> bool:
    """Whether home holds a finished resolution of exactly this pom."""
    marker = home / MARKER
    return marker.is_file() and marker.read_text().strip() == _pom_digest(pom)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive file lock (so parallel starts resolve only once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def dist_lock(home: Path) -> Iterator[None]:
    """The lock that serialises changes to a distribution dir (resolution, plugin builds)."""
    with _locked(home.with_name(home.name + ".lock")):
        yield


def _maven() -> str:
    """The mvn executable, or a ServiceError naming the fix."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServiceError(
            "Maven (mvn) is not on PATH; it is needed once to fetch the Neo4j jars.",
            "Install Maven 3.8+ and Java 17 (apt-get install maven openjdk-17-jre-headless), "
            "or use Docker: docker compose -f docker/compose.yaml up -d",
        )
    return mvn


def _run_maven(pom: Path, target: Path) -> None:
    """Run `mvn package` on a copy of the pom, copying the jars into target/lib and target/plugins."""
    extra = shlex.split(os.environ.get(MAVEN_ARGS_ENV, ""))
    with tempfile.TemporaryDirectory(prefix="graphstore-mvn-") as work:
        shutil.copy(pom, Path(work) / "pom.xml")
        cmd = [_maven(), "-B", "-q", "package", f"-Dneo4j.home={target}", *extra]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if proc.returncode != 0:
        out = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise ServiceError(
            f"Maven could not resolve the Neo4j jars (exit {proc.returncode}):\n{out}",
            "Check network access to Maven Central (or a mirror in ~/.m2/settings.xml); "
            f"extra Maven flags can be passed in ${MAVEN_ARGS_ENV}.",
        )


def ensure_dist(pom: Path = POM, say: Say = quiet) -> Path:
    """The cache dir with all jars, running Maven first unless a complete resolution is already there."""
    home = dist_dir(pom)
    ensure_private_dir(home.parent, "Neo4j jar cache")
    if is_complete(home, pom):
        return home
    with dist_lock(home):
        if is_complete(home, pom):
            return home
        say(f"Resolving Neo4j {neo4j_version(pom)} + GDS + APOC + Browser with Maven into {home} (once)")
        started = time.monotonic()
        staging = home.with_name(f"{home.name}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _run_maven(pom, staging)
            _record_plugins(staging)
            (staging / MARKER).write_text(_pom_digest(pom) + "\n")
            shutil.rmtree(home, ignore_errors=True)
            staging.rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        say(f"Resolved {len(list((home / 'lib').glob('*.jar')))} jars in {time.monotonic() - started:.0f} s")
    return home


def _record_plugins(home: Path) -> list[str]:
    """Write home/.plugins: the jars now in plugins/ (graphstore's write plugin, built later, is not among them)."""
    names = sorted(p.name for p in (home / "plugins").iterdir() if not p.name.startswith("graphstore-write-"))
    atomic_write_text(home / PLUGINS, "".join(f"{name}\n" for name in names))
    return names


def expected_plugins(home: Path) -> list[str]:
    """The jars Maven put into plugins/ (a cache resolved before `.plugins` existed is listed now: it is private)."""
    try:
        return (home / PLUGINS).read_text().split()
    except FileNotFoundError:
        return _record_plugins(home)


def check_dist(home: Path, own_jars: list[str]) -> None:
    """Refuse a distribution another user could have changed, or whose plugins/ holds a jar not put there by
    Maven or graphstore (own_jars: graphstore's write plugin)."""
    for folder in (home.parent, home, home / "lib", home / "plugins"):
        run_dir.check_dir(folder, WHAT)
    run_dir.check_tree(home, WHAT)
    expected = [*expected_plugins(home), *own_jars]
    run_dir.check_only(home / "plugins", expected, "Neo4j runs every jar in its plugins/ folder")
