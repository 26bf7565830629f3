"""Retention: anonymous events older than the shop's window are deleted; filed ones stay."""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from app import analytics
from app.backends import folds
from app.core import PENDING_EXPIRY
from app.core.clock import FakeClock, utc
from app.identity.retention import expire_anonymous
from app.indexes import INDEXES
from app.platform import Platform
from app.server.workers import Workers
from tests.support.api import Api
from tests.support.faults import refuse_apply_for_shop
from tests.support.ttl import mongodb_ttl_monitor, read_by_both_folds

VIEW = """mutation($c: TrackContext!) {
  viewProduct(context: $c, categoryId: "c1", productId: "p1") { eventId } }"""
LOGIN = "mutation($c: TrackContext!) { login(context: $c, userId: \"alice\") { userId } }"
STATS = ("query($f: DateTime!, $t: DateTime!) { stats(shopId: 1, from: $f, to: $t) "
         "{ totals { productViews categoryViews visitors } } }")
EVENTS = """query($v: String!) { events(shopId: 1, visitorId: $v) { nodes { eventId userId } } }"""


def ctx(visitor: str, event_id: str | None = None, **more: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"shopId": 1, "visitorId": visitor, **more}
    if event_id:
        c["eventId"] = event_id
    return c


async def view(api: Api, visitor: str, event_id: str) -> None:
    await api.data(VIEW, {"c": ctx(visitor, event_id)})


async def event_ids(api: Api, shop: dict, visitor: str) -> set[str]:
    data = await api.data(EVENTS, {"v": visitor}, key=shop["key"])
    return {e["eventId"] for e in data["events"]["nodes"]}


async def test_old_anonymous_events_are_deleted_and_filed_ones_kept(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    await view(api, "anon", "a1")
    await view(api, "known", "k1")
    await api.data(LOGIN, {"c": ctx("known", "k2")})
    clock.advance(days=61)

    assert await expire_anonymous(platform) == 1
    assert await event_ids(api, shop, "anon") == set()
    assert await event_ids(api, shop, "known") == {"k1", "k2"}


async def test_anonymous_events_within_the_window_are_kept(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    await view(api, "anon", "a1")
    clock.advance(days=59)
    await view(api, "anon", "a2")
    assert await expire_anonymous(platform) == 0
    clock.advance(days=2)  # a1 is 61 days old, a2 two days
    assert await expire_anonymous(platform) == 1
    assert await event_ids(api, shop, "anon") == {"a2"}


async def test_events_of_an_identified_visitor_never_expire(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    await api.data(LOGIN, {"c": ctx("known")})
    await view(api, "known", "k1")
    clock.advance(days=400)
    assert await expire_anonymous(platform) == 0
    assert "k1" in await event_ids(api, shop, "known")


async def test_imported_old_events_are_deleted_and_not_filed(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    old = (clock.now() - timedelta(days=70)).isoformat()
    await api.data(
        "mutation($e: [TrackInput!]!) { importEvents(shopId: 1, events: $e) { eventId } }",
        {"e": [{"type": "PRODUCT_VIEW", "categoryId": "c1", "productId": "p1",
                "context": ctx("v1", "seventy", occurredAt=old)}]}, key=shop["key"])
    assert await expire_anonymous(platform) == 1
    await api.data(LOGIN, {"c": ctx("v1", "in")})
    assert await event_ids(api, shop, "v1") == {"in"}


async def test_retention_follows_the_shops_window(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    await api.data("mutation { updateShopSettings(shopId: 1, settings: "
                   "{anonymousHistoryDays: 7}) { shopId } }", key=shop["key"])
    await view(api, "anon", "a1")
    clock.advance(days=6)
    assert await expire_anonymous(platform) == 0
    clock.advance(days=2)
    assert await expire_anonymous(platform) == 1
    assert await event_ids(api, shop, "anon") == set()


async def test_retention_of_one_shop_leaves_another_shops_events(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    other = await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    await api.data("mutation { updateShopSettings(shopId: 2, settings: "
                   "{anonymousHistoryDays: 90}) { shopId } }",
                   key=other["createShop"]["apiKey"])
    await view(api, "v1", "in-1")
    await api.data(VIEW, {"c": {"shopId": 2, "visitorId": "v1", "eventId": "in-2"}})
    clock.advance(days=61)
    assert await expire_anonymous(platform) == 1
    data = await api.data('{ events(shopId: 2) { nodes { eventId } } }',
                          key=other["createShop"]["apiKey"])
    assert data["events"]["nodes"] == [{"eventId": "in-2"}]


async def test_the_server_runs_retention_in_the_background(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    await view(api, "anon", "a1")
    clock.advance(days=61)
    workers = Workers(platform)
    workers.start()
    try:
        for _ in range(500):  # the first run starts at once; wait for it, not for a time
            if not await event_ids(api, shop, "anon"):
                break
            await asyncio.sleep(0.01)
    finally:
        await workers.stop()
    assert await event_ids(api, shop, "anon") == set()


def test_ttl_index_deletes_expired_events_on_mongodb() -> None:
    [ttl] = [m.document for m in INDEXES["events"] if m.document["name"] == "retention_ttl"]
    assert ttl["key"] == {"expireAt": 1}
    assert ttl["expireAfterSeconds"] == 0


async def test_ttl_index_exists_on_a_real_mongodb(platform: Platform) -> None:
    if not platform.storage.real_mongodb:
        pytest.skip("needs TRACKER_TEST_MONGODB_URL (a real MongoDB)")
    info = await platform.storage.db["events"].index_information()
    assert info["retention_ttl"]["key"] == [("expireAt", 1)]
    assert info["retention_ttl"]["expireAfterSeconds"] == 0


async def test_shortening_the_window_applies_to_stored_events(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    await view(api, "anon", "a1")
    clock.advance(days=8)
    await api.data("mutation { updateShopSettings(shopId: 1, settings: "
                   "{anonymousHistoryDays: 7}) { shopId } }", key=shop["key"])
    assert await expire_anonymous(platform) == 1
    assert await event_ids(api, shop, "anon") == set()


async def test_lengthening_the_window_keeps_stored_events_longer(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    await view(api, "anon", "a1")
    await api.data("mutation { updateShopSettings(shopId: 1, settings: "
                   "{anonymousHistoryDays: 90}) { shopId } }", key=shop["key"])
    clock.advance(days=61)
    assert await expire_anonymous(platform) == 0
    await api.data(LOGIN, {"c": ctx("anon")})
    assert "a1" in await event_ids(api, shop, "anon")
    [event] = [e for e in (await api.data(EVENTS, {"v": "anon"}, key=shop["key"]))
               ["events"]["nodes"] if e["eventId"] == "a1"]
    assert event["userId"] == "alice"


async def stamps(platform: Platform) -> dict[str, timedelta]:
    """Each stored anonymous event's expireAt - occurredAt, by event id, once read."""
    await read_by_both_folds(platform)
    docs = await platform.storage.events.find({"shopId": 1}).to_list(None)
    return {d["eventId"]: utc(d["expireAt"]) - utc(d["occurredAt"]) for d in docs
            if "expireAt" in d}


async def test_anonymous_events_expire_the_shops_window_in_days_after_they_occurred(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    """The stored `expireAt` is what the TTL index deletes by on MongoDB: occurredAt plus
    anonymousHistoryDays days (not hours, not from when it was received)."""
    await view(api, "anon", "now1")
    past = (clock.now() - timedelta(days=3, hours=5)).isoformat()
    await view_at(api, "anon", "past1", past)
    assert await stamps(platform) == {"now1": timedelta(days=60), "past1": timedelta(days=60)}
    await view_at(api, "anon", "uncounted", past)  # not yet counted when the window changes
    await api.data("mutation { updateShopSettings(shopId: 1, settings: "
                   "{anonymousHistoryDays: 7}) { shopId } }", key=shop["key"])
    await view(api, "anon", "now2")
    await view_at(api, "anon", "past2", past)
    assert set((await stamps(platform)).values()) == {timedelta(days=7)}
    docs = await platform.storage.events.find({"eventId": "past2"}).to_list(None)
    assert utc(docs[0]["expireAt"]) == clock.now() - timedelta(days=3, hours=5) + \
        timedelta(days=7)


async def view_at(api: Api, visitor: str, event_id: str, occurred_at: str) -> None:
    await api.data(VIEW, {"c": ctx(visitor, event_id, occurredAt=occurred_at)})


async def test_a_shop_whose_counting_fails_keeps_its_events_and_the_others_expire(
    api: Api, shop: dict, platform: Platform, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.admin('mutation { createShop(name: "Other", shopId: 2) { apiKey } }')
    await view(api, "v1", "in-1")
    await api.data(VIEW, {"c": {"shopId": 2, "visitorId": "v1", "eventId": "in-2"}})
    clock.advance(days=61)
    real = refuse_apply_for_shop(monkeypatch, 2)
    assert await expire_anonymous(platform) == 1  # shop 1's, counted: its counts outlive it
    # Shop 2's event was never counted: it stays until it is.
    assert [e["eventId"] for e in await platform.storage.events.find({}).to_list(None)] \
        == ["in-2"]
    monkeypatch.setattr(folds, "apply", real)
    assert await expire_anonymous(platform) == 1
    assert await platform.storage.events.count_documents({}) == 0


async def test_mongodb_deletes_no_anonymous_event_before_the_rollups_count_it(
    api: Api, shop: dict, platform: Platform, clock: FakeClock
) -> None:
    """An imported anonymous event older than the window expires at once: on MongoDB the
    TTL index may come before the fold, and its count would be lost with it."""
    day = clock.now() - timedelta(days=70)
    await api.data(
        "mutation($e: [TrackInput!]!) { importEvents(shopId: 1, events: $e) { eventId } }",
        {"e": [{"type": "PRODUCT_VIEW", "categoryId": "c1", "productId": "p1",
                "context": ctx("v1", "seventy", occurredAt=day.isoformat())},
               {"type": "CATEGORY_VIEW", "categoryId": "c1",
                "context": ctx("v1", "seventy-c", occurredAt=day.isoformat())}]},
        key=shop["key"])
    assert await mongodb_ttl_monitor(platform.storage, clock.now()) == 0  # not counted yet
    window = {"f": (day - timedelta(days=1)).isoformat(), "t": clock.now().isoformat()}
    totals = {"productViews": 1, "categoryViews": 1, "visitors": 1}
    assert (await api.data(STATS, window, key=shop["key"]))["stats"]["totals"] == totals
    # Counted, and the view read by the co-occurrence: now they go, their counts stay.
    await read_by_both_folds(platform)
    assert await mongodb_ttl_monitor(platform.storage, clock.now()) == 2
    assert (await api.data(STATS, window, key=shop["key"]))["stats"]["totals"] == totals


async def older_version_stamped(platform: Platform, event_id: str) -> None:
    """The event as versions before `pendingExpireAt` left it: its expiry in `expireAt`."""
    await platform.storage.events.update_one(
        {"eventId": event_id}, {"$rename": {PENDING_EXPIRY: "expireAt"}})


async def test_an_uncounted_event_an_older_version_stamped_waits_for_its_count_on_mongodb(
    api: Api, shop: dict, platform: Platform, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retention job moves its expiry aside: the TTL index waits for the rollups
    even while the shop's counting fails. (A category view: no co-occurrence to wait for.)"""
    await api.data('mutation($c: TrackContext!) { viewCategory(context: $c, categoryId: "c1") '
                   "{ eventId } }", {"c": ctx("v1", "older")})
    await older_version_stamped(platform, "older")
    clock.advance(days=61)
    real = refuse_apply_for_shop(monkeypatch, 1)
    assert await expire_anonymous(platform) == 0  # not counted: kept
    assert await mongodb_ttl_monitor(platform.storage, clock.now()) == 0
    monkeypatch.setattr(folds, "apply", real)
    await read_by_both_folds(platform)
    assert await mongodb_ttl_monitor(platform.storage, clock.now()) == 1
    window = {"f": (clock.now() - timedelta(days=62)).isoformat(), "t": clock.now().isoformat()}
    totals = await api.data(STATS, window, key=shop["key"])
    assert totals["stats"]["totals"]["categoryViews"] == 1


async def test_a_view_an_older_version_stamped_waits_for_the_co_occurrence_on_mongodb(
    api: Api, shop: dict, platform: Platform, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted by an older version, which then stamped `expireAt` though the co-occurrence
    fold had not read the view: the retention job moves it aside until the fold has."""
    cooccurrence = importlib.import_module("app.recommendations.fold")
    await view(api, "v1", "older")
    await analytics.fold(platform.storage, clock.now())
    await older_version_stamped(platform, "older")
    clock.advance(days=61)
    real = cooccurrence.write

    async def refusing(collection: Any, shop_id: int, touches: Any) -> None:
        raise OperationFailure("object to update too large", code=10334)

    monkeypatch.setattr(cooccurrence, "write", refusing)
    assert await expire_anonymous(platform) == 0  # not read: kept
    assert await mongodb_ttl_monitor(platform.storage, clock.now()) == 0
    monkeypatch.setattr(cooccurrence, "write", real)
    clock.advance(seconds=cooccurrence.REST_SECONDS)
    await read_by_both_folds(platform)
    [doc] = await platform.storage.events.find({"eventId": "older"}).to_list(None)
    assert "coAt" not in doc  # read
    assert await mongodb_ttl_monitor(platform.storage, clock.now()) == 1
