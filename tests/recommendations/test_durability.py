"""Co-occurrence is a writer: counted once whatever storage call fails, and no pair lost
when two processes write at once (tests/support/faults.py, tests/support/races.py)."""

from __future__ import annotations

import asyncio
import itertools
import sys
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from app import analytics
from app.core.events import Context, EventInput, EventType
from app.identity.retention import expire_anonymous
from app.interests import DEFAULT_FRAME
from app.platform import Platform
from app.recommendations import BOUGHT, VIEWED, fold_all
from app.recommendations.fold import LEASE_SECONDS
from app.recommendations.store import pairs_of
from app.server.workers import Workers
from app.tracking import pipeline as tracking
from tests.support.faults import fresh_platform, retried, run_matrix
from tests.support.races import interleavings
from tests.support.ttl import mongodb_ttl_monitor

_ids = itertools.count()
# The module (its package's `fold` is the function): its writes are patched below.
cooccurrence = sys.modules["app.recommendations.fold"]


def event(type_: EventType, visitor: str, n: int | None = None, **fields: Any) -> EventInput:
    return EventInput(type=type_, context=Context(
        shop_id=1, visitor_id=visitor, source_id="site",
        event_id=f"e{next(_ids) if n is None else n}"), **fields)


def viewed(visitor: str, n: int, product: str) -> EventInput:
    return event(EventType.PRODUCT_VIEW, visitor, n, category_id="c", product_id=product)


async def make_shop(platform: Platform) -> None:
    await platform.shops.create("Shop", shop_id=1)


def batches() -> list[list[EventInput]]:
    """A session over two batches, then a customer who buys two products."""
    return [
        [viewed("v1", 1, "a"), viewed("v1", 2, "b"), viewed("v1", 3, "c")],
        [viewed("v1", 4, "b"), viewed("v1", 5, "d")],
        [event(EventType.LOGIN, "v2", 6, user_id="u"), viewed("v2", 7, "a"),
         event(EventType.CART_ADD, "v2", 8, category_id="c", product_id="a"),
         event(EventType.CART_ADD, "v2", 9, category_id="c", product_id="b"),
         event(EventType.CHECKOUT, "v2", 10, order_id="o1")],
    ]


async def scenario(platform: Platform) -> tuple[Any, int]:
    retries = 0
    for batch in batches():
        _, again = await retried(lambda b=batch: tracking.track(platform, b))
        retries += again
        platform.clock.advance(seconds=30)
    for _ in range(3):  # the fold worker, as it runs again after a failure
        try:
            await fold_all(platform)
            return None, retries
        except AutoReconnect:
            retries += 1
            platform.clock.advance(seconds=LEASE_SECONDS)  # the failed fold's lease runs out
    raise AssertionError("the fold still fails")


async def pairs(platform: Platform, kind: str, product: str) -> dict[str, float]:
    await fold_all(platform)
    found = await pairs_of(platform.storage.cooccurrence, 1, kind, [product], DEFAULT_FRAME,
                           platform.clock.now())
    return {s.product_id: round(s.score, 4) for s in found.get(product, ([], None))[0]}


async def test_the_scenario_counts_each_session_and_order_once() -> None:
    platform = await fresh_platform()
    await make_shop(platform)
    await scenario(platform)
    assert await pairs(platform, VIEWED, "a") == pytest.approx(
        {"b": 1.0, "c": 1.0, "d": 1.0}, rel=1e-3)
    assert await pairs(platform, VIEWED, "b") == pytest.approx(
        {"a": 1.0, "c": 1.0, "d": 1.0}, rel=1e-3)  # b again in its session: no second pair
    assert await pairs(platform, BOUGHT, "a") == pytest.approx({"b": 1.0}, rel=1e-3)
    await platform.stop()


async def test_co_occurrence_survives_any_failed_call() -> None:
    failures, faults, retries = await run_matrix(make_shop, scenario)
    assert faults > 10 and retries >= faults
    assert failures == [], "\n".join(failures)


async def test_two_tabs_viewing_at_once_count_their_pair_once() -> None:
    async def first(platform: Platform) -> None:
        await tracking.track(platform, [event(EventType.PRODUCT_VIEW, "v", category_id="c",
                                              product_id="a")])

    async def second(platform: Platform) -> None:
        await tracking.track(platform, [event(EventType.PRODUCT_VIEW, "v", category_id="c",
                                              product_id="b")])

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = [f"a writer failed: {r!r}" for r in results if isinstance(r, Exception)]
        a, b = await pairs(platform, VIEWED, "a"), await pairs(platform, VIEWED, "b")
        if a != pytest.approx({"b": 1.0}, rel=1e-3) or b != pytest.approx({"a": 1.0},
                                                                           rel=1e-3):
            problems.append(f"pairs {a} {b}")
        return problems

    for held, other in [(first, second), (second, first)]:
        runs, failures = await interleavings(make_shop, held, other, check)
        assert runs > 3 and not failures, failures


async def test_two_sessions_writing_one_product_at_once_lose_no_pair() -> None:
    async def one(platform: Platform) -> None:
        await tracking.track(platform, [viewed("s1", next(_ids), "a"),
                                        viewed("s1", next(_ids), "b")])

    async def two(platform: Platform) -> None:
        await tracking.track(platform, [viewed("s2", next(_ids), "a"),
                                        viewed("s2", next(_ids), "c")])

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = [f"a writer failed: {r!r}" for r in results if isinstance(r, Exception)]
        a = await pairs(platform, VIEWED, "a")
        if a != pytest.approx({"b": 1.0, "c": 1.0}, rel=1e-3):
            problems.append(f"a's pairs {a}")
        return problems

    for held, other in [(one, two), (two, one)]:
        runs, failures = await interleavings(make_shop, held, other, check)
        assert runs > 3 and not failures, failures


async def test_two_processes_folding_at_once_apply_each_view_once() -> None:
    async def setup(platform: Platform) -> None:
        await make_shop(platform)
        for batch in batches()[:2]:
            await tracking.track(platform, batch)

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = [f"a writer failed: {r!r}" for r in results if isinstance(r, Exception)]
        platform.clock.advance(seconds=LEASE_SECONDS)  # a fold held at its lease has ended
        a = await pairs(platform, VIEWED, "a")
        if a != pytest.approx({"b": 1.0, "c": 1.0, "d": 1.0}, rel=1e-3):
            problems.append(f"a's pairs {a}")
        return problems

    runs, failures = await interleavings(setup, fold_all, fold_all, check)
    assert runs > 3 and not failures, failures


async def test_a_shop_whose_writes_keep_failing_does_not_stop_the_others_folding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    platform = await fresh_platform()
    await make_shop(platform)
    await platform.shops.create("Other", shop_id=2)
    for batch in batches():  # the same views in both shops, shop 1's first (the oldest)
        for shop in (1, 2):
            await tracking.track(platform, [
                replace(e, context=replace(e.context, shop_id=shop,
                                           event_id=f"{shop}-{e.context.event_id}"))
                for e in batch])
        platform.clock.advance(seconds=30)
    real = cooccurrence.write

    async def refusing(collection: Any, shop_id: int, touches: Any) -> None:
        if shop_id == 1:  # say, a product's document the store refuses, every time
            raise OperationFailure("object to update too large", code=10334)
        await real(collection, shop_id, touches)

    async def of(shop: int) -> dict[str, float]:
        found = await pairs_of(platform.storage.cooccurrence, shop, VIEWED, ["a"],
                               DEFAULT_FRAME, platform.clock.now())
        return {s.product_id: round(s.score, 4) for s in found.get("a", ([], None))[0]}

    monkeypatch.setattr(cooccurrence, "write", refusing)
    with pytest.raises(OperationFailure):  # the worker logs it
        await fold_all(platform)
    assert await of(2) == pytest.approx({"b": 1.0, "c": 1.0, "d": 1.0}, rel=1e-3)
    assert await of(1) == {}
    # Shop 1 rests a while (the next ticks fold the others), its views kept in order.
    assert await fold_all(platform) == 0
    monkeypatch.setattr(cooccurrence, "write", real)
    platform.clock.advance(seconds=cooccurrence.REST_SECONDS)
    assert await fold_all(platform) > 0
    assert await of(1) == await of(2)
    await platform.stop()


async def test_one_run_of_the_worker_folds_a_backlog_of_several_batches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A busy deployment sees more product views a second than one batch holds (50): a
    # run that folded one batch would let the backlog, and the lag, grow without end.
    monkeypatch.setattr(cooccurrence, "TICK_SECONDS", 60.0)  # the loop, not the machine
    platform = await fresh_platform()
    await make_shop(platform)
    for visitor in range(7):  # 140 views, 20 a visit
        await tracking.track(platform, [viewed(f"v{visitor}", visitor * 100 + n, f"p{n}")
                                        for n in range(20)])
    platform.clock.advance(seconds=5)
    [run] = [job for name, _, job in Workers(platform).jobs() if name == "co-occurrence"]
    await run()
    assert await platform.storage.events.count_documents({"coAt": {"$type": "date"}}) == 0
    found = await pairs_of(platform.storage.cooccurrence, 1, VIEWED, ["p0"], DEFAULT_FRAME,
                           platform.clock.now())
    assert {s.product_id for s in found["p0"][0]} == {f"p{n}" for n in range(1, 20)}
    await platform.stop()


async def a_backlog(visitors: int) -> Platform:
    """A shop whose visitors viewed 20 products each, marked for co-occurrence."""
    platform = await fresh_platform()
    await make_shop(platform)
    for visitor in range(visitors):
        await tracking.track(platform, [viewed(f"v{visitor}", visitor * 100 + n, f"p{n}")
                                        for n in range(20)])
    platform.clock.advance(seconds=5)
    return platform


async def test_a_run_folding_a_backlog_lets_the_server_answer_between_batches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded store never pauses inside a call: without a pause between batches, a
    # backlog kept up by a flood of views would hold every request for the whole run.
    monkeypatch.setattr(cooccurrence, "TICK_SECONDS", 60.0)
    platform = await a_backlog(10)  # 200 views: four batches
    turns = 0

    async def other_requests() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    beside = asyncio.create_task(other_requests())
    await asyncio.sleep(0)
    before = turns
    assert await cooccurrence.fold_backlog(platform) == 200
    beside.cancel()
    assert turns - before >= 3  # a turn between each two of the four batches at least
    await platform.stop()


async def test_a_run_of_the_worker_stops_at_its_share_of_the_second(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A flood of views must not take the requests' turn: past TICK_SECONDS, the rest of
    # the backlog waits for the next run (the clock here jumps a second a look).
    platform = await a_backlog(10)
    ticks = itertools.count()
    monkeypatch.setattr(cooccurrence, "clock", lambda: float(next(ticks)))
    assert await cooccurrence.fold_backlog(platform) == 50
    assert await cooccurrence.fold_backlog(platform) == 50
    await platform.stop()


async def test_a_fold_whose_read_fails_gives_its_lease_back() -> None:
    platform = await fresh_platform()
    await make_shop(platform)
    await tracking.track(platform, batches()[0])
    platform.clock.advance(seconds=5)

    def events_away(collection: str) -> None:
        if collection == "events":
            raise AutoReconnect("the events' shard is away")

    platform.storage.trips.before_call = events_away
    with pytest.raises(AutoReconnect):
        await cooccurrence.fold(platform)
    platform.storage.trips.before_call = None
    platform.clock.advance(seconds=1)  # the next tick, well inside LEASE_SECONDS
    assert await cooccurrence.fold(platform) == 3
    await platform.stop()


async def test_a_store_away_stops_a_fold_at_its_first_failure_not_once_per_shop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # With MongoDB away every call waits out the driver's server selection (30 s): tried
    # shop after shop, one run would outlast the lease and another process's fold.
    platform = await fresh_platform()
    await make_shop(platform)
    await platform.shops.create("Other", shop_id=2)
    for shop in (1, 2):
        await tracking.track(platform, [
            replace(e, context=replace(e.context, shop_id=shop,
                                       event_id=f"{shop}-{e.context.event_id}"))
            for e in batches()[0]])
    platform.clock.advance(seconds=5)
    tried: list[int] = []

    async def away(collection: Any, shop_id: int, touches: Any) -> None:
        tried.append(shop_id)
        raise AutoReconnect("no primary")

    monkeypatch.setattr(cooccurrence, "write", away)
    with pytest.raises(AutoReconnect):
        await cooccurrence.fold(platform)
    assert tried == [1]
    monkeypatch.undo()
    platform.clock.advance(seconds=1)  # and no shop rests: the store's trouble, not theirs
    assert await cooccurrence.fold(platform) == 6
    await platform.stop()


async def imported_old_views(platform: Platform) -> None:
    """Two views of one session 70 days ago (past the 60-day window), imported: counted
    by the traffic rollups, not yet by the co-occurrence fold (say, it has a backlog)."""
    day = platform.clock.now() - timedelta(days=70)
    outcomes = await tracking.track(platform, [replace(
        viewed("old", 90 + i, product), context=replace(
            viewed("old", 90 + i, product).context, occurred_at=day + timedelta(minutes=i)))
        for i, product in enumerate(["p1", "p2"])], importing=True)
    assert [o.error for o in outcomes] == [None, None]
    await analytics.fold(platform.storage, platform.clock.now())


@pytest.mark.parametrize("rollups", [True, False], ids=["rollups-on", "rollups-off"])
async def test_mongodbs_ttl_index_leaves_views_the_co_occurrence_fold_has_not_read(
        rollups: bool) -> None:
    platform = await fresh_platform(analytics_rollups=rollups)
    await make_shop(platform)
    await imported_old_views(platform)
    assert await mongodb_ttl_monitor(platform.storage, platform.clock.now()) == 0
    assert set(await pairs(platform, VIEWED, "p1")) == {"p2"}
    # Read by both folds: now they expire.
    assert await mongodb_ttl_monitor(platform.storage, platform.clock.now()) == 2


async def test_retention_deletes_no_view_the_co_occurrence_fold_has_not_read() -> None:
    """Retention folds the co-occurrence first; views it could not read then (another
    process holds the fold's lease) are kept for the next run."""
    platform = await fresh_platform()
    await make_shop(platform)
    await imported_old_views(platform)
    held = platform.clock.now() + timedelta(seconds=LEASE_SECONDS)
    await platform.storage.cooccurrence.update_one(
        {"_id": "0:fold", "shopId": 0}, {"$set": {"foldLeaseUntil": held}}, upsert=True)
    assert await expire_anonymous(platform) == 0
    platform.clock.advance(seconds=LEASE_SECONDS)  # the other process's lease runs out
    assert await expire_anonymous(platform) == 2  # read first, then deleted
    assert set(await pairs(platform, VIEWED, "p1")) == {"p2"}
