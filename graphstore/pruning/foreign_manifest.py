"""The manifest of a foreign pruning run's folder (`foreign_run.json`): what `graphstore ingest --run` needs to turn
its rounds into graphs, and the SHA-256 of every round's files.

`prune imp|topology --model MODULE:CALLABLE` rewrites it atomically after each round: the model spec and its
--model-opt values, the --dataset spec, and per round the digests of `round_<r>_weights.pt` and `round_<r>_masks.pt`.
Reading trusts nothing another local user can write: the folder must be ours and writable by no one else, the
manifest and the round files ours (or root's) and not writable by others, the manifest must agree with the run's
record in the tracking DB (model source, options, dataset), and each round file must match both its `.sha256`
sidecar (with torch's zip CRCs) and the digest the manifest recorded when the round was written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphstore.nn import checkpoint as ckpt
from graphstore.nn.errors import CheckpointError
from graphstore.nn.foreign import parse_options
from graphstore.pruning.common import PruningError
from graphstore.safe_fs import atomic_write_text, check_private_dir, check_trusted_file, read_trusted_bytes

MANIFEST = "foreign_run.json"
FORMAT = "graphstore-foreign-run"
VERSION = 1


@dataclass
class RoundFiles:
    """A round's verified files: its weights (a plain state dict) and its masks."""

    round: int
    weights: Path
    masks: Path


@dataclass
class Manifest:
    """A foreign pruning run's manifest: how to rebuild the model and data, and each round's digests."""

    folder: Path
    model: str
    model_opt: list[str]
    dataset: dict[str, Any]
    rounds: dict[int, dict[str, Any]]

    def to_json(self) -> str:
        """The file's text."""
        rounds = {str(r): v for r, v in sorted(self.rounds.items())}
        body = {"format": FORMAT, "version": VERSION, "model": self.model, "model_opt": self.model_opt}
        return json.dumps({**body, "dataset": self.dataset, "rounds": rounds}, indent=1, sort_keys=True) + "\n"

    def add_round(self, r: int, weights: Path, masks: Path, sparsity: float) -> None:
        """Record round r's file digests and rewrite the manifest atomically."""
        self.rounds[r] = {"weights_sha256": ckpt.file_sha256(weights), "masks_sha256": ckpt.file_sha256(masks)}
        self.rounds[r]["sparsity"] = sparsity
        atomic_write_text(self.folder / MANIFEST, self.to_json())

    def round_files(self, r: int | None) -> RoundFiles:
        """Round r's files (default the last recorded), each checked: ours, its sidecar, the manifest's digest."""
        if not self.rounds:
            raise PruningError(f"The run in {self.folder} finished no round.", "Run the pruning again.")
        r = max(self.rounds) if r is None else r
        if r not in self.rounds:
            have = ", ".join(str(k) for k in sorted(self.rounds))
            raise PruningError(f"The run in {self.folder} has no round {r}.", f"Pass --round one of: {have}.")
        files = RoundFiles(r, self.folder / f"round_{r}_weights.pt", self.folder / f"round_{r}_masks.pt")
        for path, key in ((files.weights, "weights_sha256"), (files.masks, "masks_sha256")):
            verify_round_file(path, self.rounds[r][key])
        return files


def verify_round_file(path: Path, recorded: Any) -> None:
    """A round file that is ours, matches its sidecar and zip CRCs, and has the digest the manifest recorded."""
    if not path.is_file():
        raise PruningError(f"The round file {path} is missing.", "Ingest another round (--round R).")
    check_trusted_file(path, "round file")
    try:
        actual = ckpt.verify_file(path)
    except CheckpointError as exc:
        raise PruningError(exc.message, "Ingest another round (--round R), or run the pruning again.") from None
    if actual != recorded:
        raise PruningError(
            f"{path} does not match the SHA-256 the run recorded when it wrote the round: recorded {recorded}, "
            f"file now {actual}. It changed on disk after it was written (corruption or an edit).",
            "Ingest another round (--round R), or run the pruning again.",
        )


def new_manifest(folder: Path, model: str, model_opt: list[str], dataset: Mapping[str, Any]) -> Manifest:
    """The manifest of a run starting now (written with its first round)."""
    return Manifest(folder, model, list(model_opt), dict(dataset), {})


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, None when it has none; a folder or manifest another user can write is refused."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    check_private_dir(folder, "run folder")
    try:
        data = json.loads(read_trusted_bytes(path, "run manifest"))
        rounds = {int(r): dict(v) for r, v in data["rounds"].items()}
        if data.get("format") != FORMAT or not isinstance(data["model"], str) or not isinstance(data["dataset"], dict):
            raise ValueError("not a graphstore foreign-run manifest")
        return Manifest(folder, data["model"], [str(o) for o in data["model_opt"]], data["dataset"], rounds)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PruningError(
            f"{path} is not a readable run manifest ({type(exc).__name__}).",
            "It changed after the run wrote it; run the pruning again.",
        ) from None


def check_against_record(manifest: Manifest, run_id: int, params: Mapping[str, Any]) -> None:
    """The manifest says what the tracking DB's record of the run says: model source, options and dataset."""
    record = {
        "model": (params.get("model") or {}).get("source"),
        "model options": params.get("model_options"),
        "dataset": {k: (params.get("dataset") or {}).get(k) for k in ("name", "params")},
    }
    options = {k: repr(v) for k, v in parse_options(manifest.model_opt, "--model-opt").items()}
    mine = {"model": manifest.model, "model options": options, "dataset": manifest.dataset}
    differ = [k for k in record if record[k] != mine[k]]
    if differ:
        raise PruningError(
            f"Run {run_id}'s folder {manifest.folder} disagrees with its tracking record on the {', '.join(differ)}: "
            "the folder or the record changed after the run.",
            "Ingest the round with `graphstore ingest --model MODULE:CALLABLE --weights FILE` after checking it, "
            "or run the pruning again.",
        )
