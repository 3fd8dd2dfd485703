"""One torchrun process of a job run with `--nproc N`: `python -m graphstore.jobs.train_worker JOB OUT`.

JOB is the pickled (Settings, job function, params, device) that graphstore.jobs.launch.launch wrote; every rank
joins the process group and runs the job function as its rank; rank 0 pickles the job's result to OUT.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from graphstore.jobs.base import JobContext
from graphstore.nn import distributed


def main(argv: list[str]) -> int:
    """Run this rank's share of the job; rank 0 writes the result file."""
    order, out = Path(argv[0]), Path(argv[1])
    settings, job, params, device = pickle.loads(order.read_bytes())
    try:
        distributed.setup(device)
        outcome = job(JobContext(settings), params)
        if distributed.rank() == 0:
            out.write_bytes(pickle.dumps(outcome))
    finally:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
