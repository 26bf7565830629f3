"""Fault injection for the storage layer: fail the N-th round trip once, then retry.

`FailOnce(n)` hooks `RoundTrips.before_call` (app/backends/storage.py): the n-th
storage call of the run raises `AutoReconnect` (what a primary step-down looks
like to the driver) before it reaches the store, exactly once. `snapshot` reads
every collection straight from the database (no round trip counted, no fault),
without the bookkeeping fields that only say *how* a state was reached.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import AutoReconnect

from app.core.clock import FakeClock
from app.indexes import INDEXES
from app.platform import Platform, open_store
from tests.support.api import make_settings

# Fields that record how a state was reached (markers, log positions), not what it is.
BOOKKEEPING = {"lastBatch", "lastCheckout", "linkedFrom", "eventKey", "filing", "sortKey",
               "storedAt", "published", "appliedEvents", "pending",
               # performance rollups (app/attribution/rollups.py): a batch's guard marks;
               # co-occurrence's guards (the same `applied`) and its fold's lease
               "applied", "foldBatch", "folding", "foldLeaseUntil",
               "identifySecret", "keyHashes"}  # (the last two: random per shop)


class FailOnce:
    """Raise on the n-th storage call (1-based), once; count every call."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.calls = 0
        self.fired: str | None = None

    def __call__(self, collection: str) -> None:
        self.calls += 1
        if self.calls == self.n:
            self.fired = collection
            raise AutoReconnect(f"injected fault on call {self.n} ({collection})")


async def fresh_platform(clock: FakeClock | None = None) -> Platform:
    settings = make_settings(mongodb_url="mongomock://",
                             mongodb_db=f"faults_{uuid.uuid4().hex[:10]}")
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    clock = clock or FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    return await Platform.start(settings, clock=clock, storage=storage)


def _clean(value: Any) -> Any:
    # A field set to null reads as one never set (a query for null matches both).
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items())
                if k not in BOOKKEEPING and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


async def snapshot(platform: Platform) -> dict[str, list[Any]]:
    """Every document of every collection, sorted by `_id`, bookkeeping left out."""
    state: dict[str, list[Any]] = {}
    for name in INDEXES:
        docs = await platform.storage.db[name].find({}).to_list(None)
        state[name] = sorted((_clean(d) for d in docs), key=lambda d: str(d["_id"]))
    return state


async def retried(call: Callable[[], Awaitable[Any]], attempts: int = 3) -> tuple[Any, int]:
    """Run `call` as the tracker does: again after a failure. Returns its result and retries."""
    for attempt in range(attempts):
        try:
            return await call(), attempt
        except AutoReconnect:
            continue
    raise AssertionError("still failing after retries")


async def run_matrix(
    setup: Callable[[Platform], Awaitable[None]],
    scenario: Callable[[Platform], Awaitable[tuple[Any, int]]],
    reference: Callable[[Platform], Awaitable[tuple[Any, int]]] | None = None,
) -> tuple[list[str], int, int]:
    """Run `scenario` once without faults, then once per storage call N with call N failing.

    `scenario` returns its answers and how many requests it retried. Returns the
    failures (N, the collection, what differed), the number of faults injected and
    the number of retried requests. With `reference` (e.g. each batch sent once, for a
    scenario that sends each twice at once), every run of `scenario`, the one without
    faults too, must end in the state and answers of `reference` run without faults.
    """
    clean = await fresh_platform()
    await setup(clean)
    counter = FailOnce(None)
    clean.storage.trips.before_call = counter
    expected_answers, _ = await scenario(clean)
    clean.storage.trips.before_call = None
    expected = await snapshot(clean)
    await clean.stop()
    failures: list[str] = []
    if reference is not None:
        single = await fresh_platform()
        await setup(single)
        reference_answers, _ = await reference(single)
        reference_state = await snapshot(single)
        await single.stop()
        differing = [k for k in expected if expected[k] != reference_state[k]]
        if expected_answers != reference_answers:
            differing.append("answers")
        if differing:
            failures.append(f"no fault: {', '.join(differing)} differ from one send")
        expected, expected_answers = reference_state, reference_answers
    retries = 0
    for n in range(1, counter.calls + 1):
        platform = await fresh_platform()
        await setup(platform)
        fault = FailOnce(n)
        platform.storage.trips.before_call = fault
        answers, retried_here = await scenario(platform)
        retries += retried_here
        platform.storage.trips.before_call = None
        state = await snapshot(platform)
        await platform.stop()
        differing = [k for k in expected if state[k] != expected[k]]
        if answers != expected_answers:
            differing.append("answers")
        if differing:
            failures.append(f"call {n} ({fault.fired}): {', '.join(differing)} differ")
    return failures, counter.calls, retries
