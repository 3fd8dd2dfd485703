"""A local PostgreSQL cluster from the system packages: initdb once, pg_ctl start/stop, loopback only.

Only its owner can use it: SCRAM password authentication on TCP and on the unix socket (no `trust`), a socket
dir and socket of mode 700, generated passwords kept in the run dir's state.json (mode 600). The app role
`graphstore` is not a superuser: it may log in and create databases, and owns database `graphstore`; the
bootstrap superuser `graphstore_admin` is used only to create and update that role.

The run dir is ours and private (services/run_dir.py; as root mode 711, so the postgres OS user can reach the cluster
in its `cluster/` folder, which that user owns); files written into folders the postgres user owns are written by
temp file + rename, never through a link it could plant. A run dir of an older version is the cluster itself, owned
by the postgres user: it is still accepted as root.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from graphstore.errors import ServiceError
from graphstore.masking import mask_secret
from graphstore.safe_fs import atomic_writer, ensure_private_dir
from graphstore.services import run_dir as run_dirs
from graphstore.services.state import (
    Say,
    free_ports,
    new_password,
    pid_alive,
    quiet,
    read_state,
    tail,
    terminate,
    write_state,
)

HOST = "127.0.0.1"
ADMIN_USER = "graphstore_admin"  # bootstrap superuser: creates the app role, never handed out
APP_USER = "graphstore"  # what GRAPHSTORE_DATABASE_URL uses: LOGIN CREATEDB, not a superuser
DATABASE = "graphstore"
HBA = (
    "# Written by graphstore services on every start: SCRAM passwords for every connection, loopback only.\n"
    "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
)
OS_USER = "postgres"  # PostgreSQL refuses to run as root; as root we run it as this user
BINDIR_ENV = "GRAPHSTORE_PG_BINDIR"
SOCKET_MAX = 100  # unix socket paths are limited to ~107 bytes
WHAT = "PostgreSQL run dir"


def _version_key(path: str) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>/bin paths."""
    return tuple(int(n) for n in re.findall(r"\d+", path.split("postgresql/")[-1]))


def pg_bindir() -> Path:
    """The dir with initdb/pg_ctl: $GRAPHSTORE_PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin."""
    candidates = [os.environ.get(BINDIR_ENV, "")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates.append(str(Path(shutil.which("pg_ctl") or "/nonexistent").parent))
    for cand in filter(None, candidates):
        if (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    raise ServiceError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found.",
        f"Install them (apt-get install postgresql) or set {BINDIR_ENV}.",
    )


def _is_root() -> bool:
    """Whether we run as root (then PostgreSQL runs as the postgres OS user)."""
    return os.geteuid() == 0


def _as_owner(cmd: list[str]) -> list[str]:
    """Prefix cmd with `runuser -u postgres --` when running as root."""
    if not _is_root():
        return cmd
    if not shutil.which("runuser"):
        raise ServiceError(
            "runuser is missing; as root PostgreSQL must run as the postgres user.",
            "Install util-linux, or run graphstore as a normal user.",
        )
    return ["runuser", "-u", OS_USER, "--", *cmd]


def _run(cmd: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the cluster owner, detached from our session, capturing its output."""
    return subprocess.run(
        _as_owner(cmd),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def _os_user() -> pwd.struct_passwd:
    """The postgres OS user, or a ServiceError naming the fix."""
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError as exc:
        raise ServiceError(f"OS user {OS_USER!r} does not exist.", "Install the postgresql package.") from exc


def _owners() -> set[int]:
    """Who besides us may own the folders of a cluster: the postgres OS user when we are root (and it exists)."""
    try:
        return {pwd.getpwnam(OS_USER).pw_uid} if _is_root() else set()
    except KeyError:
        return set()


def _chown(*paths: Path) -> None:
    """Give paths (checked folders, never links) to the postgres OS user (only when running as root)."""
    if not _is_root():
        return
    owner = _os_user()
    for path in paths:
        os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)


def _prepare_run_dir(run_dir: Path) -> None:
    """Create the run dir (private; as root 711, so the postgres user can reach cluster/) or check the existing one."""
    if os.path.lexists(run_dir):
        run_dirs.check_dir(run_dir, WHAT, _owners())  # an older version's run dir is the cluster: postgres's
    else:
        ensure_private_dir(run_dir, WHAT)
    if run_dir.stat().st_uid == os.geteuid():
        os.chmod(run_dir, 0o711 if _is_root() else 0o700)


def _reachable(path: Path) -> bool:
    """Whether the cluster owner can enter path (as root: /root is often closed to other users)."""
    return not _is_root() or _run(["test", "-x", str(path)]).returncode == 0


def _cluster_dir(run_dir: Path) -> Path:
    """Where pgdata, socket and log live: run_dir/cluster, or (root, run_dir closed to postgres) a new folder in the
    temporary folder for a throw-away run dir, else in postgres's home."""
    if _reachable(run_dir):
        return run_dir / "cluster"
    tmp = Path(tempfile.gettempdir()).resolve()
    if run_dir.is_relative_to(tmp):  # a throw-away run dir: keep its cluster throw-away too (a new, unguessable name)
        return Path(tempfile.mkdtemp(prefix="graphstore-pg-cluster-", dir=tmp))
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:12]
    return Path(pwd.getpwnam(OS_USER).pw_dir) / "graphstore" / digest


def _socket_dir(cluster: Path) -> Path:
    """The unix socket dir: in the cluster dir unless that path is too long for a socket (then a new temp folder)."""
    sock = cluster / "socket"
    if len(str(sock)) <= SOCKET_MAX:
        return sock
    return Path(tempfile.mkdtemp(prefix="graphstore-pg-"))


def _layout(run_dir: Path, previous: dict[str, Any]) -> dict[str, str]:
    """Paths of the cluster (reused from the state file when it exists)."""
    if previous.get("pgdata"):
        return {k: previous[k] for k in ("cluster_dir", "pgdata", "socket_dir", "log")}
    cluster = _cluster_dir(run_dir)
    return {
        "cluster_dir": str(cluster),
        "pgdata": str(cluster / "pgdata"),
        "socket_dir": str(_socket_dir(cluster)),
        "log": str(cluster / "postgres.log"),
    }


def _make_dirs(run_dir: Path, paths: dict[str, str]) -> None:
    """Create the run, cluster and socket dirs: mode 700, owned by the cluster owner."""
    cluster = Path(paths["cluster_dir"])
    if cluster != run_dir and not cluster.parent.exists():
        cluster.parent.mkdir(parents=True, mode=0o755)
        _chown(cluster.parent)
    for key in ("cluster_dir", "socket_dir"):
        path = Path(paths[key])
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        run_dirs.check_dir(path, WHAT, _owners())  # not a link, nobody else's, not writable by others
        os.chmod(path, 0o700)
        _chown(path)


def _private_file(path: Path, text: str) -> None:
    """Write text to a mode-600 file owned by the cluster owner: temp file + rename, never through a link."""
    with atomic_writer(path, 0o600) as handle:
        if _is_root():
            os.fchown(handle.fileno(), _os_user().pw_uid, _os_user().pw_gid)
        handle.write(text)


def _initdb(bindir: Path, paths: dict[str, str], admin_password: str) -> None:
    """Create the cluster: superuser graphstore_admin with a password, SCRAM auth everywhere, UTF8."""
    pwfile = Path(paths["cluster_dir"]) / ".initdb-password"
    _private_file(pwfile, admin_password + "\n")
    try:
        proc = _run(
            [
                str(bindir / "initdb"),
                "-D",
                paths["pgdata"],
                f"--username={ADMIN_USER}",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise ServiceError(
            f"initdb failed:\n{(proc.stdout + proc.stderr).strip()[-2000:]}",
            f"Delete {paths['pgdata']} and start again.",
        )


def _write_conf(pgdata: Path, port: int, socket_dir: str) -> None:
    """This start's settings (included graphstore.conf): port, loopback, private socket; pg_hba.conf: SCRAM."""
    main = pgdata / "postgresql.conf"
    include = "include_if_exists = 'graphstore.conf'"
    text = main.read_text()
    if include not in text:
        _private_file(main, f"{text}\n{include}\n")
    _private_file(
        pgdata / "graphstore.conf",
        f"# Written by graphstore services on every start.\nlisten_addresses = '{HOST}'\n"
        f"port = {port}\nunix_socket_directories = '{socket_dir}'\nunix_socket_permissions = 0700\n"
        "password_encryption = 'scram-sha-256'\n",
    )
    _private_file(pgdata / "pg_hba.conf", HBA)


def _postmaster_pid(pgdata: Path) -> int | None:
    """The postmaster pid from postmaster.pid (None when absent)."""
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pg_ctl_start(bindir: Path, paths: dict[str, str], timeout: float) -> None:
    """`pg_ctl start -w`: returns once the server accepts connections, else raises with the log tail."""
    cmd = [str(bindir / "pg_ctl"), "-D", paths["pgdata"], "-l", paths["log"], "-w", "-t", str(int(timeout))]
    proc = _run([*cmd, "start"], timeout=timeout + 30)
    if proc.returncode != 0:
        raise ServiceError(
            f"PostgreSQL did not start:\n{(proc.stdout + proc.stderr).strip()}\n"
            f"Last log lines:\n{tail(Path(paths['log']))}",
            f"Read {paths['log']}.",
        )


def sqlalchemy_url(port: int, password: str, database: str = DATABASE, user: str = APP_USER) -> str:
    """The SQLAlchemy URL (with the password: keep it out of output, see graphstore.masking) of a database."""
    return f"postgresql+psycopg://{user}:{quote(password, safe='')}@{HOST}:{port}/{database}"


def _bootstrap(port: int, admin_password: str, app_password: str) -> None:
    """As the superuser: the app role (login, createdb, no superuser, this password) owning database graphstore."""
    import psycopg  # deferred: the PostgreSQL driver loads only to set up a fresh cluster's roles
    from psycopg import sql  # deferred: as psycopg above

    role, db = sql.Identifier(APP_USER), sql.Identifier(DATABASE)
    with psycopg.connect(
        host=HOST,
        port=port,
        user=ADMIN_USER,
        password=admin_password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_USER,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {}").format(role))
        conn.execute(
            sql.SQL(
                "ALTER ROLE {} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
            ).format(role, sql.Literal(app_password))
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(db, role))
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, role))


def _set_up_roles(state: dict[str, Any], timeout: float) -> None:
    """Run _bootstrap on the started cluster; on failure stop it again and raise a ServiceError."""
    import psycopg  # deferred: the PostgreSQL driver loads only to set up a fresh cluster's roles

    try:
        _bootstrap(state["port"], state["admin_password"], state["password"])
    except psycopg.Error as exc:
        _pg_ctl_stop(state, timeout)
        message = mask_secret(str(exc), state["admin_password"], state["password"])
        raise ServiceError(
            f"Could not set up the PostgreSQL roles: {message}",
            f"Read {state['log']}; or delete the instance: graphstore services stop --purge.",
        ) from None


def _passwords(pgdata: Path, previous: dict[str, Any]) -> dict[str, str]:
    """The superuser and app passwords: kept from the state file, new for a new cluster."""
    if (pgdata / "PG_VERSION").exists():
        if not previous.get("admin_password"):
            raise ServiceError(
                f"The PostgreSQL cluster in {pgdata} was created without passwords (trust "
                "authentication, by an older graphstore) or its state file is lost.",
                "Delete it: graphstore services stop --purge (with the same --run-dir), then start.",
            )
        return {"admin_password": previous["admin_password"], "password": previous["password"]}
    return {"admin_password": new_password(), "password": new_password()}


def _server_version(bindir: Path) -> str:
    """`postgres --version` without the program name, e.g. '(PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)'."""
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True).stdout
    return out.strip().removeprefix("postgres ").strip()


def postgres_status(run_dir: Path) -> dict[str, Any]:
    """The recorded state plus `running` (the cluster's postmaster is alive)."""
    run_dir = run_dirs.checked(run_dir, WHAT, _owners())
    state = read_state(run_dir)
    pid = _postmaster_pid(Path(state["pgdata"])) if state.get("pgdata") else None
    return {**state, "running": pid_alive(pid, state.get("pgdata")), "pid": pid or state.get("pid")}


def start_postgres(run_dir: Path, *, timeout: float = 60.0, say: Say = quiet) -> dict[str, Any]:
    """Start (initdb on first use) the cluster of run_dir with database `graphstore`; no-op if it runs."""
    run_dir = run_dirs.checked(run_dir, WHAT, _owners())
    current = postgres_status(run_dir)
    if current["running"]:
        return {**current, "already_running": True}
    bindir = pg_bindir()
    _prepare_run_dir(run_dir)
    paths = _layout(run_dir, current)
    _make_dirs(run_dir, paths)
    pgdata = Path(paths["pgdata"])
    state: dict[str, Any] = {
        "service": "postgres",
        "bindir": str(bindir),
        **paths,
        "host": HOST,
        "user": APP_USER,
        "admin_user": ADMIN_USER,
        "database": DATABASE,
        **_passwords(pgdata, current),
        "run_dir": str(run_dir),
    }
    write_state(run_dir, state)  # the passwords are on disk before the cluster that needs them exists
    if not (pgdata / "PG_VERSION").exists():
        say(f"Creating a PostgreSQL cluster in {pgdata}")
        _initdb(bindir, paths, state["admin_password"])
    (port,) = free_ports(1)
    _write_conf(pgdata, port, paths["socket_dir"])
    _pg_ctl_start(bindir, paths, timeout)
    state.update(
        version=_server_version(bindir),
        port=port,
        pid=_postmaster_pid(pgdata),
        url=sqlalchemy_url(port, state["password"]),
    )
    write_state(run_dir, state)
    _set_up_roles(state, timeout)
    return {**state, "running": True, "already_running": False}


def _pg_ctl_stop(state: dict[str, Any], timeout: float) -> None:
    """`pg_ctl stop -m fast`, then SIGTERM/SIGKILL if the postmaster is still there."""
    bindir = Path(state.get("bindir") or pg_bindir())
    cmd = [str(bindir / "pg_ctl"), "-D", state["pgdata"], "-m", "fast", "-w", "-t", str(int(timeout)), "stop"]
    _run(cmd, timeout=timeout + 30)
    if pid_alive(state["pid"], state["pgdata"]):
        terminate(state["pid"], state["pgdata"], timeout=10)


def stop_postgres(run_dir: Path, timeout: float = 60.0, purge: bool = False) -> bool:
    """Stop the cluster of run_dir (pg_ctl stop -m fast, then SIGTERM/SIGKILL); purge also deletes its data.

    Returns False when it was not running.
    """
    run_dir = run_dirs.checked(run_dir, WHAT, _owners())
    state = postgres_status(run_dir)
    if state["running"]:
        _pg_ctl_stop(state, timeout)
    if purge:
        _purge(run_dir, state)
    return bool(state["running"])


def _purge(run_dir: Path, state: dict[str, Any]) -> None:
    """Delete the cluster, its socket dir and the run dir (the cluster may live outside the run dir)."""
    for key in ("cluster_dir", "socket_dir"):
        if state.get(key):
            shutil.rmtree(state[key], ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)
