"""Two writers on one store, interleaved at every point of one of them (issue 11.3).

Two server processes are two `Platform`s on one storage (their own shop caches and
outboxes, as processes have). `interleavings` runs the *held* writer on the first and
stops it just before its storage call number k+1 (k = 0 .. every call it makes); the
*other* writer runs to the end on the second; then the held one goes on. Each k is one
interleaving, forced deterministically (an `asyncio.Event`, no sleeps), and `check`
says what went wrong in it. A read-then-write left unprotected shows up as the k that
falls between the read and the write.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from app.backends.storage import COUNTED_METHODS, Storage
from app.core.clock import FakeClock
from app.platform import Platform, open_store
from tests.support.api import make_settings

HELD: contextvars.ContextVar[bool] = contextvars.ContextVar("held", default=False)

Writer = Callable[[Platform], Awaitable[Any]]
Check = Callable[[Platform, Any, Any], Awaitable[list[str]]]


class Gate:
    """Stops the held writer before its call number `hold_at + 1`; counts its calls."""

    def __init__(self, hold_at: int | None) -> None:
        self.hold_at = hold_at
        self.calls = 0
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def before_call(self) -> None:
        if not HELD.get():
            return
        if self.calls == self.hold_at:
            self.reached.set()
            await self.release.wait()
        self.calls += 1


class _GatedCursor:
    def __init__(self, cursor: Any, gate: Gate) -> None:
        self._cursor = cursor
        self._gate = gate

    def sort(self, *args: Any, **kwargs: Any) -> _GatedCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, n: int) -> _GatedCursor:
        self._cursor = self._cursor.limit(n)
        return self

    def off_loop(self) -> _GatedCursor:
        self._cursor = self._cursor.off_loop()
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        await self._gate.before_call()
        return await self._cursor.to_list(length)

    async def close(self) -> None:
        await self._cursor.close()


class _GatedCollection:
    """A collection whose every round trip passes the gate first."""

    def __init__(self, inner: Any, gate: Gate) -> None:
        self._inner = inner
        self._gate = gate

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)
        if attr not in COUNTED_METHODS:
            return target

        async def gated(*args: Any, **kwargs: Any) -> Any:
            await self._gate.before_call()
            return await target(*args, **kwargs)

        return gated

    def find(self, *args: Any, **kwargs: Any) -> _GatedCursor:
        return _GatedCursor(self._inner.find(*args, **kwargs), self._gate)


def _gate_storage(storage: Storage, gate: Gate) -> None:
    for name in storage.indexes:
        setattr(storage, name, _GatedCollection(getattr(storage, name), gate))


async def two_processes(gate: Gate) -> tuple[Platform, Platform]:
    settings = make_settings(mongodb_url="mongomock://",
                             mongodb_db=f"race_{uuid.uuid4().hex[:10]}")
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    first = await Platform.start(settings, clock=clock, storage=storage)
    second = await Platform.start(settings, clock=clock, storage=storage)
    _gate_storage(storage, gate)
    return first, second


async def _outcome(writer: Writer, platform: Platform) -> Any:
    """What the writer returned, or the error it raised (a lost race may raise)."""
    try:
        return await writer(platform)
    except Exception as error:
        return error


async def _held(writer: Writer, platform: Platform) -> Any:
    HELD.set(True)  # this task only (and the tasks it starts)
    return await _outcome(writer, platform)


async def _run_once(
    setup: Writer, held: Writer, other: Writer, check: Check, hold_at: int | None,
) -> tuple[int, list[str]]:
    gate = Gate(hold_at)
    first, second = await two_processes(gate)
    try:
        await setup(first)
        task = asyncio.create_task(_held(held, first))
        reached = asyncio.create_task(gate.reached.wait())
        await asyncio.wait({task, reached}, return_when=asyncio.FIRST_COMPLETED)
        reached.cancel()
        other_result = await _outcome(other, second)
        gate.release.set()
        held_result = await task
        return gate.calls, await check(first, held_result, other_result)
    finally:
        await first.stop()
        await second.stop()


async def interleavings(setup: Writer, held: Writer, other: Writer, check: Check,
                        ) -> tuple[int, list[str]]:
    """Run the race once per point of the held writer; returns the runs and the failures."""
    calls, _ = await _run_once(setup, held, other, check, None)  # counts the held calls
    failures: list[str] = []
    for k in range(calls + 1):
        _, problems = await _run_once(setup, held, other, check, k)
        failures += [f"held after {k} call(s): {p}" for p in problems]
    return calls + 1, failures
