"""Issue 19's H1 kept as a test: `graphstore services` trusts no run dir another local user could have prepared.

As root, with `nobody` (runuser) as the other local user: a run root or run dir that another user owns, that group
or others can write, or that is a symlink is refused with exit 2, an Error and a Hint, before anything is written
into it; a planted link is never written through (the root-only file it points at is unchanged); the state file is
written by temp file + rename; and Neo4j's classpath holds only files graphstore wrote (a jar dropped into conf/ or
into the distribution's plugins/ is refused). One throw-away Neo4j is started (test_neo4j_classpath_...).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphstore.safe_fs import UnsafePath, default_state_dir
from graphstore.services import default_run_root, neo4j_dist, neo4j_server, state
from tests.test_bad_input import refused

CLI = (sys.executable, "-m", "graphstore.cli.main")
VICTIM_TEXT = "root-only: must never change\n"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`graphstore ARGS` in a subprocess with no GRAPHSTORE_* setting of the caller (plus env)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRAPHSTORE_")}
    clean.update({"COLUMNS": "200", "GRAPHSTORE_CONFIG": "", **(env or {})})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=clean, cwd="/", timeout=300)


def as_nobody(*cmd: str) -> None:
    """Run cmd as the unprivileged user `nobody` (skips unless we are root with runuser)."""
    runuser = shutil.which("runuser")
    if os.geteuid() != 0 or not runuser:
        pytest.skip("needs root and runuser to act as a second local user")
    subprocess.run([runuser, "-u", "nobody", "--", *cmd], check=True, cwd="/", capture_output=True, timeout=60)


def nobody_uid() -> int:
    """The uid of `nobody`."""
    return pwd.getpwnam("nobody").pw_uid


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A root-only file (mode 600 in a mode-700 folder) that a planted link points at."""
    tmp_path.chmod(0o700)
    path = tmp_path / "root-only.txt"
    path.write_text(VICTIM_TEXT)
    path.chmod(0o600)
    return path


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A name in the shared temporary folder that nobody has taken yet (removed afterwards, whoever made it)."""
    folder = Path(tempfile.mkdtemp(prefix="gs-probe2-"))
    folder.rmdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    """A run root of ours of mode 755, as scripts/run-tests.sh makes one."""
    (tmp_path / "run-root").mkdir()
    (tmp_path / "run-root").chmod(0o755)
    return tmp_path / "run-root"


# ---- a run dir another user prepared ----------------------------------------------------------------------------


def test_h1_a_run_dir_nobody_prepared_with_a_planted_link_is_refused_and_the_link_not_followed(shared_tmp, victim):
    """The finding as reported: nobody pre-creates DIR/neo4j/conf (mode 777) with neo4j.conf a link to a root-only
    file; `services start` as root refuses it and the file is unchanged."""
    conf = shared_tmp / "neo4j" / "conf"
    as_nobody("mkdir", "-p", str(conf))
    as_nobody("chmod", "-R", "777", str(shared_tmp))
    as_nobody("ln", "-s", str(victim), str(conf / "neo4j.conf"))
    as_nobody("ln", "-s", str(victim), str(shared_tmp / "neo4j" / state.STATE_FILE))
    for command in ("start", "status", "env", "stop"):
        extra = ["--no-postgres"] if command in ("start", "stop") else []
        refused(cli("services", command, *extra, "--run-dir", str(shared_tmp)), "belongs to nobody", str(shared_tmp))
    assert victim.read_text() == VICTIM_TEXT and victim.stat().st_uid == 0
    assert os.lstat(conf).st_uid == nobody_uid() and sorted(os.listdir(conf)) == ["neo4j.conf"]


@pytest.mark.parametrize("service", ["neo4j", "postgres"])
def test_h1_a_run_dir_owned_by_another_user_is_refused(service, run_root, victim):
    """Our run root, but its neo4j/ or postgres/ run dir is nobody's (mode 700, with a planted link): refused."""
    as_nobody("true")  # root only: chown to another user
    run_dir = run_root / service
    run_dir.mkdir(mode=0o700)
    os.symlink(victim, run_dir / state.STATE_FILE)
    os.chown(run_dir, nobody_uid(), -1, follow_symlinks=False)
    skip = "--no-postgres" if service == "neo4j" else "--no-neo4j"
    refused(cli("services", "start", skip, "--run-dir", str(run_root)), f"{run_dir}: it belongs to nobody")
    refused(cli("services", "status", "--run-dir", str(run_root)), "belongs to nobody")
    assert victim.read_text() == VICTIM_TEXT


@pytest.mark.parametrize(
    "where, mode",
    [("", 0o777), ("", 0o1777), ("", 0o775), ("neo4j", 0o757), ("neo4j/conf", 0o770), ("neo4j/data", 0o777)],
)
def test_h1_a_group_or_other_writable_run_dir_is_refused(where, mode, run_root):
    """The run root, the run dir or a folder inside that group or others can write (even sticky) is refused."""
    neo4j = run_root / "neo4j"
    for sub in ("conf", "data"):
        (neo4j / sub).mkdir(parents=True, mode=0o700)
    (run_root / where).chmod(mode)
    refused(cli("services", "start", "--no-postgres", "--run-dir", str(run_root)), "writable by other users")
    assert sorted(os.listdir(neo4j / "conf")) == [] and not (neo4j / state.STATE_FILE).exists()


def test_h1_a_symlinked_run_root_or_run_dir_is_refused(run_root, tmp_path):
    """A run root that is a link, or a run dir that is a link (even to a folder of ours), is refused, not followed."""
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = run_root / "link-root"
    link.symlink_to(target)
    refused(cli("services", "start", "--no-postgres", "--run-dir", str(link)), "is a symbolic link")
    (run_root / "neo4j").symlink_to(target)
    refused(cli("services", "start", "--no-postgres", "--run-dir", str(run_root)), "is a symbolic link")
    assert os.listdir(target) == []


def test_h1_a_planted_file_inside_an_existing_run_dir_is_refused(run_root, victim):
    """A link or another user's file anywhere below a run dir (left from when it was writable) is refused."""
    as_nobody("true")  # root only: chown to another user
    logs = run_root / "neo4j" / "logs"
    logs.mkdir(parents=True, mode=0o700)
    (logs / "console.log").symlink_to(victim)
    refused(cli("services", "start", "--no-postgres", "--run-dir", str(run_root)), "console.log is a symbolic link")
    (logs / "console.log").unlink()
    (logs / "debug.log").write_text("")
    os.chown(logs / "debug.log", nobody_uid(), -1)
    refused(cli("services", "start", "--no-postgres", "--run-dir", str(run_root)), "debug.log belongs to nobody")
    assert victim.read_text() == VICTIM_TEXT


# ---- the state file ---------------------------------------------------------------------------------------------


def test_h1_the_state_file_is_never_written_or_read_through_a_link(tmp_path, victim):
    """write_state replaces a planted state.json link (and ignores a planted temp name); read_state refuses a link."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    (run_dir / state.STATE_FILE).symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        state.read_state(run_dir)
    (run_dir / "state.tmp").symlink_to(victim)  # the fixed temp name of older versions
    state.write_state(run_dir, {"pid": 1, "password": "pw"})
    written = run_dir / state.STATE_FILE
    assert not written.is_symlink() and written.stat().st_mode & 0o777 == 0o600
    assert state.read_state(run_dir) == {"pid": 1, "password": "pw"} and victim.read_text() == VICTIM_TEXT


def test_h1_a_state_file_of_another_user_is_refused(tmp_path):
    as_nobody("true")  # root only: chown to another user
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    (run_dir / state.STATE_FILE).write_text('{"pid": 1, "bolt_uri": "bolt://attacker:7687"}')
    os.chown(run_dir / state.STATE_FILE, nobody_uid(), -1)
    with pytest.raises(UnsafePath, match="not a regular file of yours"):
        state.read_state(run_dir)


# ---- the default run root ---------------------------------------------------------------------------------------


def test_h1_the_default_run_root_is_the_private_state_folder(tmp_path):
    """Not <data_dir>/services (a data dir may be shared): ~/.local/state/graphstore/services, created mode 700."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    assert default_run_root() == default_state_dir() / "services"
    env = {"HOME": str(home), "XDG_STATE_HOME": ""}
    shown = cli("services", "status", env=env)
    assert shown.returncode == 0 and "never started" in shown.stdout, shown.stderr
    root = home / ".local" / "state" / "graphstore" / "services"
    assert not root.exists()  # status creates nothing
    (home / ".local").mkdir(mode=0o777)
    (home / ".local").chmod(0o777)
    refused(cli("services", "start", "--no-postgres", env=env), "other users can write it (mode 777, no sticky bit)")
    assert not root.exists()


# ---- Neo4j's classpath ------------------------------------------------------------------------------------------


def _jar(path: Path) -> Path:
    """A jar as an ExtensionFactory plugin would ship it (a service file naming a class)."""
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr("META-INF/services/org.neo4j.kernel.extension.ExtensionFactory", "evil.Factory\n")
    return path


def _need_dist() -> Path:
    """The cached Neo4j distribution (skips when `graphstore services start` never ran here)."""
    home = neo4j_dist.dist_dir()
    if not neo4j_dist.is_complete(home):
        pytest.skip("Neo4j jars are not cached yet (run `graphstore services start` once)")
    return home


def test_h1_a_jar_planted_in_the_distributions_plugins_is_refused(tmp_path, run_root):
    """A copy of the jar cache (hard links) with one extra jar in plugins/: start refuses before any JVM runs."""
    home = _need_dist()
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    subprocess.run(["cp", "-al", str(home), str(cache / home.name)], check=True)
    neo4j_dist.expected_plugins(cache / home.name)  # an older cache: listed on first use, like a start does
    planted = _jar(cache / home.name / "plugins" / "evil-extension.jar")
    env = {neo4j_dist.CACHE_ENV: str(cache)}
    refused(cli("services", "start", "--no-postgres", "--run-dir", str(run_root), env=env), str(planted))
    assert not (run_root / "neo4j" / state.STATE_FILE).exists()
    planted.unlink()
    (cache / home.name / "plugins").chmod(0o777)
    refused(cli("services", "start", "--no-postgres", "--run-dir", str(run_root), env=env), "writable by other users")


@pytest.mark.slow
def test_h1_neo4j_classpath_holds_only_graphstore_files_and_a_jar_planted_in_conf_is_refused(run_root):
    """A throw-away Neo4j: its -cp is exactly plugins/*, conf/*, lib/* of checked folders, conf/ holds exactly
    neo4j.conf and the Browser jar, the run dir is 700; after a stop, a jar or apoc.conf dropped into conf/ makes the
    next start exit 2 and no server runs."""
    home = _need_dist()
    run_dir = run_root / "neo4j"
    started = cli(
        "services", "start", "--no-postgres", "--warm-up-seconds", "0", "--run-dir", str(run_root), "--timeout", "240"
    )
    assert started.returncode == 0, started.stdout + started.stderr
    assert "warmed up" not in started.stdout  # 0 s of warm-up: none at all
    try:
        pid = state.read_state(run_dir)["pid"]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert argv[argv.index("-cp") + 1] == f"{home}/plugins/*:{run_dir}/conf/*:{home}/lib/*"
        assert sorted(os.listdir(run_dir / "conf")) == sorted(neo4j_server.CONF_FILES)
        assert all(os.stat(run_dir / sub).st_mode & 0o077 == 0 for sub in ("", "conf", "data", "logs"))
    finally:
        assert cli("services", "stop", "--no-postgres", "--run-dir", str(run_root)).returncode == 0
    try:
        for planted in (_jar(run_dir / "conf" / "evil.jar"), run_dir / "conf" / "apoc.conf"):
            planted.touch()
            stderr = refused(cli("services", "start", "--no-postgres", "--run-dir", str(run_root)), str(planted))
            assert "not written by graphstore" in stderr
            assert not neo4j_server.neo4j_status(run_dir)["running"]
            planted.unlink()
    finally:
        cli("services", "stop", "--purge", "--no-postgres", "--run-dir", str(run_root))


def test_h1_services_plugin_never_writes_through_a_planted_link(tmp_path, victim):
    """`services plugin --out DIR` where DIR/<the jar's name> is a link to a root-only file: the link is replaced by the
    jar (temp file + rename), the file it pointed at is unchanged."""
    from graphstore.services import write_plugin

    _need_dist()
    if not shutil.which("javac"):
        pytest.skip("javac (a JDK 17) is needed to build the plugin")
    out = tmp_path / "plugins"
    out.mkdir()
    jar = out / write_plugin.jar_name(neo4j_dist.neo4j_version())
    jar.symlink_to(victim)
    built = cli("services", "plugin", "--out", str(out))
    assert built.returncode == 0, built.stdout + built.stderr
    assert not jar.is_symlink() and zipfile.is_zipfile(jar) and victim.read_text() == VICTIM_TEXT
