"""Parameters shared by the file-backed image datasets."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileParams:
    """Where the files are, how to split the official training file, and how much of it to use."""

    root: str = field(default="", metadata={"help": "Folder holding the dataset files (default <data_dir>/datasets)."})
    val_fraction: float = field(
        default=0.1, metadata={"help": "Fraction of the training file held out for validation."}
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/validation split."})
    limit: int = field(default=0, metadata={"help": "Use at most this many training samples (0 = all)."})
    download: bool = field(default=False, metadata={"help": "Fetch missing files with torchvision (needs network)."})
