"""A local Neo4j 5.26 community server (Bolt + HTTP + Browser + GDS + APOC) as one detached background JVM.

Only its owner can use it: auth is on, the password of user neo4j is generated per run dir (or chosen by the
caller) and set before the first start; it is kept in the run dir's state.json (mode 600) and the run dir,
with the data and the hashed credentials, is mode 700. The JVM runs as the caller (often root) with the run dir's
conf/ on its classpath, so a run dir another user could have prepared is refused (services/run_dir.py), conf/
must hold exactly the files written here, and the command line's classpath is checked before it runs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from graphstore.errors import ServiceError
from graphstore.masking import mask_secret
from graphstore.safe_fs import atomic_write_text
from graphstore.services import browser_content, neo4j_dist, write_plugin
from graphstore.services import run_dir as run_dirs
from graphstore.services.state import (
    Say,
    free_ports,
    new_password,
    pid_alive,
    port_open,
    quiet,
    read_state,
    tail,
    terminate,
    write_state,
)

LEGACY_PASSWORD = "graphstore-test"  # the fixed default of older versions: published, so refused
USER = "neo4j"
HOST = "127.0.0.1"
SUBDIRS = ("conf", "data", "logs", "run", "import")
CONF_FILES = ("neo4j.conf", browser_content.JAR_NAME)  # all conf/ may hold: Neo4j reads it, its jars are code
ADMIN_ARGS = ".admin-args"
WHAT = "Neo4j run dir"
# The warm-up's writing budget. The JIT's work is fixed CPU time, so what the warm-up moves out of the first write
# grows with it: a 500k-edge first write was 1.40-1.78x a warm one after 10 s of writing, 1.05-1.11x after 25 s
# (bench/RESULTS.md, "First write after `services start`"): the start takes about 15 s longer for it.
WARM_UP_S, MAX_WARM_UP_S = 25.0, 600.0


def machine_ram_bytes() -> int:
    """This machine's physical memory (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def default_heap(ram_bytes: int) -> str:
    """A quarter of the machine's memory, between 1 GB and 4 GB, in whole 256 MB steps (initial = max).

    Writes allocate fast (Bolt messages, transaction state, commands): at 2 GB the young generation is collected
    about 170 times per 2M-relationship write and G1 pauses take a fifth of its time; at 4 GB it is 14 times
    (bench/RESULTS.md, "Neo4j server memory and node lanes"). More than 4 GB buys writes nothing; GDS projections
    size their own.
    """
    mib = max(1024, min(4096, ram_bytes // 4 // 2**20)) // 256 * 256
    return f"{mib}m"


HEAP = default_heap(machine_ram_bytes())
MEMORY = {"heap_initial": HEAP, "heap_max": HEAP, "pagecache": "512m", "tx_max": "1g"}
# The 5.26 distribution's JVM flags, minus -XX:+AlwaysPreTouch (it would touch the whole heap at start), plus a
# 1 s pause target: with G1's 200 ms default, a write's transaction state makes young collections slow, G1 shrinks
# the young generation to meet the target, and collections then take a third of a large write (bench/RESULTS.md).
JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=1000",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-XX:FlightRecorderOptions=stackdepth=256",
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dlog4j.layout.jsonTemplate.maxStringLength=32768",
]
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"


def _marker(run_dir: Path) -> str:
    """Text that the server's command line contains (guards against a recycled pid)."""
    return f"--home-dir={run_dir}"


def render_conf(run_dir: Path, dist: Path, bolt_port: int, http_port: int, memory: dict[str, str]) -> str:
    """neo4j.conf for a loopback-only test/dev server whose data and logs live in run_dir."""
    lines = [
        f"server.default_listen_address={HOST}",
        f"server.default_advertised_address={HOST}",
        "server.bolt.enabled=true",
        f"server.bolt.listen_address={HOST}:{bolt_port}",
        f"server.bolt.advertised_address={HOST}:{bolt_port}",
        "server.http.enabled=true",
        f"server.http.listen_address={HOST}:{http_port}",
        f"server.http.advertised_address={HOST}:{http_port}",
        "server.https.enabled=false",
        "dbms.security.auth_enabled=true",
        "dbms.security.procedures.unrestricted=gds.*,apoc.*",
        *(f"server.directories.{d}={run_dir / d}" for d in ("data", "logs", "run", "import")),
        f"server.directories.plugins={dist / 'plugins'}",
        f"server.directories.lib={dist / 'lib'}",
        f"server.memory.heap.initial_size={memory['heap_initial']}",
        f"server.memory.heap.max_size={memory['heap_max']}",
        f"server.memory.pagecache.size={memory['pagecache']}",
        f"dbms.memory.transaction.total.max={memory['tx_max']}",
        "initial.dbms.default_database=neo4j",
        "dbms.usage_report.enabled=false",
        "client.allow_telemetry=false",
        # The Browser applies graphstore's stylesheet and opens its guide on connect (services/browser_content.py).
        *browser_content.browser_settings(f"http://{HOST}:{http_port}"),
        # Test server: shorter Bolt shutdown grace periods (stop takes ~2 s instead of ~10 s).
        "internal.server.bolt.connection_shutdown_wait_time=1s",
        "internal.dbms.bolt.netty_server_shutdown_quiet_period=0",
        "internal.dbms.bolt.netty_server_shutdown_timeout=2s",
        *(f"server.jvm.additional={flag}" for flag in JVM_FLAGS),
    ]
    return "# Written by graphstore services (rewritten on every start).\n" + "\n".join(lines) + "\n"


def _java() -> str:
    """The java executable ($JAVA_HOME/bin/java, else PATH), or a ServiceError naming the fix."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ServiceError(
            "Java is not installed (Neo4j 5.26 needs Java 17).",
            "Install it: apt-get install openjdk-17-jre-headless (or set JAVA_HOME).",
        )
    return java


def _env(run_dir: Path) -> dict[str, str]:
    """Environment for the launcher and server: NEO4J_HOME/NEO4J_CONF set, JAVA_OPTS/HEAP_SIZE removed."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_OPTS", "HEAP_SIZE")}
    env.update(NEO4J_HOME=str(run_dir), NEO4J_CONF=str(run_dir / "conf"))
    return env


def _launcher(run_dir: Path, dist: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of Neo4j's own launcher classes (Neo4jCommand, Neo4jAdminCommand) and capture its output."""
    cmd = [_java(), "-cp", f"{dist / 'lib'}/*", *args]
    return subprocess.run(cmd, env=_env(run_dir), capture_output=True, text=True, timeout=300)


def classpath(run_dir: Path, dist: Path) -> str:
    """The classpath Neo4j's launcher builds: the distribution's plugins/, the run dir's conf/, its lib/."""
    return f"{dist / 'plugins'}/*:{run_dir / 'conf'}/*:{dist / 'lib'}/*"


def _check_classpath(cmd: list[str], run_dir: Path, dist: Path) -> list[str]:
    """cmd, when its classpath is exactly the checked folders; a ServiceError otherwise (nothing else may be code)."""
    given = cmd[cmd.index("-cp") + 1] if "-cp" in cmd[:-1] else None
    if given != classpath(run_dir, dist):
        raise ServiceError(
            f"Neo4j's launcher built an unexpected classpath: {given}",
            f"Check {run_dir / 'conf' / 'neo4j.conf'} and the environment (NEO4J_*, CLASSPATH); expected "
            f"{classpath(run_dir, dist)}.",
        )
    return cmd


def _hand_built_command(run_dir: Path, dist: Path, memory: dict[str, str]) -> list[str]:
    """The server command line the launcher would print, built by hand (fallback)."""
    cp = classpath(run_dir, dist)
    heap = [f"-Xms{memory['heap_initial']}", f"-Xmx{memory['heap_max']}"]
    return [
        _java(),
        "-cp",
        cp,
        *JVM_FLAGS,
        "-Dfile.encoding=UTF-8",
        *heap,
        MAIN_CLASS,
        f"--home-dir={run_dir}",
        f"--config-dir={run_dir / 'conf'}",
        "--console-mode",
    ]


def server_command(run_dir: Path, dist: Path, memory: dict[str, str], say: Say = quiet) -> list[str]:
    """The server command line from `Neo4jCommand console --dry-run` (validates neo4j.conf too)."""
    proc = _launcher(run_dir, dist, "org.neo4j.server.startup.Neo4jCommand", "console", "--dry-run")
    lines = [ln for ln in proc.stdout.splitlines() if MAIN_CLASS in ln]
    if proc.returncode == 0 and lines:
        return _check_classpath(shlex.split(lines[-1]), run_dir, dist)
    if "validation" in (proc.stdout + proc.stderr).lower():
        raise ServiceError(
            f"neo4j.conf was rejected:\n{(proc.stdout + proc.stderr).strip()}",
            f"Fix or delete {run_dir / 'conf' / 'neo4j.conf'}.",
        )
    say(f"Launcher dry-run failed (exit {proc.returncode}); using a hand-built command line")
    return _hand_built_command(run_dir, dist, memory)


def _initialised(run_dir: Path) -> bool:
    """Whether the server has started here before (its system database exists)."""
    return (run_dir / "data" / "databases" / "system").exists()


def _argfile_quote(arg: str) -> str:
    """One argument for a java @argfile: double-quoted, backslash and quote escaped."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _admin_tool(run_dir: Path, dist: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Neo4j's AdminTool with its arguments in a mode-600 java @argfile, so no password shows in `ps`."""
    argfile = run_dir / "conf" / ADMIN_ARGS
    words = ["-cp", f"{run_dir / 'conf'}/*:{dist / 'lib'}/*", "-Dfile.encoding=UTF-8", "org.neo4j.cli.AdminTool", *args]
    atomic_write_text(argfile, "\n".join(_argfile_quote(w) for w in words) + "\n", mode=0o600)
    try:
        return subprocess.run([_java(), f"@{argfile}"], env=_env(run_dir), capture_output=True, text=True, timeout=300)
    finally:
        argfile.unlink(missing_ok=True)


def _set_password(run_dir: Path, dist: Path, password: str) -> None:
    """Set the initial password of user neo4j (only effective before the first start)."""
    if len(password) < 8 or any(c in password for c in "\r\n\0"):
        raise ServiceError(
            "The Neo4j password must have at least 8 characters and no line breaks.", "Choose another password."
        )
    if password == LEGACY_PASSWORD:
        raise ServiceError(
            "The Neo4j password is the old published default.",
            "Leave out --neo4j-password to get a generated one, or choose another.",
        )
    proc = _admin_tool(run_dir, dist, "dbms", "set-initial-password", "--", password)
    if proc.returncode != 0:
        output = mask_secret((proc.stdout + proc.stderr).strip()[-2000:], password)
        raise ServiceError(
            f"Could not set the Neo4j password:\n{output}", f"Check Java 17 and {run_dir / 'conf' / 'neo4j.conf'}."
        )


def _check_password(run_dir: Path, previous: dict[str, Any], password: str | None) -> str:
    """The password to use: a stored instance keeps its own; a new one gets `password` or a generated one."""
    old = previous.get("password")
    if _initialised(run_dir) and old:
        if password and password != old:
            raise ServiceError(
                f"The Neo4j instance in {run_dir} was created with another password.",
                f"Start it without --neo4j-password, or delete {run_dir} to start afresh.",
            )
        return old
    if _initialised(run_dir):
        raise ServiceError(
            f"The Neo4j instance in {run_dir} has no recorded password (its state file is lost).",
            f"Delete it: graphstore services stop --purge (or rm -r {run_dir}), then start.",
        )
    return password or new_password()


def _leftovers(conf: Path) -> list[Path]:
    """Files of conf/ that an interrupted start of ours leaves behind (temp files, the admin argfile)."""
    temps = [f".{name}." for name in (*CONF_FILES, ADMIN_ARGS)]
    return [p for p in conf.iterdir() if p.name == ADMIN_ARGS or any(p.name.startswith(t) for t in temps)]


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run dir layout (mode 700) or refuse one another user could have prepared or planted files in."""
    run_dirs.private_subdirs(run_dir, SUBDIRS, WHAT)
    os.chmod(run_dir, 0o700)  # data, logs and the hashed credentials are for the owner only (checked: not a link)
    run_dirs.check_tree(run_dir, WHAT)
    for leftover in _leftovers(run_dir / "conf"):
        leftover.unlink()
    run_dirs.check_only(run_dir / "conf", CONF_FILES, "Neo4j reads conf/ and runs the jars in it")


def _prepare(run_dir: Path, dist: Path, memory: dict[str, str]) -> tuple[int, int]:
    """Check or create the run dir and write neo4j.conf with two fresh free ports; return (bolt, http)."""
    prepare_run_dir(run_dir)
    bolt_port, http_port = free_ports(2)
    conf = render_conf(run_dir, dist, bolt_port, http_port, memory)
    atomic_write_text(run_dir / "conf" / "neo4j.conf", conf, mode=0o600)
    browser_content.write_content_jar(run_dir / "conf", dist)
    return bolt_port, http_port


def _new_log(path: Path) -> int:
    """A new, empty log file opened for writing (the old one removed first; never through a symlink)."""
    path.unlink(missing_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _spawn(cmd: list[str], run_dir: Path) -> int:
    """Start the server in its own session (it outlives the caller); stdout/stderr go to console.log."""
    with os.fdopen(_new_log(run_dir / "logs" / "console.log"), "wb") as log:
        proc = subprocess.Popen(
            cmd,
            env=_env(run_dir),
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def log_tail(run_dir: Path, lines: int = 25) -> str:
    """The end of the server's console log (falls back to logs/neo4j.log)."""
    logs = Path(run_dir) / "logs"
    return tail(logs / "console.log", lines) or tail(logs / "neo4j.log", lines)


def _bolt_ready(uri: str, password: str) -> bool:
    """Whether Bolt answers and accepts the credentials (AuthError means a wrong password: raised)."""
    import neo4j  # deferred: the driver (about 1 s) loads only to probe Bolt, not for status or stop
    from neo4j.exceptions import AuthError, DriverError, Neo4jError  # deferred: as the driver above

    try:
        with neo4j.GraphDatabase.driver(uri, auth=(USER, password), connection_timeout=3) as driver:
            driver.verify_connectivity()
        return True
    except AuthError as exc:
        raise ServiceError(
            f"Neo4j refused the password: {exc.message}",
            "The stored instance uses another password; delete its run dir to reset.",
        ) from exc
    except (DriverError, Neo4jError, OSError):
        return False


def _poll_ready(state: dict[str, Any], run_dir: Path, timeout: float) -> None:
    """Poll until HTTP answers and Bolt accepts the credentials; raise if the process dies or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(state["pid"], _marker(run_dir)):
            raise ServiceError(
                f"Neo4j exited during startup. Last log lines:\n{log_tail(run_dir)}",
                f"Read {run_dir / 'logs'} for details.",
            )
        ports_up = port_open(state["bolt_port"]) and port_open(state["http_port"])
        if ports_up and _bolt_ready(state["bolt_uri"], state["password"]):
            return
        time.sleep(0.5)
    raise ServiceError(
        f"Neo4j did not answer on {state['bolt_uri']} within {timeout:.0f} s. Last log lines:\n{log_tail(run_dir)}",
        "Raise --timeout or read the logs.",
    )


def _wait_ready(state: dict[str, Any], run_dir: Path, timeout: float) -> None:
    """Wait for the server; on any failure stop the process before re-raising."""
    try:
        _poll_ready(state, run_dir, timeout)
    except BaseException:
        terminate(state["pid"], _marker(run_dir), timeout=30, group=True)
        raise


def neo4j_status(run_dir: Path) -> dict[str, Any]:
    """The recorded state plus `running` (the recorded pid is a live Neo4j server for this run dir)."""
    run_dir = run_dirs.checked(run_dir, WHAT)
    state = read_state(run_dir)
    return {**state, "running": pid_alive(state.get("pid"), _marker(run_dir))}


def start_neo4j(
    run_dir: Path,
    password: str | None = None,
    *,
    timeout: float = 180.0,
    memory: dict[str, str] | None = None,
    say: Say = quiet,
    warm_up: bool = True,
    warm_up_seconds: float = WARM_UP_S,
) -> dict[str, Any]:
    """Start Neo4j in run_dir (no-op when it already runs); return its state: pid, ports, URIs, password.

    warm_up: write and drop small throw-away graphs once the server answers, so the first real write runs compiled
    (services/neo4j_warmup.py) within warm_up_seconds of writing (0: no warm-up); its
    outcome is in the result's `warm_up`, a failure does not fail the start."""
    if not 0 <= warm_up_seconds <= MAX_WARM_UP_S:
        raise ServiceError(
            f"warm-up seconds must be between 0 and {MAX_WARM_UP_S:g}, got {warm_up_seconds:g}; "
            "0 skips the warm-up (as --no-warm-up does)"
        )
    run_dir = run_dirs.checked(run_dir, WHAT)
    current = neo4j_status(run_dir)
    if current["running"]:
        return {**current, "already_running": True}
    asked = memory or {}
    memory = {**MEMORY, **asked}
    if "heap_max" in asked and "heap_initial" not in asked:
        memory["heap_initial"] = asked["heap_max"]  # another heap size asked for: the initial heap follows it
    dist = neo4j_dist.ensure_dist(say=say)
    plugin = _write_plugin(dist, say)
    neo4j_dist.check_dist(dist, [plugin] if plugin else [])
    password = _check_password(run_dir, current, password)
    bolt_port, http_port = _prepare(run_dir, dist, memory)
    if not _initialised(run_dir):
        _set_password(run_dir, dist, password)
    started = time.monotonic()
    state = {
        "service": "neo4j",
        "version": neo4j_dist.neo4j_version(),
        "run_dir": str(run_dir),
        "dist": str(dist),
        "bolt_port": bolt_port,
        "http_port": http_port,
        "bolt_uri": f"bolt://{HOST}:{bolt_port}",
        "http_uri": f"http://{HOST}:{http_port}",
        "user": USER,
        "password": password,
        "log": str(run_dir / "logs" / "console.log"),
        "write_plugin": plugin,
        "heap": memory["heap_max"],
        "pagecache": memory["pagecache"],
    }
    state["pid"] = _spawn(server_command(run_dir, dist, memory, say), run_dir)
    write_state(run_dir, state)
    say(f"Neo4j process {state['pid']} started; waiting for Bolt on {state['bolt_uri']}")
    _wait_ready(state, run_dir, timeout)
    seconds = round(time.monotonic() - started, 1)
    warmed = _warm_up(state, say, warm_up_seconds) if warm_up and warm_up_seconds != 0 else None
    return {**state, "running": True, "already_running": False, "seconds": seconds, "warm_up": warmed}


def _warm_up(state: dict[str, Any], say: Say, budget_s: float = WARM_UP_S) -> dict[str, Any]:
    """Warm the new server's write path within budget_s of writing; return rounds, seconds and error: a failure is
    said, not raised."""
    from graphstore.services import neo4j_warmup  # deferred: the store, numpy and the driver load only here

    say(f"Warming up the write path (throw-away graphs written and dropped, up to {budget_s:g} s of writing)")
    done = neo4j_warmup.warm_up(state["bolt_uri"], state["user"], state["password"], budget_s)
    if done.error:
        say(f"Warm-up stopped after {done.rounds} round(s): {done.error}")
    return {"rounds": done.rounds, "cut": done.cut, "seconds": done.seconds, "error": done.error}


def _write_plugin(dist: Path, say: Say) -> str | None:
    """Build graphstore's write plugin into the distribution once; without a JDK the server starts without it
    (writes then go through Cypher) and the reason is said."""
    with neo4j_dist.dist_lock(dist):
        try:
            return write_plugin.ensure_plugin(dist, neo4j_dist.neo4j_version()).name
        except ServiceError as exc:
            say(f"Starting without graphstore's write plugin: {exc.message} {exc.hint or ''}".strip())
            return None


def stop_neo4j(run_dir: Path, timeout: float = 60.0, purge: bool = False) -> bool:
    """Stop the Neo4j server of run_dir (SIGTERM, then SIGKILL); purge also deletes the run dir and its data.

    Returns False when it was not running.
    """
    run_dir = run_dirs.checked(run_dir, WHAT)
    state = neo4j_status(run_dir)
    if state["running"]:
        terminate(state["pid"], _marker(run_dir), timeout=timeout, group=True)
    if purge:
        shutil.rmtree(run_dir, ignore_errors=True)
    return bool(state["running"])
