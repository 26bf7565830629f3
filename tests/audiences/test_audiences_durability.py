"""Audiences under failure and contention, and what they cost: a crash at every step of
entering and of leaving, two processes on one store, an interaction racing the exit
worker, and the round trips an interaction pays for audiences."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

import pytest

from app.audiences import definitions as audiences
from app.audiences import worker as audiences_worker
from app.audiences.membership import GRACE
from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking

H = 30 * 24 * 3600


class Crash(Exception):
    """The process died here."""


@contextmanager
def crash_at(platform: Platform, step: int, collections: set[str] | None = None
             ) -> Iterator[list[int]]:
    """Fail the `step`-th storage call (of these collections) before it reaches the store."""
    trips = platform.storage.trips
    original = trips.add
    seen = [0]

    def add(collection: str) -> None:
        if collections is None or collection in collections:
            seen[0] += 1
            if seen[0] == step:
                raise Crash(f"call {step} ({collection})")
        original(collection)

    trips.add = add  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        trips.add = original  # type: ignore[method-assign]


def event(type_: EventType, visitor: str, event_id: str, **fields: Any) -> EventInput:
    return EventInput(type=type_, context=Context(shop_id=1, visitor_id=visitor,
                                                  event_id=event_id), **fields)


def view(visitor: str, event_id: str, product: str = "p1") -> EventInput:
    return event(EventType.PRODUCT_VIEW, visitor, event_id, category_id="c1", product_id=product)


async def track(platform: Platform, *events: EventInput) -> None:
    outcomes = await tracking.track(platform, list(events))
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]


async def stored(platform: Platform, type_: str | None = None) -> list[dict[str, Any]]:
    query = {"type": type_} if type_ else {"type": {"$in": ["AUDIENCE_ENTERED",
                                                             "AUDIENCE_EXITED"]}}
    return await platform.storage.triggers.find(query).to_list(None)


async def members(platform: Platform) -> list[str]:
    docs = await platform.storage.memberships.find({"member": True}).to_list(None)
    return sorted(d["userId"] for d in docs)


@pytest.fixture
async def shop(platform: Platform) -> int:
    await platform.shops.create("Shop", shop_id=1)
    return 1


@pytest.fixture
async def audience(platform: Platform, shop: int) -> dict[str, Any]:
    return await audiences.create(platform, shop, "Interested", None, "p1", 3.0)


async def customer(platform: Platform, n: int, views: int = 1) -> None:
    await track(platform, event(EventType.LOGIN, f"v{n}", f"login{n}", user_id=f"u{n}"),
                *[view(f"v{n}", f"seed{n}-{i}") for i in range(views)])


# What a crash may interrupt once the interest is written: the audience's reads and writes.
AFTER_INTERESTS = {"memberships", "triggers"}


@pytest.mark.parametrize("step", range(1, 5))
async def test_a_crash_at_any_step_of_entering_then_a_retry_enters_exactly_once(
    platform: Platform, audience: dict[str, Any], clock: FakeClock, step: int
) -> None:
    await customer(platform, 1)  # score 2
    lifting = view("v1", "lift")  # score 4: enters
    with crash_at(platform, step, AFTER_INTERESTS) as seen, suppress(Crash):
        await track(platform, lifting)
    assert seen[0] >= step, "the step was never reached: the test would prove nothing"
    await track(platform, lifting)  # the client retries the same event
    clock.advance(seconds=GRACE.total_seconds())
    await audiences_worker.tick(platform)  # finishes what a dead writer left
    assert [t["userId"] for t in await stored(platform, "AUDIENCE_ENTERED")] == ["u1"]
    assert await members(platform) == ["u1"]
    # and it leaves exactly once when the score has decayed
    clock.advance(seconds=H * math.log2(4 / 3) + 1)
    await audiences_worker.tick(platform)
    assert len(await stored(platform, "AUDIENCE_EXITED")) == 1
    assert await members(platform) == []


@pytest.mark.parametrize("step", range(1, 7))
async def test_a_crash_at_any_step_of_an_exit_then_the_next_tick_fires_it_exactly_once(
    platform: Platform, audience: dict[str, Any], clock: FakeClock, step: int
) -> None:
    await customer(platform, 1, views=2)
    clock.advance(seconds=H * math.log2(4 / 3) + 1)
    with crash_at(platform, step) as seen, suppress(Crash):
        await audiences_worker.fire_due(platform)
    assert seen[0] >= step, "the step was never reached: the test would prove nothing"
    for _ in range(2):
        clock.advance(seconds=GRACE.total_seconds())
        await audiences_worker.fire_due(platform)
    [left] = await stored(platform, "AUDIENCE_EXITED")
    assert left["userId"] == "u1" and left["score"] < 3.0
    assert await members(platform) == []
    assert await platform.storage.memberships.count_documents({"pending.0": {"$exists": True}}) \
        == 0


async def test_two_processes_fire_each_due_exit_exactly_once(
    platform: Platform, audience: dict[str, Any], clock: FakeClock
) -> None:
    other = await Platform.start(platform.settings, clock=clock, storage=platform.storage)
    try:
        for n in range(200):
            await customer(platform, n, views=2)
        assert len(await members(platform)) == 200
        clock.advance(seconds=H * math.log2(4 / 3) + 1)
        fired = await asyncio.gather(audiences_worker.tick(platform),
                                     audiences_worker.tick(other),
                                     audiences_worker.tick(platform),
                                     audiences_worker.tick(other))
        assert sum(fired) == 200
        assert len({t["_id"] for t in await stored(platform, "AUDIENCE_EXITED")}) == 200
        assert await asyncio.gather(audiences_worker.tick(platform),
                                    audiences_worker.tick(other)) == [0, 0]
    finally:
        await other.stop()


async def test_an_interaction_after_the_exit_was_due_but_before_it_fired_leaves_then_enters(
    platform: Platform, audience: dict[str, Any], clock: FakeClock
) -> None:
    await customer(platform, 1, views=2)
    clock.advance(seconds=H * math.log2(4 / 3) + 1)  # due; the worker has not run yet
    await track(platform, view("v1", "again"))
    got = sorted(await stored(platform), key=lambda t: t["sortKey"])
    assert [(t["type"], t["_id"].rsplit(":", 2)[1:]) for t in got] == [
        ("AUDIENCE_ENTERED", ["in", "1"]), ("AUDIENCE_EXITED", ["out", "1"]),
        ("AUDIENCE_ENTERED", ["in", "2"])]
    assert got[1]["score"] < 3.0 <= got[2]["score"]
    assert await audiences_worker.tick(platform) == 0
    assert await members(platform) == ["u1"]


async def test_the_exit_worker_reads_only_what_is_due(
    platform: Platform, audience: dict[str, Any], clock: FakeClock
) -> None:
    costs = []
    for kept, prefix in ((5, 1000), (200, 2000)):
        for n in range(kept):  # members whose exit is far away (score 8: two half-lives)
            await customer(platform, prefix + n, views=4)
        await customer(platform, prefix - 1, views=2)  # due first
        clock.advance(seconds=H * math.log2(4 / 3) + 1)
        platform.storage.trips.reset()
        assert await audiences_worker.fire_due(platform) == 1
        costs.append(dict(platform.storage.trips.by_collection))
        clock.set(clock.now() - timedelta(seconds=H * math.log2(4 / 3) + 1))
        await platform.storage.memberships.delete_many({})
    assert costs[0] == costs[1], f"the tick's cost grew with the members kept: {costs}"
    if platform.storage.real_mongodb:
        plan = await platform.storage.memberships.raw.find(
            {"dueAt": {"$lte": clock.now()}}).explain()
        assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])


async def interaction_cost(platform: Platform, n: int) -> int:
    await customer(platform, n)
    platform.storage.trips.reset()
    await track(platform, view(f"v{n}", f"cost{n}", product="p-other"))
    return platform.storage.trips.total


async def test_a_shop_without_audiences_pays_no_round_trip_for_them(
    platform: Platform, shop: int
) -> None:
    without = await interaction_cost(platform, 1)
    for n in range(99):  # audiences over other products: still nothing to read
        await audiences.create(platform, shop, f"a{n}", None, f"p{n}", 3.0)
    await platform.shops.require(shop)
    assert await interaction_cost(platform, 2) == without
    await audiences.create(platform, shop, "other", None, "p-other", 3.0)
    await platform.shops.require(shop)
    # over the product viewed, below minScore: one read of the new stored value
    assert await interaction_cost(platform, 3) == without + 1


async def test_an_exit_racing_a_fresh_entry_never_overwrites_it(
    platform: Platform, audience: dict[str, Any], clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exit worker decides from the membership it read; an interaction that writes in
    between (the customer left and came back, episode 2) wins, and the exit's write, made
    conditional on the revision it read, changes nothing."""
    await customer(platform, 1, views=2)
    clock.advance(seconds=H * math.log2(4 / 3) + 1)  # the exit is due
    real_apply = audiences_worker.apply
    raced = []

    async def apply_after_an_interaction(*args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(True)
            await track(platform, view("v1", "racing"))  # between the worker's read and write
        return await real_apply(*args, **kwargs)

    monkeypatch.setattr(audiences_worker, "apply", apply_after_an_interaction)
    await audiences_worker.tick(platform)
    assert raced
    assert await members(platform) == ["u1"]
    [doc] = await platform.storage.memberships.find({}).to_list(None)
    assert (doc["member"], doc["episode"]) == (True, 2)
    got = sorted(await stored(platform), key=lambda t: t["sortKey"])
    assert [(t["type"], t["_id"].rsplit(":", 2)[1:]) for t in got] == [
        ("AUDIENCE_ENTERED", ["in", "1"]), ("AUDIENCE_EXITED", ["out", "1"]),
        ("AUDIENCE_ENTERED", ["in", "2"])]
    monkeypatch.undo()
    assert await audiences_worker.tick(platform) == 0  # nothing due: the entry stands
    assert await members(platform) == ["u1"]
