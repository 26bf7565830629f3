"""Dense sketches: what keeps `totals.visitors` flat in cost however busy the days are.

A closed hour or day with DENSE_FROM visitors or more keeps its HyperLogLog registers
dense too (app/analytics/sketch.py `Dense`), written by the closing worker as it closes
(app/analytics/closing.py) or else by the first report that merges it
(app/analytics/reports.py `Reader.complete`), only while the bucket's counts are those
it read. Later reports merge those instead of the visitors' lists and registers. These tests
hold that the answers stay what the raw events say: exact up to PUSH_LIMIT visitors,
within the sketch's error above; a visitor counted late into a closed day; the dense
write racing a fold, or failing, whoever writes it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from app import analytics
from app.analytics import leases, reports, sketch
from app.analytics.ranges import buckets
from app.analytics.sketch import Dense
from app.backends import folds
from app.core import to_ms
from app.core.events import EventType
from app.platform import Platform
from app.tracking import pipeline as tracking
from tests.analytics.test_rollups_durability import (
    RANGES,
    SHOP,
    answered,
    event,
    fresh,
    track_evening,
)
from tests.support.api import Api
from tests.support.recount import assert_rollups_equal_recount

from .test_analytics import IMPORT, STATS, ask
from .test_analytics import event as imported

DAYS = {"2026-02-26": range(0, 12), "2026-02-27": range(6, 18)}  # 18 visitors, 6 twice
SPAN = {"from": "2026-02-26T00:00:00Z", "to": "2026-02-28T00:00:00Z"}


@pytest.fixture
def dense_from_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "DENSE_FROM", 3)


def _sparse(ids: list[str]) -> dict[str, int]:
    registers: dict[str, int] = {}
    for visitor in ids:
        sketch.add(registers, visitor)
    return registers


def test_dense_sketches_merge_and_estimate_as_the_sparse_ones_do() -> None:
    rng = random.Random(7)
    for size in (0, 1, 50, 3_000, 40_000):
        a = [f"a{rng.random()}" for _ in range(size)]
        b = a[: size // 2] + [f"b{rng.random()}" for _ in range(size // 3)]
        sparse = sketch.merge([_sparse(a), _sparse(b)])
        dense = Dense.of(_sparse(a)).merge(Dense.of(_sparse(b)))
        assert dense.value == Dense.of(sparse).value
        assert dense.estimate() == sketch.estimate(sparse)
        assert Dense.unpack(dense.pack()).value == dense.value
        assert dense.occupied() == len(sparse)


def test_a_dense_merge_keeps_the_larger_rank_in_every_register() -> None:
    rng = random.Random(3)
    a = {str(i): rng.randrange(52) for i in range(0, sketch.REGISTERS, 3)}
    b = {str(i): rng.randrange(52) for i in range(0, sketch.REGISTERS, 2)}
    merged = Dense.of(a).merge(Dense.of(b)).value.to_bytes(sketch.REGISTERS, "big")
    for i in range(sketch.REGISTERS):
        assert merged[i] == max(a.get(str(i), 0), b.get(str(i), 0))


async def _import(api: Api, key: str, days: dict[str, range], base: int = 0) -> None:
    history = [imported(base + i * 100 + n, f"v{n}", f"{day}T10:{n:02d}:00Z", "VISIT")
               for i, (day, who) in enumerate(days.items()) for n in who]
    assert all((await api.data(IMPORT, {"e": history}, key=key))["importEvents"])


async def _day_docs(platform: Platform) -> list[dict[str, Any]]:
    return await platform.storage.rollups.find({"kind": "d"}).sort("at", 1).to_list(None)


async def test_busy_closed_days_answer_from_their_dense_sketches(
        api: Api, shop: dict, platform: Platform, dense_from_three: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not platform.settings.analytics_rollups:
        pytest.skip("the recount reads no rollups")
    monkeypatch.setattr(folds, "PUSH_LIMIT", 5)  # the union of 18 is estimated
    await _import(api, shop["key"], DAYS)
    first = await ask(api, STATS, shop["key"], **SPAN)
    days = await _day_docs(platform)
    assert [d["dense"]["visitors"]["n"] for d in days] == [12, 12]
    # Without their lists and registers, the days answer the same: from the dense ones.
    await platform.storage.rollups.update_many(
        {"kind": "d"}, {"$unset": {"vs": "", "hv": "", "is": "", "hi": ""}})
    again = await ask(api, STATS, shop["key"], **SPAN)
    assert again == first
    assert again["stats"]["totals"]["visitors"] == 18


async def test_a_union_within_the_limit_is_exact_over_dense_days(
        api: Api, shop: dict, platform: Platform, dense_from_three: None) -> None:
    # Three visitors whose registers collide: the sketch sees two, the lists three.
    by_register: dict[int, list[str]] = {}
    n = 0
    while True:
        n += 1
        index, _ = sketch.register(f"v{n}")
        by_register.setdefault(index, []).append(f"v{n}")
        if len(by_register[index]) == 2:
            break
    a, b = by_register[index]
    others = [f"v{i}" for i in range(1, 4) if f"v{i}" not in (a, b)][:2]
    history = [imported(i, who, f"2026-02-26T10:{i:02d}:00Z", "VISIT")
               for i, who in enumerate([a, *others])]
    history += [imported(50 + i, who, f"2026-02-27T10:{i:02d}:00Z", "VISIT")
                for i, who in enumerate([b, *others])]
    assert all((await api.data(IMPORT, {"e": history}, key=shop["key"]))["importEvents"])
    for _ in range(2):  # the first writes the dense sketches, the second reads them
        data = await ask(api, STATS, shop["key"], **SPAN)
        assert data["stats"]["totals"]["visitors"] == 4
    if platform.settings.analytics_rollups:
        assert all("dense" in d for d in await _day_docs(platform))


async def test_a_visitor_counted_late_into_a_dense_day_is_in_the_totals(
        api: Api, shop: dict, platform: Platform, dense_from_three: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folds, "PUSH_LIMIT", 5)
    await _import(api, shop["key"], DAYS)
    await ask(api, STATS, shop["key"], **SPAN)  # the days' dense sketches written
    await _import(api, shop["key"], {"2026-02-26": range(40, 42)}, base=5000)
    data = await ask(api, STATS, shop["key"], **SPAN)
    assert [b["visitors"] for b in data["stats"]["buckets"]] == [14, 12]
    assert data["stats"]["totals"]["visitors"] == 20
    if platform.settings.analytics_rollups:  # and the stale sketch made again
        assert [d["dense"]["visitors"]["n"] for d in await _day_docs(platform)] == [14, 12]


async def test_a_dense_write_after_a_visitor_was_counted_since_the_read_misses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "DENSE_FROM", 1)
    platform = await fresh()
    await track_evening(platform)
    platform.clock.advance(hours=12)  # the first day closed
    cut = buckets(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC), "DAY")
    reader = reports.Reader(platform.storage, SHOP)
    whole = reports.cover(cut.span)
    await reader.load(whole, cut.span, reports.Reader.in_unions([whole], SHOP))
    # A visitor's event of the first day lands and is folded between the read and the write.
    late = event("vd", 1, EventType.VISIT)
    late.context.occurred_at = datetime(2026, 3, 1, 23, 50, tzinfo=UTC)
    answered(await tracking.track(platform, [late], importing=True))
    await analytics.fold(platform.storage, platform.clock.now())
    await reader.complete([whole], platform.clock.now())
    day = await platform.storage.rollups.find_one(
        {"_id": f"{SHOP}:d:{to_ms(datetime(2026, 3, 1, tzinfo=UTC))}"})
    assert day["n"]["visitors"] == 3
    assert "dense" not in day  # the sketch of two visitors was not written over three
    await assert_rollups_equal_recount(platform, SHOP, RANGES)
    assert (await platform.storage.rollups.find_one({"_id": day["_id"]}))["dense"] == {
        "visitors": {"n": 3, "r": Dense.of(day["hv"]).pack()},
        "identifiedVisitors": {"n": 1, "r": Dense.of(day["hi"]).pack()}}
    await platform.stop()


async def test_a_failed_dense_write_leaves_the_answers_to_the_raw_events(
        dense_from_three: None) -> None:
    platform = await fresh()
    await track_evening(platform)
    platform.clock.advance(hours=30)

    def fail_writes(collection: str) -> None:
        if collection == "rollups" and failing["on"]:
            failing["on"] = False
            raise AutoReconnect("the primary stepped down")

    failing = {"on": False}
    platform.storage.trips.before_call = fail_writes
    original = reports.Reader._keep_dense

    async def keep_dense(self: reports.Reader, ids: list[str]) -> None:
        failing["on"] = bool(ids)
        await original(self, ids)

    reports.Reader._keep_dense = keep_dense  # type: ignore[method-assign]
    try:
        await assert_rollups_equal_recount(platform, SHOP, RANGES)
    finally:
        reports.Reader._keep_dense = original  # type: ignore[method-assign]
        platform.storage.trips.before_call = None
    assert not any("dense" in d for d in await _day_docs(platform))
    await assert_rollups_equal_recount(platform, SHOP, RANGES)  # written now
    assert any("dense" in d for d in await _day_docs(platform))
    await platform.stop()


# -- the closing worker -----------------------------------------------------------------


@pytest.fixture
def rollups_on(platform: Platform) -> None:
    if not platform.settings.analytics_rollups:
        pytest.skip("the closing worker reads rollups: the recount has none")


async def _closed_days(api: Api, shop: dict, platform: Platform) -> None:
    """DAYS imported and folded; the clock ten minutes into the day after them."""
    await _import(api, shop["key"], DAYS)
    platform.clock.set(datetime(2026, 2, 28, 0, 10, tzinfo=UTC))  # type: ignore[attr-defined]
    await analytics.fold(platform.storage, platform.clock.now())


async def test_the_closing_worker_writes_busy_days_sketches_before_any_report(
        api: Api, shop: dict, platform: Platform, rollups_on: None,
        dense_from_three: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folds, "PUSH_LIMIT", 5)  # the union of 18 is estimated
    await _closed_days(api, shop, platform)
    assert await analytics.keep_dense(platform.storage, platform.clock.now()) == 2
    days = await _day_docs(platform)
    assert [d["dense"]["visitors"]["n"] for d in days] == [12, 12]
    assert all(d["dense"]["visitors"]["r"] == Dense.of(d["hv"]).pack() for d in days)
    written: list[list[str]] = []
    original = reports.Reader._keep_dense

    async def keep_dense(self: reports.Reader, ids: list[str]) -> None:
        written.append(ids)
        await original(self, ids)

    monkeypatch.setattr(reports.Reader, "_keep_dense", keep_dense)
    data = await ask(api, STATS, shop["key"], **SPAN)
    assert data["stats"]["totals"]["visitors"] == 18
    assert written and not any(written)  # the report had none left to write
    # Done once: the next look finds nothing to write.
    assert await analytics.keep_dense(platform.storage, platform.clock.now()) == 0


async def test_the_closing_worker_leaves_open_unsettled_and_quiet_buckets_alone(
        api: Api, shop: dict, platform: Platform, rollups_on: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "DENSE_FROM", 13)  # the days have 12 visitors each
    await _closed_days(api, shop, platform)
    assert await analytics.keep_dense(platform.storage, platform.clock.now()) == 0
    monkeypatch.setattr(reports, "DENSE_FROM", 3)
    for at, written, dense in [(datetime(2026, 2, 27, 23, 0), 1, [True, False]),  # 27th open
                               (datetime(2026, 2, 28, 0, 5), 0, [True, False]),  # unsettled
                               (datetime(2026, 2, 28, 0, 10), 1, [True, True])]:
        platform.clock.set(at.replace(tzinfo=UTC))  # type: ignore[attr-defined]
        assert await analytics.keep_dense(platform.storage, platform.clock.now()) == written
        assert ["dense" in d for d in await _day_docs(platform)] == dense


async def test_the_closing_worker_writes_busy_hours_too(
        api: Api, shop: dict, platform: Platform, rollups_on: None, dense_from_three: None
) -> None:
    await _closed_days(api, shop, platform)
    platform.clock.set(datetime(2026, 2, 27, 12, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    assert await analytics.keep_dense(platform.storage, platform.clock.now()) == 2
    hours = await platform.storage.rollups.find({"kind": "h", "dense": {"$exists": True}}
                                                ).to_list(None)
    assert [(h["at"].replace(tzinfo=UTC), h["dense"]["visitors"]["n"]) for h in hours] == [
        (datetime(2026, 2, 27, 10, 0, tzinfo=UTC), 12)]  # the 26th's hour is too old
    assert ["dense" in d for d in await _day_docs(platform)] == [True, False]


async def test_the_closing_worker_writes_every_shops_but_one_being_rebuilt(
        api: Api, shop: dict, platform: Platform, rollups_on: None, dense_from_three: None
) -> None:
    await _closed_days(api, shop, platform)
    rollups = platform.storage.rollups
    for doc in await rollups.find({"shopId": SHOP, "kind": "d"}).to_list(None):  # shop 2's
        await rollups.insert_one({**doc, "_id": doc["_id"].replace(f"{SHOP}:", "2:", 1),
                                  "shopId": 2})
    now = platform.clock.now()
    await leases.take(platform.storage, SHOP, "a rebuild", now)
    assert await analytics.keep_dense(platform.storage, now) == 2
    written = await rollups.find({"dense": {"$exists": True}}).to_list(None)
    assert {(d["shopId"], d["dense"]["visitors"]["n"]) for d in written} == {(2, 12)}
    assert len(written) == 2
    await leases.release(platform.storage, SHOP, "a rebuild")
    assert await analytics.keep_dense(platform.storage, now) == 2  # shop 1's now


async def test_a_visitor_counted_while_the_closing_worker_writes_makes_its_write_miss(
        api: Api, shop: dict, platform: Platform, rollups_on: None, dense_from_three: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await _closed_days(api, shop, platform)
    rollups = platform.storage.rollups
    write = rollups.bulk_write
    raced = {"done": False}

    async def late_visitor_first(ops: list[Any], **kwargs: Any) -> Any:
        if not raced["done"]:  # the worker's write: a late visitor folded just before it
            raced["done"] = True
            await _import(api, shop["key"], {"2026-02-26": range(40, 41)}, base=5000)
            await analytics.fold(platform.storage, platform.clock.now())
        return await write(ops, **kwargs)

    monkeypatch.setattr(rollups, "bulk_write", late_visitor_first)
    await analytics.keep_dense(platform.storage, platform.clock.now())
    first, second = await _day_docs(platform)
    assert first["n"]["visitors"] == 13 and "dense" not in first  # missed: 12 were read
    assert second["dense"]["visitors"]["n"] == 12
    data = await ask(api, STATS, shop["key"], **SPAN)
    assert [b["visitors"] for b in data["stats"]["buckets"]] == [13, 12]
    assert data["stats"]["totals"]["visitors"] == 19
    assert (await _day_docs(platform))[0]["dense"]["visitors"]["n"] == 13  # the report's


async def test_a_failed_closing_write_changes_no_answer(
        api: Api, shop: dict, platform: Platform, rollups_on: None, dense_from_three: None
) -> None:
    await _closed_days(api, shop, platform)
    calls: list[str] = []

    def fail_the_write(collection: str) -> None:  # the worker reads, then writes
        if collection == "rollups":
            calls.append(collection)
            if len(calls) == 3:  # the days' write (the hours' read, the days' read first)
                raise AutoReconnect("the primary stepped down")

    platform.storage.trips.before_call = fail_the_write
    try:
        assert await analytics.keep_dense(platform.storage, platform.clock.now()) == 0
    finally:
        platform.storage.trips.before_call = None
    assert len(calls) == 3
    assert not any("dense" in d for d in await _day_docs(platform))
    data = await ask(api, STATS, shop["key"], **SPAN)
    assert data["stats"]["totals"]["visitors"] == 18
    assert await analytics.keep_dense(platform.storage, platform.clock.now()) == 0  # the report's
    assert all("dense" in d for d in await _day_docs(platform))


def test_the_busy_index_holds_every_bucket_the_closing_worker_asks_for() -> None:
    # MongoDB uses a partial index only for a query within its filter: the worker asks for
    # `n.visitors >= DENSE_FROM`, so the index must hold those from DENSE_FROM on.
    from app.indexes import INDEXES

    busy = next(m.document for m in INDEXES["rollups"] if m.document["name"] == "rollups_busy")
    assert busy["key"] == {"kind": 1, "at": 1}
    assert busy["partialFilterExpression"] == {"n.visitors": {"$gte": reports.DENSE_FROM}}


@pytest.mark.parametrize("rollups", [True, False])
def test_the_closing_worker_runs_with_the_rollups_only(
        platform: Platform, monkeypatch: pytest.MonkeyPatch, rollups: bool) -> None:
    import dataclasses

    from app.server.workers import Workers

    monkeypatch.setattr(platform, "settings",
                        dataclasses.replace(platform.settings, analytics_rollups=rollups))
    names = {name for name, _, _ in Workers(platform).jobs()}
    assert {"traffic rollups", "closed buckets"} & names == (
        {"traffic rollups", "closed buckets"} if rollups else set())
