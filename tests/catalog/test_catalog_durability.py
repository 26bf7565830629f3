"""The catalog under failure: a fault at every storage call of an upsert and of the
fan-out walk (the fault-injection matrix of tests/support/faults.py), a crash at every
step of a walk, and two processes walking one change."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from app.catalog import fanout, tick
from app.core import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import track
from app.triggers import rule_store
from tests.support.faults import retried, run_matrix


def event(type_: EventType, visitor: str, event_id: str, **fields: Any) -> EventInput:
    return EventInput(type=type_, context=Context(shop_id=1, visitor_id=visitor,
                                                  event_id=event_id), **fields)


async def customers(platform: Platform, count: int) -> None:
    """u0.. log in; even ones view the product, odd ones ask to be told it is back."""
    for n in range(count):
        second = (event(EventType.PRODUCT_VIEW, f"v{n}", f"view{n}", category_id="c",
                        product_id="p") if n % 2 == 0 else
                  event(EventType.STOCK_NOTIFY, f"v{n}", f"ask{n}", product_id="p"))
        outcomes = await track(platform, [
            event(EventType.LOGIN, f"v{n}", f"login{n}", user_id=f"u{n}"), second])
        assert all(o.error is None for o in outcomes)


class Ids:
    """Rule ids that every fresh platform of a matrix makes the same (they are random)."""

    def __init__(self) -> None:
        self.n = 0

    def token_hex(self, _: int) -> str:
        self.n += 1
        return f"{self.n:012x}"


async def shop_with_interest(platform: Platform, count: int = 5) -> None:
    ids = Ids()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rule_store, "secrets", ids)
        await platform.shops.create("Shop", shop_id=1)
        await platform.rules.create(1, {"type": "PRICE_DROPPED"})
        await platform.rules.create(1, {"type": "BACK_IN_STOCK"})
    await platform.catalog.upsert(1, [{"productId": "p", "price": 100.0, "available": False}])
    platform.clock.advance(minutes=1)  # type: ignore[attr-defined]
    await customers(platform, count)


async def fired(platform: Platform) -> list[tuple[str, str]]:
    docs = await platform.storage.db.triggers.find(
        {"type": {"$in": ["PRICE_DROPPED", "BACK_IN_STOCK"]}}).to_list(None)
    return sorted((d["type"], d["userId"]) for d in docs)


EXPECTED = sorted([("PRICE_DROPPED", f"u{n}") for n in (0, 2, 4)]
                  + [("BACK_IN_STOCK", f"u{n}") for n in range(5)])


async def drop_and_restock(platform: Platform) -> tuple[Any, int]:
    """The shop lowers the price and restocks (retrying as a client does); the workers
    tick until done, a tick that failed being followed by another after the lease."""
    result, retries = await retried(lambda: platform.catalog.upsert(
        1, [{"productId": "p", "price": 80.0, "available": True}]))
    for _ in range(8):
        platform.clock.advance(seconds=fanout.LEASE.total_seconds() + 1)  # type: ignore
        try:
            await tick(platform)
        except AutoReconnect:
            retries += 1
    return (result.updated, result.changes, await fired(platform)), retries


async def test_a_fault_at_any_storage_call_of_a_drop_and_its_fan_out_loses_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PAGE", 2)  # several pages, so a fault lands between them
    failures, faults, retries = await run_matrix(shop_with_interest, drop_and_restock)
    assert faults > 15 and retries >= 1
    assert failures == [], f"{len(failures)} of {faults} faults lost effects:\n" + \
        "\n".join(failures)


class Crash(Exception):
    """The process died here."""


@pytest.mark.parametrize("step", range(1, 16))
async def test_a_crash_at_any_step_of_a_walk_resumes_and_fires_each_trigger_once(
        platform: Platform, monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    monkeypatch.setattr(fanout, "PAGE", 2)
    await shop_with_interest(platform)
    await platform.catalog.upsert(1, [{"productId": "p", "price": 80.0, "available": True}])
    trips, seen = platform.storage.trips, [0]
    original = trips.add

    def add(collection: str) -> None:
        seen[0] += 1
        if seen[0] == step:
            raise Crash(collection)
        original(collection)

    trips.add = add  # type: ignore[method-assign]
    with suppress(Crash):
        await tick(platform)
    trips.add = original  # type: ignore[method-assign]
    assert seen[0] >= step, "the step was never reached: the test would prove nothing"
    for _ in range(4):  # the dead process's lease runs out; another process resumes
        platform.clock.advance(seconds=fanout.LEASE.total_seconds() + 1)  # type: ignore
        await tick(platform)
    assert await fired(platform) == EXPECTED
    product = await platform.storage.db.products.find_one({"_id": "1:p"})
    assert not product.get("pending") and "pendingAt" not in product
    assert await platform.storage.db.stockRequests.count_documents({"open": True}) == 0


async def test_two_processes_walking_one_change_fire_each_trigger_once(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PAGE", 1)
    monkeypatch.setattr(fanout, "PAGES", 2)
    await shop_with_interest(platform, count=9)
    await platform.catalog.upsert(1, [{"productId": "p", "price": 80.0, "available": True}])
    for _ in range(12):
        await asyncio.gather(tick(platform), tick(platform))
    got = await fired(platform)
    assert len(got) == len(set(got)) == 5 + 9


async def test_a_big_fan_out_leaves_room_for_other_shops_jobs(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PAGE", 1)
    monkeypatch.setattr(fanout, "PAGES", 2)
    await shop_with_interest(platform, count=9)
    await platform.shops.create("Other", shop_id=2)
    await platform.rules.create(2, {"type": "PRICE_DROPPED"})
    await platform.catalog.upsert(1, [{"productId": "p", "price": 80.0, "available": True}])
    await platform.catalog.upsert(2, [{"productId": "q", "price": 10.0}])
    await track(platform, [EventInput(type=EventType.LOGIN, context=Context(
        shop_id=2, visitor_id="w", event_id="l"), user_id="w1"), EventInput(
        type=EventType.PRODUCT_VIEW, context=Context(shop_id=2, visitor_id="w", event_id="v"),
        category_id="c", product_id="q")])
    await platform.catalog.upsert(2, [{"productId": "q", "price": 5.0}])
    await tick(platform)  # shop 1's job walks two pages, then shop 2's gets its turn
    other = await platform.storage.db.triggers.count_documents({"shopId": 2})
    mine = await platform.storage.db.triggers.count_documents({"shopId": 1,
                                                                "type": "BACK_IN_STOCK"})
    assert other == 1 and mine < 9


async def test_a_walk_over_many_runs_reads_on_from_one_cursor_of_its_process(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PAGE", 1)
    monkeypatch.setattr(fanout, "PAGES", 2)
    await shop_with_interest(platform, count=9)
    await platform.catalog.upsert(1, [{"productId": "p", "price": 80.0, "available": True}])
    opened: list[str] = []
    find = platform.storage.interests.find

    def counted(*args: Any, **kwargs: Any) -> Any:
        opened.append("interests")
        return find(*args, **kwargs)

    monkeypatch.setattr(platform.storage.interests, "find", counted)
    runs = 0
    while await tick(platform):
        runs += 1
    assert await fired(platform) == sorted(
        [("PRICE_DROPPED", f"u{n}") for n in range(0, 9, 2)]
        + [("BACK_IN_STOCK", f"u{n}") for n in range(9)])
    # The interests of each change walked over several runs, each read once.
    assert runs > 4 and opened == ["interests", "interests"]
    assert len(platform.catalog.walks) == 0  # finished walks keep no cursor


async def test_a_walk_taken_over_by_another_process_and_back_fires_everyone_once(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PAGE", 1)
    monkeypatch.setattr(fanout, "PAGES", 2)
    await shop_with_interest(platform, count=9)
    other = await Platform.start(platform.settings, clock=platform.clock,
                                 storage=platform.storage)
    await platform.catalog.upsert(1, [{"productId": "p", "price": 80.0, "available": True}])
    for _ in range(12):  # the two processes take turns: each one's cursor goes stale
        await tick(platform)
        await tick(other)
    got = await fired(platform)
    assert len(got) == len(set(got)) == 5 + 9
    await other.broker.disconnect()
