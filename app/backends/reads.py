"""Reads that scan, kept within the request's time budget and off the event loop.

A request's time budget (app/server/operations.py `TimeBudget`) is a deadline in a
context variable, seen by every storage call the request makes:

- On MongoDB the server does the work: a scanning read (an aggregation, a count, a
  find) made under a deadline carries `maxTimeMS`, what is left of the budget, so
  MongoDB itself stops it and answers `ExecutionTimeout` (code 50).
- On the embedded store (mongomock, in this process) such a read runs Python code over
  every document. It runs in a worker thread (at most WORKERS at a time, the others
  wait their turn without holding anything), so the event loop goes on serving every
  other client; the thread checks the deadline as it goes (`check`, called by the
  scans patched in app/backends/embedded.py) and stops with the same
  `ExecutionTimeout`. A caller that goes away (cancelled) stops its thread too.

Invariant: a read ended this way changed nothing (reads only), and `running` counts
the threads still at work, `stopped` those ended at their deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

from pymongo.errors import ExecutionTimeout

from app.backends.metrics import EMBEDDED_CPU

T = TypeVar("T")
# Threads for the embedded store's scans: one, as they hold the GIL; with more, the
# event loop waits for it longer (bench/fair.py).
WORKERS = 1
RETRIES = 3  # a scan that met a write in flight (a dict changed under it) starts over
CHECK_EVERY = 64  # documents between two looks at the clock
GRACE = 0.05  # past the deadline: the request's own timer answers first, then the thread stops

DEADLINE: ContextVar[float | None] = ContextVar("tracker_read_deadline", default=None)
_local = threading.local()


@contextlib.contextmanager
def deadline_in(seconds: float) -> Iterator[None]:
    """Reads made inside end at most `seconds` from now (an outer deadline still holds)."""
    end = time.monotonic() + seconds
    outer = DEADLINE.get()
    token = DEADLINE.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        DEADLINE.reset(token)


def remaining_ms() -> int | None:
    """What is left of the current deadline, in ms (at least 1); None without one."""
    end = DEADLINE.get()
    if end is None:
        return None
    return max(1, int((end - time.monotonic()) * 1000))


def over() -> ExecutionTimeout:
    return ExecutionTimeout("operation exceeded time limit", 50)


def check(scanned: int = 0) -> None:
    """In a worker thread: stop (ExecutionTimeout) past the deadline or when called off.
    Looks at the clock every CHECK_EVERY documents (`scanned` counts them)."""
    if scanned % CHECK_EVERY:
        return
    stop: threading.Event | None = getattr(_local, "stop", None)
    if stop is None:
        return  # not a worker's read: the event loop's own small reads are not timed
    end: float | None = _local.deadline
    if stop.is_set() or (end is not None and time.monotonic() > end + GRACE):
        raise over()


class OffLoop:
    """Runs the embedded store's scans in worker threads, each within its deadline."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="embedded-read")
        self.running = 0  # scans started and not yet ended (tests and benchmarks read it)
        self.stopped = 0  # scans ended at their deadline

    async def run(self, work: Callable[[], T]) -> T:
        end = DEADLINE.get()
        if end is not None and time.monotonic() > end:
            raise over()
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        self.running += 1
        future = self._executor.submit(self._job, work, end, stop)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._ended))
        try:
            return await asyncio.wrap_future(future)
        except BaseException:
            stop.set()  # cancelled, or failed: the thread stops at its next look
            raise

    def _job(self, work: Callable[[], T], end: float | None, stop: threading.Event) -> T:
        _local.deadline, _local.stop = end, stop
        cpu = time.thread_time()  # the store's work, in this thread (EMBEDDED_CPU)
        try:
            for attempt in range(RETRIES):
                try:
                    return work()
                except RuntimeError as error:  # "dictionary changed size during iteration"
                    if "changed size" not in str(error) or attempt == RETRIES - 1:
                        raise
            raise AssertionError("unreachable")
        except ExecutionTimeout:
            self.stopped += 1
            raise
        finally:
            _local.deadline, _local.stop = None, None
            EMBEDDED_CPU.inc(time.thread_time() - cpu)

    def _ended(self) -> None:
        self.running -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
