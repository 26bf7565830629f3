"""Fault injection for the storage layer: fail the N-th round trip once, then retry.

`FailOnce(n)` hooks `RoundTrips.before_call` (app/backends/storage.py): the n-th
storage call of the run raises `AutoReconnect` (what a primary step-down looks
like to the driver) before it reaches the store, exactly once. `snapshot` reads
every collection straight from the database (no round trip counted, no fault),
without the bookkeeping fields that only say *how* a state was reached.
`refuse_apply_for_shop` makes one shop's counting fail every time (the folds' write of
its batch, app/backends/folds.py), the other shops' counted as usual.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from app.backends import folds
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


def refuse_apply_for_shop(monkeypatch: pytest.MonkeyPatch, shop_id: int) -> Any:
    """Every batch of the shop is refused when applied (say, a counter document the store
    refuses); returns the real `folds.apply`, for a test to put back."""
    real = folds.apply

    async def refusing(target: Any, batch: str, buckets: Any, now: Any) -> None:
        if folds.shop_of(batch) == shop_id:
            raise OperationFailure("object to update too large", code=10334)
        await real(target, batch, buckets, now)

    monkeypatch.setattr(folds, "apply", refusing)
    return real


async def fresh_platform(clock: FakeClock | None = None, **changes: Any) -> Platform:
    settings = make_settings(mongodb_url="mongomock://",
                             mongodb_db=f"faults_{uuid.uuid4().hex[:10]}", **changes)
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


@contextmanager
def without_faults(platform: Platform) -> Iterator[None]:
    """Calls made here are neither counted nor failed: a check that reads (a recount)
    is no part of the scenario under test."""
    hook = platform.storage.trips.before_call
    platform.storage.trips.before_call = None
    try:
        yield
    finally:
        platform.storage.trips.before_call = hook


async def retried(call: Callable[[], Awaitable[Any]], attempts: int = 3) -> tuple[Any, int]:
    """Run `call` as the tracker does: again after a failure. Returns its result and retries."""
    for attempt in range(attempts):
        try:
            return await call(), attempt
        except AutoReconnect:
            continue
    raise AssertionError("still failing after retries")


async def _reference(
    setup: Callable[[Platform], Awaitable[None]],
    scenario: Callable[[Platform], Awaitable[tuple[Any, int]]],
) -> tuple[Any, dict[str, list[Any]]]:
    platform = await fresh_platform()
    await setup(platform)
    answers, _ = await scenario(platform)
    state = await snapshot(platform)
    await platform.stop()
    return answers, state


def _differing(state: dict[str, list[Any]], answers: Any,
               expected: list[tuple[Any, dict[str, list[Any]]]]) -> list[str]:
    """What differs from the nearest of the expected outcomes (none: it is one of them)."""
    found: list[str] | None = None
    for expected_answers, expected_state in expected:
        differing = [k for k in expected_state if state[k] != expected_state[k]]
        if answers != expected_answers:
            differing.append("answers")
        if found is None or len(differing) < len(found):
            found = differing
    return found or []


async def run_matrix(
    setup: Callable[[Platform], Awaitable[None]],
    scenario: Callable[[Platform], Awaitable[tuple[Any, int]]],
    references: list[Callable[[Platform], Awaitable[tuple[Any, int]]]] | None = None,
) -> tuple[list[str], int, int]:
    """Run `scenario` once without faults, then once per storage call N with call N failing.

    `scenario` returns its answers and how many requests it retried. Returns the
    failures (N, the collection, what differed), the number of faults injected and
    the number of retried requests. With `references` (e.g. each batch sent once, for a
    scenario that sends each twice at once: once for each of the two sends, as either can
    be the one that counts), every run of `scenario`, the one without faults too, must end
    in the state and answers of one of them run without faults.
    """
    clean = await fresh_platform()
    await setup(clean)
    counter = FailOnce(None)
    clean.storage.trips.before_call = counter
    clean_answers, _ = await scenario(clean)
    clean.storage.trips.before_call = None
    clean_state = await snapshot(clean)
    await clean.stop()
    failures: list[str] = []
    expected = [(clean_answers, clean_state)]
    if references:
        expected = [await _reference(setup, one) for one in references]
        differing = _differing(clean_state, clean_answers, expected)
        if differing:
            failures.append(f"no fault: {', '.join(differing)} differ from one send")
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
        differing = _differing(state, answers, expected)
        if differing:
            failures.append(f"call {n} ({fault.fired}): {', '.join(differing)} differ")
    return failures, counter.calls, retries
