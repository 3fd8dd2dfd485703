"""One torchrun process of `graphstore train --nproc N`: `python -m graphstore.jobs.train_worker JOB OUT`.

JOB is the pickled (Settings, TrainParams) the launching job wrote; rank 0 pickles its TrainOutcome to OUT.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from graphstore.jobs.base import JobContext
from graphstore.jobs.train import train_here
from graphstore.nn import distributed


def main(argv: list[str]) -> int:
    """Train this rank's share; rank 0 writes the outcome file."""
    job, out = Path(argv[0]), Path(argv[1])
    settings, params = pickle.loads(job.read_bytes())
    try:
        outcome = train_here(JobContext(settings), params)
        if distributed.rank() == 0:
            out.write_bytes(pickle.dumps(outcome))
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
