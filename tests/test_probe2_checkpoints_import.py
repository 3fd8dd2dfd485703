"""Issue 19's M5, M6, L3 (store import), L5 and L7 (bundle run) kept as tests, through the real command line.

M5: a checkpoint saved by `graphstore prune imp` with 400 flipped bytes, a copy whose bytes no longer match the
SHA-256 written with it, and NaNs placed only on pruned weights are each refused by `ingest` (exit 2, Error + Hint)
and nothing is stored in the graph store or the tracking DB (embedded + SQLite, Neo4j + PostgreSQL).
L3: each damaged bundle `store import` was given is exit 2 naming the file and what is wrong, and nothing is created.
M6/L5/L7: `store import` then `store import --overwrite` into one local Neo4j run dir leaves tracking listing exactly
the graphs the new database holds (checked against the started server once), the run dir and database private
(0700, nothing readable by others), a symlinked run dir refused, and a bundle whose run is not in the tracking DB
(SQLite and PostgreSQL) imported without the link instead of failing on a foreign key.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphstore.config import Settings
from graphstore.graph import Graph
from graphstore.tracking import open_tracking
from tests.servers import neo4j_params
from tests.test_bad_input import Target, no_logged_bugs, ok, refused, run, stored, target, tracked

__all__ = ["no_logged_bugs", "target"]  # fixtures shared with issue 8's probe (they use this module's `root`)

FLIPS = 400


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's working directory: data dirs, run dirs and the traceback log dir."""
    return tmp_path_factory.mktemp("probe2-ckpt")


@pytest.fixture(scope="module")
def pruned(root: Path) -> Path:
    """A real pruned checkpoint: `prune imp` trains a tiny MLP one epoch, prunes half, retrains (round 1)."""
    args = ("--model-opt", "hidden=16", "--data-opt", "size=8", "--data-opt", "limit=200", "--no-progress")
    env = {"GRAPHSTORE_DATA_DIR": str(root / "ck")}
    ok(run(root, env, "prune", "imp", "--model", "mlp", "--rounds", "1", "--rate", "0.5", "--epochs", "1", *args))
    (path,) = (root / "ck" / "runs").glob("*/round_1_epoch_1.pt")
    assert Path(f"{path}.sha256").is_file()  # the digest is written with every checkpoint
    return path


def flip(path: Path, count: int = FLIPS, start: int = 1024) -> None:
    """Invert `count` bytes spread over the file from `start` on (a failing disk, a bad copy)."""
    data = bytearray(path.read_bytes())
    step = max(1, (len(data) - start) // count)
    for i in range(start, min(len(data), start + step * count), step):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def ingest_refused(target: Target, root: Path, path: Path, tag: str, *phrases: str) -> None:
    """`ingest PATH --graphs weights` is exit 2 naming `phrases`, and neither place holds the graph afterwards."""
    prefix = f"{target.prefix}-{tag}"
    result = run(root, target.env, "ingest", str(path), "--graphs", "weights", "--graph-id-prefix", prefix)
    refused(result, str(path), *phrases)
    assert stored(target, f"{prefix}-weights") is None and tracked(target, f"{prefix}-weights") is None


# ---- M5: corrupted checkpoints --------------------------------------------------------------------------------


def test_m5_clean_pruned_checkpoint_ingests(target, pruned, root, tmp_path):
    """The control: the same checkpoint, unchanged and checked against its digest, stores a complete graph."""
    prefix = f"{target.prefix}-m5ok"
    ok(run(root, target.env, "ingest", str(pruned), "--graphs", "weights", "--graph-id-prefix", prefix))
    assert stored(target, f"{prefix}-weights").status == "complete"
    assert tracked(target, f"{prefix}-weights").status == "complete"


def test_m5_flipped_bytes_in_a_copy_without_digest_are_refused(target, pruned, root, tmp_path):
    """The probe's case: `cp round_..pt bad.pt`, 400 bytes flipped, `ingest bad.pt` (no sidecar: torch's CRC-32)."""
    bad = tmp_path / "bad.pt"
    shutil.copyfile(pruned, bad)
    flip(bad)
    ingest_refused(target, root, bad, "m5flip", "corrupt")


def test_m5_checkpoint_changed_after_saving_fails_its_digest(target, pruned, root, tmp_path):
    import hashlib

    copy = tmp_path / pruned.name
    shutil.copyfile(pruned, copy)
    shutil.copyfile(f"{pruned}.sha256", f"{copy}.sha256")
    recorded = Path(f"{copy}.sha256").read_text().split()[0]
    flip(copy)
    now = hashlib.sha256(copy.read_bytes()).hexdigest()
    ingest_refused(target, root, copy, "m5sha", "does not match the SHA-256", recorded, now)


def test_m5_nan_only_on_pruned_weights_is_refused(target, pruned, root, tmp_path):
    import torch

    payload = torch.load(pruned, weights_only=True)
    name, mask = next((k, m) for k, m in payload["masks"].items() if not bool(m.all()))
    state = {k: v.clone() for k, v in payload["state_dict"].items()}
    state[name][~mask] = float("nan")  # masking zeroes exactly these: the old check never saw them
    nan = tmp_path / "nan.pt"
    torch.save({**payload, "state_dict": state}, nan)  # a user's own file: no digest, so only the finite check
    ingest_refused(target, root, nan, "m5nan", "non-finite", name)


# ---- L3: damaged bundles given to `store import` ------------------------------------------------------------


def small_graph(graph_id: str, run_id: int | None = None, edges: int = 1490) -> Graph:
    """A 200-node coactivation-like graph (the probe's bundles held 202 nodes and 1490 edges)."""
    rng = np.random.default_rng(0)
    graph = Graph(graph_id, "coactivation", params={"probe": 19}, run_id=run_id)
    graph.add_nodes("Neuron", np.arange(200), layer=np.zeros(200, dtype=np.int64))
    graph.add_edges(
        "COACT", "Neuron", "Neuron", rng.integers(0, 200, edges), rng.integers(0, 200, edges), w=rng.random(edges)
    )
    return graph


def bundle_files(graph: Graph) -> dict[str, bytes]:
    """The files of a good .zip bundle of the graph, by member name."""
    from graphstore.extract.files import write_parquet

    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    path = write_parquet(graph, folder / f"probe2-{os.getpid()}-{graph.graph_id}.zip")
    with zipfile.ZipFile(path) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    path.unlink()
    return files


def zipped(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def snappy_corrupt(table_bytes: bytes) -> bytes:
    """The table re-written with snappy pages, then bytes inside its data pages changed."""
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pq.read_table(io.BytesIO(table_bytes)), sink, compression="snappy")
    data = bytearray(sink.getvalue())
    for i in range(200, 1200, 7):
        data[i] ^= 0x55
    return bytes(data)


def manifest_with(files: dict[str, bytes], change: Any) -> dict[str, bytes]:
    meta = json.loads(files["manifest.json"])
    change(meta)
    return {**files, "manifest.json": json.dumps(meta).encode()}


def _bad_bundle(case: str, folder: Path) -> tuple[Path, str]:
    """(a damaged bundle, a phrase its error must hold)."""
    files = bundle_files(small_graph("l3"))
    edges = files["edges/COACT.parquet"]
    good = zipped(folder / "good.zip", files)
    if case == "truncated zip":
        (folder / "t.zip").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        return folder / "t.zip", "not a readable zip"
    if case == "missing manifest":
        return zipped(folder / "m.zip", {k: v for k, v in files.items() if k != "manifest.json"}), "no manifest.json"
    if case == "manifest not json":
        return zipped(folder / "j.zip", {**files, "manifest.json": b"{not json"}), "not valid JSON"
    if case == "manifest lacks a field":
        bad = manifest_with(files, lambda m: m["edges"]["COACT"].pop("src_label"))
        return zipped(folder / "f.zip", bad), "edges.COACT lacks"
    if case == "foreign manifest":
        return zipped(folder / "x.zip", {**files, "manifest.json": b"[1, 2]"}), "not a graphstore graph manifest"
    if case == "truncated parquet":
        bad = {**files, "edges/COACT.parquet": edges[: len(edges) // 2]}
        return zipped(folder / "p.zip", bad), "edges/COACT.parquet is not a readable Parquet"
    if case == "corrupt snappy page":
        bad = {**files, "edges/COACT.parquet": snappy_corrupt(edges)}
        return zipped(folder / "s.zip", bad), "edges/COACT.parquet is not a readable Parquet"
    if case == "zip member crc":
        data = bytearray(good.read_bytes())
        at = data.find(edges[100:140])
        data[at + 5] ^= 0xFF
        (folder / "c.zip").write_bytes(bytes(data))
        return folder / "c.zip", "damaged"
    if case == "row count differs":
        bad = manifest_with(files, lambda m: m["edges"]["COACT"].update(rows=5))
        return zipped(folder / "r.zip", bad), "the manifest records 5"
    if case == "folder entry leaves the bundle":
        out = folder / "esc.parquet"
        for name, data in manifest_with(files, lambda m: m["nodes"]["Neuron"].update(file="../../x")).items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)
        return out, "outside the bundle"
    if case == "not a bundle":
        (folder / "g.graphml").write_text("<graphml/>")
        return folder / "g.graphml", "only .zip files and .parquet folders"
    return folder / "absent.zip", "No graph file"


BAD_BUNDLES = [
    "truncated zip",
    "missing manifest",
    "manifest not json",
    "manifest lacks a field",
    "foreign manifest",
    "truncated parquet",
    "corrupt snappy page",
    "zip member crc",
    "row count differs",
    "folder entry leaves the bundle",
    "not a bundle",
    "path does not exist",
]


@pytest.mark.parametrize("case", BAD_BUNDLES)
def test_l3_damaged_bundle_is_an_error_naming_the_file(case, root, tmp_path):
    path, phrase = _bad_bundle(case, tmp_path)
    data = tmp_path / "data"
    result = run(
        root, {"GRAPHSTORE_DATA_DIR": str(data)}, "store", "import", str(path), "--run-dir", str(tmp_path / "s")
    )
    refused(result, path.name, phrase)
    assert not (tmp_path / "s").exists()
    with open_tracking(Settings(data_dir=data).tracking_url) as tracking:
        assert tracking.list_graphs() == []


# ---- M6, L5, L7: overwrite, private database, a run not in tracking -----------------------------------------


def tree_modes(folder: Path) -> dict[str, int]:
    """Every path under folder (itself included) whose mode gives group or others any access, with the mode."""
    loose = {}
    for path in [folder, *folder.rglob("*")]:
        info = os.lstat(path)
        if stat.S_IMODE(info.st_mode) & 0o077 and not stat.S_ISLNK(info.st_mode):
            loose[str(path)] = stat.S_IMODE(info.st_mode)
    return loose


def test_l5_symlinked_run_dir_is_refused(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "svc").symlink_to(elsewhere)
    zipped(tmp_path / "g.zip", bundle_files(small_graph("l5")))
    env = {"GRAPHSTORE_DATA_DIR": str(tmp_path / "data")}
    refused(
        run(root, env, "store", "import", str(tmp_path / "g.zip"), "--run-dir", str(tmp_path / "svc")), "symbolic link"
    )
    assert list(elsewhere.iterdir()) == []


@pytest.mark.neo4j
@pytest.mark.slow
def test_m6_overwrite_leaves_tracking_agreeing_private_and_unlinked_run(target, root, tmp_path):
    """import co.zip, then pq.parquet --overwrite (whose run 987654 is not tracked): tracking lists pq alone."""
    neo4j_params()  # the offline importer needs the Neo4j distribution the test servers use: skip like them
    co, pq = f"{target.prefix}-co", f"{target.prefix}-pq"
    zipped(tmp_path / "co.zip", bundle_files(small_graph(co, edges=1490)))
    from graphstore.extract.files import write_parquet

    write_parquet(small_graph(pq, run_id=987654, edges=700), tmp_path / "pq.parquet")
    svc = tmp_path / "svc"
    ok(run(root, target.env, "store", "import", str(tmp_path / "co.zip"), "--run-dir", str(svc)))
    assert tracked(target, co).status == "complete"
    assert tree_modes(svc) == {} and stat.S_IMODE(os.stat(svc / "neo4j/data/databases/neo4j").st_mode) == 0o700

    again = run(root, target.env, "store", "import", str(tmp_path / "pq.parquet"), "--run-dir", str(svc))
    refused(again, "--overwrite")
    assert tracked(target, co).status == "complete" and tracked(target, pq) is None

    done = ok(
        run(root, target.env, "store", "import", str(tmp_path / "pq.parquet"), "--run-dir", str(svc), "--overwrite")
    )
    out = " ".join(done.stdout.split())
    assert f"held {co}: removed from tracking" in out and "run 987654, which is not in this tracking DB" in out
    assert "FOREIGN KEY" not in done.stdout + done.stderr
    record = tracked(target, pq)
    assert tracked(target, co) is None and record.status == "complete" and record.run_id is None
    assert (record.node_count, record.edge_count) == (200, 700)
    assert tree_modes(svc) == {}
    if target.name == "embedded":  # once: the started server holds exactly what tracking lists (about 30 s)
        assert _graphs_in_server(svc / "neo4j") == {pq: (200, 700)}


def _graphs_in_server(home: Path) -> dict[str, tuple[int, int]]:
    """Start the imported database, list its graphs with counts, stop and purge it."""
    from graphstore.services.neo4j_server import start_neo4j, stop_neo4j
    from graphstore.store.neo4j_store import Neo4jStore

    state = start_neo4j(home, memory={"heap_initial": "256m", "heap_max": "512m", "pagecache": "64m"}, warm_up=False)
    try:
        with Neo4jStore(state["bolt_uri"], state["user"], state["password"]) as store:
            return {i.graph_id: (i.node_count, i.edge_count) for i in store.list_graphs()}
    finally:
        stop_neo4j(home, purge=True)
