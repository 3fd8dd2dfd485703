"""Helpers shared by the benchmarks: timing, peak memory, the machine line, and the server settings."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any


def machine() -> str:
    """One line naming the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def timed2(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process, all threads) of one call: on a shared machine the wall
    time depends on the load, the CPU time much less."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def neo4j_settings() -> dict[str, str] | None:
    """Neo4j connection from GRAPHSTORE_TEST_* (as exported by `graphstore services env`), or None."""
    uri = os.environ.get("GRAPHSTORE_TEST_NEO4J_URI")
    if not uri:
        return None
    return {
        "uri": uri,
        "user": os.environ.get("GRAPHSTORE_TEST_NEO4J_USER", "neo4j"),
        "password": os.environ.get("GRAPHSTORE_TEST_NEO4J_PASSWORD", ""),
    }


def rss_mib() -> float:
    """Current resident memory of this process, MiB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssPeak:
    """Context manager sampling RSS every few ms; `.increase_mib` is the peak above the starting RSS."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.increase_mib = 0.0

    def __enter__(self) -> RssPeak:
        import threading

        self._base = rss_mib()
        self._peak = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, rss_mib())
        self.increase_mib = self._peak - self._base


RESULTS_ENV = "GRAPHSTORE_BENCH_RESULTS"


def load() -> float:
    """The 1-minute load average now (the machine's contention, recorded beside every timing)."""
    return round(os.getloadavg()[0], 2)


def best(fn: Callable[[], Any], reps: int = 1) -> tuple[Any, float]:
    """(result of the last call, fewest seconds over `reps` calls), each call timed by perf_counter around it."""
    result, seconds = timed(fn)
    for _ in range(reps - 1):
        result, again = timed(fn)
        seconds = min(seconds, again)
    return result, seconds


def ratios(ours: float, times: dict[str, float | None]) -> dict[str, float]:
    """{name: seconds / ours} for each measured time (an anchor's speed-up over ours, or ours over a floor inverted)."""
    return {name: round(t / ours, 3) for name, t in times.items() if t is not None and ours > 0}


def record(
    benchmark: str,
    ours: dict[str, Any],
    anchor: dict[str, Any] | None,
    floor: dict[str, Any] | None,
    ratio: dict[str, Any],
    load_before: float,
    **extra: Any,
) -> dict[str, Any]:
    """Print one result as JSON and store it in the file named by $GRAPHSTORE_BENCH_RESULTS (the one writer).

    The file is a JSON list; a record replaces an earlier one of the same benchmark, so one bench can be rerun
    without losing the others. Written to a temporary file and renamed, so a killed run leaves the old file whole.
    """
    import json
    from datetime import datetime

    entry = {
        "benchmark": benchmark,
        "ours": ours,
        "anchor": anchor,
        "floor": floor,
        "ratios": ratio,
        "machine": machine(),
        "load_before": load_before,
        "load_after": load(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    print("result:", json.dumps(entry))
    path = os.environ.get(RESULTS_ENV)
    if path:
        try:
            with open(path) as fh:
                rows = [row for row in json.load(fh) if row.get("benchmark") != benchmark]
        except (OSError, ValueError):
            rows = []
        rows.append(entry)
        rows.sort(key=lambda row: str(row.get("benchmark")))
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(rows, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    return entry
