"""The Neo4j lane runner: a table's batches written by several transactions side by side, one thread per lane,
each batch retried when Neo4j picks it as a deadlock's victim (graphstore.store.lanes plans the lanes)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from neo4j import exceptions as ex

from graphstore.store.base import Batch

DEADLOCK_RETRIES = 8


def run_lanes(write: Callable[[Batch, int], bool], work: dict[int, list[Batch]]) -> Generator[Batch, None, None]:
    """Run each lane's batches (`write(batch, lane)`) in its own thread; yield batches as they commit. An error
    or Ctrl-C stops the other lanes after their current batch and is raised here."""
    done: queue.Queue[Batch | BaseException | None] = queue.Queue()
    stop = threading.Event()

    def lane_task(lane: int, todo: list[Batch]) -> None:
        try:
            for batch in todo:
                if stop.is_set():
                    break
                retry_deadlocks(partial(write, batch, lane))
                done.put(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
            stop.set()
            done.put(exc)
        finally:
            done.put(None)

    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="graphstore-lane") as pool:
        try:
            for lane, todo in work.items():
                pool.submit(lane_task, lane, todo)
            running = len(work)
            while running:
                item = done.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            stop.set()


def retry_deadlocks(write: Callable[[], bool]) -> bool:
    """Run one batch write, again when Neo4j chose it as a deadlock's victim (its transaction was rolled
    back whole, so the retry is a clean first attempt)."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return write()
        except ex.TransientError as exc:
            if "DeadlockDetected" not in (exc.code or "") or attempt == DEADLOCK_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
