"""Issue 19's probe, config files and reports (M2, L2, L4, L6), kept as tests through the real command line.

M2: a config file another user owns, or one others can write, is refused before any setting of it is used: a
listener it points at receives nothing and the password is neither sent nor printed; `config show`, `store status`,
`db status` and connection errors name where the server settings came from. L4: a report name that is a planted
symlink is replaced, never followed; an output folder of another user, or one others can write, is refused. L2: a
really full disk (a small tmpfs, mounted as root) during `report --all` lists the failed report on the index, every
file written is complete and the command exits 2 with a summary. L6: HTML in definition fields and `--set` values is
escaped in the Markdown reports. Report tests run on the embedded store + SQLite and on Neo4j + PostgreSQL.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from graphstore.config import Settings
from graphstore.experiments.runner import EXPERIMENT_KIND
from graphstore.tracking import open_tracking
from tests.servers import neo4j_params, postgres_url
from tests.test_bad_input import CLI, SECRET, cli_env, ok, refused

REPO = Path(__file__).resolve().parents[1]
ROOT = os.geteuid() == 0
NOBODY = 65534
PAGE = 4096
PAYLOADS = ("<script>alert('{}')</script>", "<img src=x onerror=alert('{}')>", "[click](javascript:alert('{}'))")


@dataclass
class Target:
    """One store + tracking DB pair: the environment the CLI gets, the settings the checks use, the stored graph."""

    name: str
    env: dict[str, str]
    settings: Settings
    graph: str = ""


def run(cwd: Path, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`graphstore ARGS` in a subprocess in `cwd`: a clean environment (no GRAPHSTORE_*, HOME in cwd) plus `env`."""
    base = cli_env(cwd, {"HOME": str(cwd), "XDG_CONFIG_HOME": str(cwd / ".config"), "PYTHONPATH": str(REPO)})
    base.pop("GRAPHSTORE_CONFIG")
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env={**base, **env}, cwd=cwd, timeout=timeout)


class Listener:
    """A TCP server on a free loopback port that records every connection and the bytes it received."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(1)
                with suppress(OSError):
                    self.received += conn.recv(65536)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


# ---- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's folder: the trained network, data dirs, report folders (0755 so `nobody` may look in)."""
    folder = tmp_path_factory.mktemp("probe2-config-reports")
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def checkpoint(root: Path) -> Path:
    """A tiny MLP trained once through the CLI (one epoch on 200 8x8 digits): a 1.2k-edge weights graph."""
    args = ("train", "--model", "mlp", "--model-opt", "hidden=16", "--dataset", "digits", "--data-opt", "size=8")
    more = ("--data-opt", "limit=200", "--epochs", "1", "--no-progress")
    ok(run(root, {"GRAPHSTORE_DATA_DIR": str(root / "train")}, *args, *more, timeout=600))
    return root / "train" / "runs" / "1" / "epoch_1.pt"


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("servers", marks=(pytest.mark.neo4j, pytest.mark.postgres))]
)
def target(request: pytest.FixtureRequest, root: Path, checkpoint: Path) -> Iterator[Target]:
    """The embedded store + SQLite, or Neo4j + PostgreSQL (the shared test servers), holding one weights graph."""
    prefix = f"p2{uuid.uuid4().hex[:6]}"
    data_dir = root / f"data-{request.param}"
    if request.param == "embedded":
        made = Target("embedded", {"GRAPHSTORE_DATA_DIR": str(data_dir)}, Settings(data_dir=data_dir))
    else:
        neo4j, url = neo4j_params(), postgres_url()
        env = {
            "GRAPHSTORE_DATA_DIR": str(data_dir),
            "GRAPHSTORE_GRAPH_STORE": neo4j.uri,
            "GRAPHSTORE_NEO4J_USER": neo4j.user,
            "GRAPHSTORE_NEO4J_PASSWORD": neo4j.password,
            "GRAPHSTORE_DATABASE_URL": url,
        }
        settings = Settings(
            data_dir=data_dir,
            graph_store=neo4j.uri,
            neo4j_user=neo4j.user,
            neo4j_password=neo4j.password,
            database_url=url,
        )
        made = Target("servers", env, settings)
        ok(run(root, env, "db", "upgrade"))
    ok(
        run(
            root,
            made.env,
            "ingest",
            str(checkpoint),
            "--graphs",
            "weights",
            "--graph-id-prefix",
            prefix,
            "--no-progress",
        )
    )
    made.graph = f"{prefix}-weights"
    yield made
    run(root, made.env, "store", "drop-graph", made.graph)  # cleanup only (the shared server may have lost it)


def folder_at(path: Path, mode: int = 0o755) -> Path:
    """A new empty folder with exactly this mode."""
    path.mkdir(parents=True)
    path.chmod(mode)
    return path


def complete_files(folder: Path) -> dict[str, bytes]:
    """Every file under folder (relative name -> bytes), after checking none is a leftover temp file or half a page."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert not [name for name in files if name.endswith(".tmp") or "/." in f"/{name}"], sorted(files)
    for name, data in files.items():
        if name.endswith(".html"):
            assert data.endswith(b"</html>\n"), name
        if name.endswith(".svg"):
            assert data.rstrip().endswith(b"</svg>"), name
    return files


# ---- M2: config files ---------------------------------------------------------------------------------------


def hostile_config(config: Path, port: int, how: str) -> Path:
    """A config file pointing the graph store at the listener, owned by `nobody` or writable by everyone."""
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'graph_store = "bolt://127.0.0.1:{port}"\nneo4j_user = "neo4j"\n')
    if how == "nobody":
        os.chown(config, NOBODY, NOBODY)
        config.chmod(0o644)
    else:
        config.chmod(0o666)
    return config


@pytest.mark.parametrize("where", ["cwd", "env", "flag", "home"])
@pytest.mark.parametrize(
    "how", [pytest.param("nobody", marks=pytest.mark.skipif(not ROOT, reason="chown needs root")), "mode666"]
)
def test_m2_untrusted_config_is_refused_and_the_listener_receives_nothing(
    tmp_path: Path, listener: Listener, where: str, how: str
) -> None:
    """The probe's `store status` with a password in the environment: now exit 2 naming the file, nothing sent."""
    places = {"cwd": "graphstore.toml", "home": ".config/graphstore/config.toml"}
    config = hostile_config(tmp_path / places.get(where, "elsewhere/given.toml"), listener.port, how)
    env = {"GRAPHSTORE_NEO4J_PASSWORD": SECRET, "GRAPHSTORE_DATA_DIR": str(tmp_path / "data")}
    args = ["store", "status"]
    if where == "env":
        env["GRAPHSTORE_CONFIG"] = str(config)
    if where == "flag":
        args = ["--config", str(config), *args]
    result = run(tmp_path, env, *args)
    problem = "belongs to nobody" if how == "nobody" else "writable by other users (mode 666)"
    refused(result, "Refusing the config file", str(config), problem)
    if where == "cwd":
        assert "from the folder it runs in" in result.stderr
    assert listener.connections == 0 and listener.received == b""
    assert SECRET not in result.stdout + result.stderr


def test_m2_a_trusted_cwd_config_is_announced_and_named_when_its_server_fails(
    tmp_path: Path, listener: Listener
) -> None:
    """Your own ./graphstore.toml still works, but is announced on stderr and named on a connection error."""
    config = tmp_path / "graphstore.toml"
    config.write_text(f'graph_store = "bolt://127.0.0.1:{listener.port}"\n')
    config.chmod(0o600)
    result = run(tmp_path, {"GRAPHSTORE_DATA_DIR": str(tmp_path / "data")}, "store", "status")
    refused(
        result,
        f"Note: using the config file {config}",
        f"graph store bolt://127.0.0.1:{listener.port} (from ./graphstore.toml)",
    )
    assert "Settings:" in result.stderr and "in the current folder (it sets: graph_store)" in result.stderr.replace(
        "\n", " "
    )
    assert listener.connections >= 1  # the file is ours: it is used (and the listener is no Neo4j)


def test_m2_a_tracking_db_that_fails_is_named_with_its_config_file(tmp_path: Path, listener: Listener) -> None:
    """A database_url from --config that does not answer: the error names the file, the password stays masked."""
    config = tmp_path / "tracking.toml"
    config.write_text(f'database_url = "postgresql+psycopg://u:{SECRET}@127.0.0.1:{listener.port}/db"\n')
    result = run(tmp_path, {"GRAPHSTORE_DATA_DIR": str(tmp_path / "d")}, "--config", "tracking.toml", "runs", "list")
    named = f"tracking DB postgresql+psycopg://u:****@127.0.0.1:{listener.port}/db (from {config})"
    refused(result, "Cannot use the tracking database", named)
    assert SECRET not in result.stdout + result.stderr


def table_row(text: str, setting: str) -> str:
    """The line of a rich table whose first cell is `setting`."""
    return next(line for line in text.splitlines() if re.match(rf"\W*{re.escape(setting)}\s", line))


def test_m2_config_show_names_the_file_each_setting_came_from(tmp_path: Path) -> None:
    config = folder_at(tmp_path / "cfg") / "graphstore.toml"
    config.write_text('graph_store = "bolt://127.0.0.1:1"\nneo4j_user = "from-file"\nbatch_size = 7\n')
    env = {"GRAPHSTORE_CONFIG": str(config), "GRAPHSTORE_NEO4J_USER": "from-env"}
    shown = ok(run(tmp_path, env, "--data-dir", str(tmp_path / "d"), "config", "show")).stdout
    assert f"config file: {config} (given by $GRAPHSTORE_CONFIG)" in shown
    assert str(config) in table_row(shown, "graph_store") and "bolt://127.0.0.1:1" in table_row(shown, "graph_store")
    assert str(config) in table_row(shown, "batch_size")
    assert "$GRAPHSTORE_NEO4J_USER" in table_row(shown, "neo4j_user") and "from-env" in table_row(shown, "neo4j_user")
    assert "--data-dir" in table_row(shown, "data_dir") and "default" in table_row(shown, "neo4j_password")


def test_m2_store_and_db_status_name_the_config_file(target: Target, tmp_path: Path) -> None:
    """The target's server settings moved into a config file: both status commands say they came from it."""
    config = tmp_path / "servers.toml"
    names = {"GRAPHSTORE_DATA_DIR": "data_dir", "GRAPHSTORE_GRAPH_STORE": "graph_store"}
    names |= {"GRAPHSTORE_NEO4J_USER": "neo4j_user", "GRAPHSTORE_DATABASE_URL": "database_url"}
    config.write_text("".join(f'{names[k]} = "{v}"\n' for k, v in target.env.items() if k in names))
    env = {k: v for k, v in target.env.items() if k not in names} | {"GRAPHSTORE_CONFIG": str(config)}
    store = ok(run(tmp_path, env, "store", "status")).stdout
    origin = f"from {config}" if target.name == "servers" else f"under data_dir from {config}"
    assert origin in store.replace("\n", " ") and "reachable" in store
    db = ok(run(tmp_path, env, "db", "status")).stdout
    assert origin in table_row(db, "url set")


# ---- L4: symlinks and output folders ------------------------------------------------------------------------


def test_l4_a_symlinked_report_name_is_replaced_and_its_target_untouched(target: Target, tmp_path: Path) -> None:
    out = folder_at(tmp_path / "out")
    secret = tmp_path / "root-only.txt"
    secret.write_text("precious\n")
    secret.chmod(0o600)
    for suffix in (".html", ".md"):
        (out / f"graph-{target.graph}{suffix}").symlink_to(secret)
    ok(run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(out), "--no-progress"))
    assert secret.read_text() == "precious\n" and secret.stat().st_mode & 0o777 == 0o600
    for suffix in (".html", ".md"):
        written = out / f"graph-{target.graph}{suffix}"
        assert not written.is_symlink() and written.is_file() and written.stat().st_size > 1000
    complete_files(out)


@pytest.mark.parametrize(
    "how", [pytest.param("nobody", marks=pytest.mark.skipif(not ROOT, reason="chown needs root")), "mode777"]
)
def test_l4_an_out_folder_of_another_user_or_writable_by_others_is_refused(
    target: Target, tmp_path: Path, how: str
) -> None:
    out = folder_at(tmp_path / "shared", 0o777 if how == "mode777" else 0o755)
    if how == "nobody":
        os.chown(out, NOBODY, NOBODY)
    result = run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(out))
    refused(result, "Refusing the report folder", str(out), "--out")
    assert list(out.iterdir()) == []


def test_l4_a_missing_out_folder_is_created_0755_and_its_figure_folder_link_refused(
    target: Target, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "reports"
    ok(run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(out), "--no-progress"))
    assert out.stat().st_mode & 0o777 == 0o755 and (out / f"graph-{target.graph}_files").is_dir()
    elsewhere = folder_at(tmp_path / "elsewhere")
    other = folder_at(tmp_path / "again")
    (other / f"graph-{target.graph}_files").symlink_to(elsewhere)
    result = run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(other))
    refused(result, "is a symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_l4_an_out_folder_given_as_a_link_counts_only_when_the_link_is_yours(target: Target, tmp_path: Path) -> None:
    """Your own link to your folder is followed; a link another user made (even to your folder) is refused."""
    real = folder_at(tmp_path / "real")
    mine = tmp_path / "mine"
    mine.symlink_to(real)
    ok(run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(mine), "--no-progress"))
    assert (real / f"graph-{target.graph}.html").is_file()
    if ROOT:
        planted = tmp_path / "planted"
        planted.symlink_to(folder_at(tmp_path / "target"))
        os.lchown(planted, NOBODY, NOBODY)
        refused(run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(planted)), "symbolic link")
        assert list((tmp_path / "target").iterdir()) == []


# ---- L2: a full disk ----------------------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """mount(size_bytes) -> a fresh tmpfs of that size (root only), unmounted after the test."""
    if not ROOT:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = folder_at(tmp_path / f"disk{len(mounted)}")
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


def pages(data: bytes) -> int:
    return math.ceil(len(data) / PAGE)


def test_l2_a_full_disk_fails_one_report_cleanly(target: Target, tmp_path: Path, tmpfs) -> None:
    """A one-page disk: the report does not fit; exit 2 naming the disk error, nothing half-written left."""
    normal = folder_at(tmp_path / "normal")
    ok(run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(normal), "--no-progress"))
    assert len((normal / f"graph-{target.graph}.html").read_bytes()) > PAGE  # else the disk would not be full
    disk = tmpfs(PAGE)
    result = run(tmp_path, target.env, "report", "graph", target.graph, "--out", str(disk))
    refused(result, f"Cannot write the graph report {target.graph}", "No space left on device", "--out")
    assert complete_files(disk) == {}


def index_order(markdown: str) -> list[str]:
    """The report slugs an index links, in order."""
    return [link[: -len(".md")] for link in re.findall(r"\]\(([^)]+\.md)\)", markdown)]


@pytest.mark.parametrize("target", ["embedded"], indirect=True)  # --all reads every graph in the store: the
# servers hold the whole suite's graphs, so this runs on the embedded store; the single-report case runs on both
def test_l2_full_disk_during_report_all_lists_the_failure_and_writes_only_complete_files(
    target: Target, tmp_path: Path, tmpfs
) -> None:
    """A disk sized to hold every report but the last: it fails, the batch goes on, the index lists it, exit 2."""
    experiment = hostile_definition(tmp_path, f"x{uuid.uuid4().hex[:6]}")  # an experiment and its cell runs
    ok(run(tmp_path, target.env, "experiment", "run", str(experiment), "--no-progress"))
    normal = folder_at(tmp_path / "normal")
    ok(run(tmp_path, target.env, "report", "--all", "--out", str(normal), "--no-progress"))
    files = complete_files(normal)
    order = index_order(files["index-all.md"].decode())
    last = order[-1]
    assert last == f"graph-{target.graph}" and len(order) >= 3, order
    mine = {n for n in files if n.split("/")[0] in (f"{last}.html", f"{last}.md", f"{last}_files")}
    index = {"index-all.html", "index-all.md"}
    room = sum(pages(data) for n, data in files.items() if n not in mine | index)
    spare = sum(pages(files[n]) for n in index) + 2  # the index grows by a "Failed" table
    assert pages(files[f"{last}.html"]) > spare, "the last report must not fit in the room left for the index"
    disk = tmpfs((room + spare) * PAGE)
    result = run(tmp_path, target.env, "report", "--all", "--out", str(disk), "--no-progress")
    refused(result, f"1 of {len(order)} reports failed", "index-all.html", "free space")
    assert f"failed graph {target.graph}: Cannot write the graph report" in result.stdout
    written = complete_files(disk)
    assert set(written) == set(files) - mine
    assert all(written[n] == files[n] for n in written if n not in index)  # byte for byte the undisturbed reports
    index_page = written["index-all.html"].decode()
    assert "Failed" in index_page and target.graph in index_page and "No space left on device" in index_page
    assert "No space left on device" in written["index-all.md"].decode()


# ---- L6: Markdown escaping ----------------------------------------------------------------------------------


def hostile_definition(folder: Path, tag: str) -> Path:
    """An experiment definition whose name, title, description, table title, source and note carry HTML."""
    script, img, link = (p.format(tag) for p in PAYLOADS)
    text = f'''
name = "{tag} {script}"
pipeline = "tests.experiment_support:toy-sum"
document = "{img}"
title = "{img} title"
description = """{script} {link}"""

[smoke]
params = {{ a = 1 }}
grid = {{ seed = [0, 1] }}

[[tables]]
name = "sums"
group = ["seed"]
values = ["total"]
title = "{script} table"

[[paper_values]]
table = "sums"
where = {{ seed = 1 }}
column = "total"
value = 1.5
source = "{script} source"
note = "{img} note"
'''
    path = folder / "hostile.toml"
    path.write_text(text)
    return path


def test_l6_html_in_definitions_and_set_values_is_escaped_in_markdown(target: Target, tmp_path: Path) -> None:
    tag = f"x{uuid.uuid4().hex[:6]}"
    definition = hostile_definition(tmp_path, tag)
    value = PAYLOADS[1].format("set")
    ok(run(tmp_path, target.env, "experiment", "run", str(definition), "--set", f"fail_if={value}", "--no-progress"))
    with open_tracking(target.settings.tracking_url) as tracking:
        runs = [r for r in tracking.list_runs(kind=EXPERIMENT_KIND, limit=None) if tag in r.name]
    assert len(runs) == 1, runs
    out = folder_at(tmp_path / "out")
    done = ok(run(tmp_path, target.env, "report", "experiment", str(runs[0].id), "--out", str(out), "--no-progress"))
    assert "HTML:" in done.stdout
    files = complete_files(out)
    markdown = files[f"experiment-{runs[0].id}.md"].decode()
    assert "<script" not in markdown and "<img" not in markdown
    assert not re.search(r"(?<!\\)\]\(javascript:", markdown), "a link Markdown would make"
    for raw in ("<script", "<img src=x"):  # the HTML page and the figure files too, as before
        assert not any(raw.encode() in data for data in files.values()), raw
    shown = [
        f"&lt;script&gt;alert('{tag}')&lt;/script&gt;",  # name and description: shown as text, not run
        f"\\[click\\](javascript:alert('{tag}'))",  # a link mark shown as text, not a link
        f"&lt;img src=x onerror=alert('{tag}')&gt; title",
        f"&lt;script&gt;alert('{tag}')&lt;/script&gt; source",
        f"&lt;img src=x onerror=alert('{tag}')&gt; note",
        "&lt;img src=x onerror=alert('set')&gt;",  # the --set value, in the run's parameters
    ]
    assert [text for text in shown if text not in markdown] == []
