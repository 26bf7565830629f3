"""Abandoned browse and abandoned category view (CONTRACT.md section 7), on a FakeClock.

Events go through the GraphQL API; the worker's tick is `fire_due_sessions`,
called as the worker would; what fired is read back through `Query.triggers`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.abandonment.browse_worker import due_query, fire_due_sessions
from app.core.clock import FakeClock, to_ms
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking
from tests.support.api import Api
from tests.support.rule_helpers import (
    create_rule,
    default_id,
    listed,
    login,
    set_delay,
    track,
    update_rule,
    view,
    view_category,
)

BROWSE, CATEGORY = "ABANDONED_BROWSE", "ABANDONED_CATEGORY"
QUIET = 60  # the rules' delay in most tests; the session timeout stays 1800


@pytest.fixture
async def key(api: Api, shop: dict[str, Any]) -> str:
    await set_delay(api, shop["key"], BROWSE, QUIET)
    await set_delay(api, shop["key"], CATEGORY, QUIET)
    return str(shop["key"])


async def tick(platform: Platform) -> int:
    return await fire_due_sessions(platform)


async def test_a_customer_who_viewed_products_and_left_gets_one_abandoned_browse(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    key = shop["key"]  # the default rules: 1800 s of quiet
    # An earlier visit: socks-1 bought, so the customer cares about it most.
    await login(api, "v1", "alice")
    await track(api, "CART_ADD", "v1", categoryId="socks", productId="socks-1")
    await track(api, "CHECKOUT", "v1", orderId="o1")
    clock.advance(hours=5)
    first = await view(api, "v1", "shoe-1")
    await view(api, "v1", "shoe-2")
    await view(api, "v1", "shoe-2")
    last = await view(api, "v1", "socks-1", category="socks")
    assert first["sessionId"] == last["sessionId"]
    clock.advance(seconds=1799)
    assert await tick(platform) == 0
    clock.advance(seconds=1)
    assert await tick(platform) == 1
    [fired] = await listed(api, key, BROWSE)
    assert fired["triggerId"] == f"1:{first['sessionId']}:{default_id(BROWSE)}"
    assert (fired["ruleId"], fired["userId"], fired["visitorId"]) == (
        default_id(BROWSE), "alice", "v1")
    assert fired["categoryId"] == "shoes"  # 3 views of shoes, 1 of socks
    products = fired["products"]
    assert [p["productId"] for p in products] == ["socks-1", "shoe-2", "shoe-1"]
    assert products[0]["purchases"] == 1 and products[1]["views"] == 2
    assert products[0]["score"] > products[1]["score"] > products[2]["score"] > 0
    clock.advance(hours=3)
    assert await tick(platform) == 0  # once per session
    assert len(await listed(api, key, BROWSE, CATEGORY)) == 1


async def test_at_most_ten_products_the_most_interesting_first(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    await login(api, "v1", "bob")
    for n in range(12):
        for _ in range(n % 3 + 1):
            await view(api, "v1", f"p{n:02}")
    clock.advance(seconds=QUIET)
    assert await tick(platform) == 1
    [fired] = await listed(api, key, BROWSE)
    ids = [p["productId"] for p in fired["products"]]
    assert len(ids) == 10
    assert ids[:4] == ["p02", "p05", "p08", "p11"]  # viewed three times
    scores = [p["score"] for p in fired["products"]]
    assert scores == sorted(scores, reverse=True)


async def test_categories_without_a_product_fire_abandoned_category_latest_most_viewed(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    await login(api, "v1", "carol")
    for category in ("hats", "bags", "hats", "bags", "belts"):
        await view_category(api, "v1", category)
        clock.advance(seconds=1)
    clock.advance(seconds=QUIET - 1)
    assert await tick(platform) == 1
    [fired] = await listed(api, key, BROWSE, CATEGORY)
    assert (fired["type"], fired["ruleId"]) == (CATEGORY, default_id(CATEGORY))
    assert fired["categoryId"] == "bags"  # two views each; bags was viewed last
    assert fired["products"] is None


async def test_what_a_session_did_decides_browse_category_or_nothing(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    for visitor in ("v1", "v2", "v3", "v4", "v5"):
        await login(api, visitor, f"u-{visitor}")
    await view_category(api, "v1", "hats")
    await view(api, "v1", "hat-1", category="hats")  # a product too: browse, not category
    await view(api, "v2", "hat-2", category="hats")
    await track(api, "CART_ADD", "v2", categoryId="hats", productId="hat-2")  # not browse
    await view(api, "v3", "hat-3", category="hats")
    await track(api, "CHECKOUT", "v3", orderId="o3")
    await view_category(api, "v4", "hats")
    await track(api, "CART_ADD", "v4", categoryId="hats", productId="hat-4")
    await track(api, "SECTION_VIEW", "v5", pageName="about")  # viewed nothing: nothing
    clock.advance(seconds=QUIET)
    assert await tick(platform) == 1
    fired = await listed(api, key, BROWSE, CATEGORY)
    assert [(t["type"], t["userId"]) for t in fired] == [(BROWSE, "u-v1")]
    assert fired[0]["categoryId"] == "hats"
    clock.advance(hours=2)
    assert await tick(platform) == 0


async def test_a_late_event_moves_the_quiet_time_and_nothing_fires_twice(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    await login(api, "v1", "dave")
    session = (await view(api, "v1", "p1"))["sessionId"]
    clock.advance(seconds=QUIET - 5)
    await view(api, "v1", "p2")  # still browsing: the quiet time starts again
    clock.advance(seconds=10)
    assert await tick(platform) == 0
    clock.advance(seconds=QUIET - 10)
    assert await tick(platform) == 1
    # The session goes on after it fired: it is due again later, but fired once.
    clock.advance(seconds=30)
    assert (await view(api, "v1", "p3"))["sessionId"] == session
    clock.advance(seconds=QUIET)
    assert await tick(platform) == 0
    # Due, not yet fired, and then a late event: one trigger after the new quiet time.
    await login(api, "w1", "erin")
    await view(api, "w1", "p1")
    clock.advance(seconds=QUIET + 5)
    await view(api, "w1", "p9")
    assert await tick(platform) == 0
    clock.advance(seconds=QUIET)
    assert await tick(platform) == 1
    fired = await listed(api, key, BROWSE)
    assert [t["userId"] for t in fired] == ["dave", "erin"]
    assert {p["productId"] for p in fired[0]["products"]} == {"p1", "p2"}
    assert {p["productId"] for p in fired[1]["products"]} == {"p1", "p9"}


async def test_a_cart_add_after_due_is_too_late_to_stop_it_but_a_cart_add_before_is_not(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    await login(api, "v1", "fay")
    await view(api, "v1", "p1")
    clock.advance(seconds=QUIET - 1)
    await track(api, "CART_ADD", "v1", categoryId="shoes", productId="p1")
    clock.advance(hours=1)
    assert await tick(platform) == 0
    assert await listed(api, key, BROWSE) == []


async def test_an_anonymous_session_fires_once_its_visitor_is_identified_if_still_due(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    old = (await view(api, "anon", "p1"))["sessionId"]
    await view(api, "anon", "p2", category="bags")
    clock.advance(seconds=QUIET * 2)
    assert await tick(platform) == 0  # nobody to write to yet
    clock.advance(hours=1)  # a new session, in which the visitor logs in
    assert (await login(api, "anon", "gus"))["sessionId"] != old
    assert await tick(platform) == 1  # due long ago: at once
    [fired] = await listed(api, key, BROWSE)
    assert fired["triggerId"] == f"1:{old}:{default_id(BROWSE)}"
    assert (fired["userId"], fired["visitorId"]) == ("gus", "anon")
    assert [p["productId"] for p in fired["products"]] == ["p1", "p2"]
    assert fired["products"][0]["views"] == 1  # the filed history counts for gus now
    clock.advance(hours=2)
    assert await tick(platform) == 0
    # Identified in the session itself: the login is an event, so the quiet time restarts.
    await view(api, "anon2", "p1")
    clock.advance(seconds=QUIET + 1)
    await login(api, "anon2", "hal")
    assert await tick(platform) == 0
    clock.advance(seconds=QUIET)
    assert await tick(platform) == 1
    # An anonymous session that added to the cart is no abandoned browse, identified or not.
    await view(api, "anon3", "p1")
    await track(api, "CART_ADD", "anon3", categoryId="shoes", productId="p1")
    clock.advance(hours=1)
    await login(api, "anon3", "ida")
    clock.advance(hours=1)
    assert await tick(platform) == 0
    assert [t["userId"] for t in await listed(api, key, BROWSE)] == ["gus", "hal"]


async def test_a_session_closed_before_its_delay_still_fires(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    key = shop["key"]
    await set_delay(api, key, BROWSE, 7200)  # longer than the 1800 s session timeout
    await login(api, "v1", "jo")
    first = (await view(api, "v1", "p1"))["sessionId"]
    clock.advance(hours=1)
    second = (await view(api, "v1", "p2"))["sessionId"]
    assert first != second
    clock.advance(seconds=3600)
    assert await tick(platform) == 1
    clock.advance(seconds=3600)
    assert await tick(platform) == 1
    fired = await listed(api, key, BROWSE)
    assert [t["triggerId"] for t in fired] == [
        f"1:{first}:{default_id(BROWSE)}", f"1:{second}:{default_id(BROWSE)}"]
    assert [[p["productId"] for p in t["products"]] for t in fired] == [["p1"], ["p2"]]


async def test_sessions_of_a_backfilled_batch_each_fire(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    def at(hours: float) -> str:
        return (clock.now() - timedelta(hours=hours)).isoformat()

    context = {"shopId": 1, "visitorId": "v1"}
    events = [
        {"type": "LOGIN", "context": {**context, "occurredAt": at(5)}, "userId": "kim"},
        {"type": "PRODUCT_VIEW", "context": {**context, "occurredAt": at(5)},
         "categoryId": "shoes", "productId": "p1"},
        {"type": "CATEGORY_VIEW", "context": {**context, "occurredAt": at(3)},
         "categoryId": "bags"},
        {"type": "PRODUCT_VIEW", "context": {**context, "occurredAt": at(1)},
         "categoryId": "hats", "productId": "p2"},
    ]
    await api.data("mutation($e: [TrackInput!]!) { importEvents(shopId: 1, events: $e) "
                   "{ sessionId } }", {"e": events}, key=key)
    assert await tick(platform) == 3
    fired = await listed(api, key, BROWSE, CATEGORY)
    assert sorted((t["type"], t["categoryId"]) for t in fired) == [
        (BROWSE, "hats"), (BROWSE, "shoes"), (CATEGORY, "bags")]


async def test_rules_choose_by_category_and_each_fires_its_own_trigger(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    socks = await create_rule(api, key, type=BROWSE, title="Socks", match=["socks"],
                              delaySeconds=QUIET * 2)
    soon = await create_rule(api, key, type=BROWSE, delaySeconds=QUIET // 2)
    await update_rule(api, key, default_id(BROWSE), type=BROWSE, enabled=False)
    await login(api, "v1", "lea")
    session = (await view(api, "v1", "sock-1", category="socks"))["sessionId"]
    await login(api, "v2", "max")
    await view(api, "v2", "shoe-1")
    clock.advance(seconds=QUIET // 2)
    assert await tick(platform) == 2  # `soon`, for both
    clock.advance(seconds=QUIET)
    assert await tick(platform) == 0
    clock.advance(seconds=QUIET // 2)
    assert await tick(platform) == 1  # `socks`, only for the socks session
    fired = await listed(api, key, BROWSE)
    assert [(t["ruleId"], t["userId"]) for t in fired][-1] == (socks["ruleId"], "lea")
    assert sorted((t["ruleId"], t["userId"]) for t in fired[:2]) == [
        (soon["ruleId"], "lea"), (soon["ruleId"], "max")]
    assert fired[-1]["triggerId"] == f"1:{session}:{socks['ruleId']}"
    clock.advance(hours=3)
    assert await tick(platform) == 0


async def test_a_cap_keeps_a_customer_to_one_trigger_of_the_rule_in_its_window(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    await update_rule(api, key, default_id(BROWSE), type=BROWSE, capSeconds=3600)
    await login(api, "v1", "ned")
    sessions = []
    for _ in range(3):  # three sessions, each abandoned, 31 minutes apart
        sessions.append((await view(api, "v1", "p1"))["sessionId"])
        clock.advance(seconds=QUIET)
        await tick(platform)
        clock.advance(seconds=1800)
    # The first fired at 1 min, the second (at 32 min) within the hour, the third (at
    # 63 min) after it.
    fired = await listed(api, key, BROWSE)
    assert [t["triggerId"] for t in fired] == [
        f"1:{sessions[0]}:{default_id(BROWSE)}", f"1:{sessions[2]}:{default_id(BROWSE)}"]


def browsing(visitor: str, user: str, at: datetime | None) -> list[EventInput]:
    """A customer's session that views one product: a batch as the tracker sends it."""
    def context() -> Context:
        return Context(shop_id=1, visitor_id=visitor, occurred_at=at)

    return [EventInput(type=EventType.LOGIN, context=context(), user_id=user),
            EventInput(type=EventType.PRODUCT_VIEW, context=context(), category_id="shoes",
                       product_id=f"p-{user}")]


async def abandon(platform: Platform, prefix: str, count: int,
                  at: datetime | None = None) -> None:
    """`count` customers browse, at `at` (default: now), each in a session of its own."""
    await asyncio.gather(*(tracking.track(platform, browsing(f"{prefix}{n}", f"{prefix}u{n}", at))
                           for n in range(count)))


async def tick_cost(platform: Platform) -> tuple[int, int]:
    await platform.rules.ruleset(await platform.shops.require(1))  # cached for seconds
    platform.storage.trips.reset()
    fired = await tick(platform)
    return fired, platform.storage.trips.total


async def test_the_worker_finds_due_sessions_by_index_at_a_cost_independent_of_sessions_kept(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    costs = []
    for kept in (10, 1000):
        await abandon(platform, f"kept{kept}-", kept)  # open, not due yet
        await abandon(platform, f"due{kept}-", 5, at=clock.now() - timedelta(seconds=QUIET))
        fired, trips = await tick_cost(platform)
        idle = await tick_cost(platform)
        assert (fired, idle[0]) == (5, 0)
        costs.append((trips, idle[1]))
    assert costs[0] == costs[1], f"round trips per tick grew with sessions kept: {costs}"
    # Due: find, read interests, store the triggers, settle, then find closed ones (none).
    assert costs[0] == (5, 2)
    query = due_query(to_ms(clock.now()))
    assert await platform.storage.visitors.count_documents(query) == 0
    if platform.storage.real_mongodb:
        for collection in (platform.storage.visitors, platform.storage.sessions):
            plan = await collection.raw.find(query).explain()
            assert "abandonment_due" in str(plan["queryPlanner"]["winningPlan"])


async def test_two_processes_fire_each_due_session_exactly_once(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    other = await Platform.start(platform.settings, clock=clock, storage=platform.storage)
    try:
        await abandon(platform, "v", 200)
        clock.advance(seconds=QUIET)
        fired = await asyncio.gather(tick(platform), tick(other), tick(platform), tick(other))
        assert sum(fired) == 200
        assert await asyncio.gather(tick(platform), tick(other)) == [0, 0]
    finally:
        await other.stop()
    stored = await listed(api, key, BROWSE)
    assert sorted(t["userId"] for t in stored) == sorted(f"vu{n}" for n in range(200))


async def test_a_crash_between_storing_and_settling_does_not_fire_twice(
    api: Api, key: str, platform: Platform, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await abandon(platform, "v", 3)
    clock.advance(seconds=QUIET)

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the process died here")

    with monkeypatch.context() as patch:
        # The tick's only bulk write to the visitors is the one settling the sessions.
        patch.setattr(type(platform.storage.visitors.raw), "bulk_write", crash)
        with pytest.raises(ConnectionError):
            await tick(platform)
    assert len(await listed(api, key, BROWSE)) == 3  # stored
    assert await tick(platform) == 0  # found again, but fired already
    assert await platform.storage.visitors.count_documents(
        due_query(to_ms(clock.now()))) == 0
    assert len(await listed(api, key, BROWSE)) == 3


async def test_the_readme_example(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    key = shop["key"]
    rule = await create_rule(api, key, type=BROWSE, title="Shoes, 1 h", match=["shoes"],
                             delaySeconds=3600, capSeconds=604800)
    clock.set(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    session = (await login(api, "b7Kq2", "alice"))["sessionId"]
    assert session == "b7Kq2.1772359200000"
    for minute, product, category in ((1, "sku-1", "shoes"), (2, "sku-7", "socks"),
                                      (3, "sku-2", "shoes"), (4, "sku-2", "shoes")):
        clock.set(datetime(2026, 3, 1, 10, minute, tzinfo=UTC))
        await view(api, "b7Kq2", product, category)
    clock.set(datetime(2026, 3, 1, 10, 34, tzinfo=UTC))
    assert await tick(platform) == 1
    clock.set(datetime(2026, 3, 1, 11, 3, 59, tzinfo=UTC))
    assert await tick(platform) == 0
    clock.set(datetime(2026, 3, 1, 11, 4, tzinfo=UTC))
    assert await tick(platform) == 1
    default, mine = await listed(api, key, BROWSE)
    assert default["ruleId"] == default_id(BROWSE)
    assert mine["triggerId"] == f"1:b7Kq2.1772359200000:{rule['ruleId']}"
    assert (mine["userId"], mine["visitorId"], mine["categoryId"]) == ("alice", "b7Kq2", "shoes")
    assert [(p["productId"], p["categoryId"], round(p["score"], 1), p["views"])
            for p in mine["products"]] == [
        ("sku-2", "shoes", 4.0, 2), ("sku-7", "socks", 2.0, 1), ("sku-1", "shoes", 2.0, 1)]


async def test_sessions_past_the_anonymous_history_do_not_fire_at_identification(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    await view(api, "anon", "p1")  # day 0: not filed at a login on day 61
    clock.advance(days=30)
    recent = (await view(api, "anon", "p2"))["sessionId"]
    clock.advance(days=31)
    await login(api, "anon", "olga")
    assert await tick(platform) == 1
    [fired] = await listed(api, key, BROWSE)
    assert fired["triggerId"] == f"1:{recent}:{default_id(BROWSE)}"
    assert [p["productId"] for p in fired["products"]] == ["p2"]


async def test_a_forgotten_customer_leaves_no_session_to_fire_and_no_cap(
    api: Api, key: str, platform: Platform, clock: FakeClock
) -> None:
    await update_rule(api, key, default_id(BROWSE), type=BROWSE, capSeconds=86400)
    await login(api, "v1", "pat")
    await view(api, "v1", "p1")
    clock.advance(seconds=QUIET)
    assert await tick(platform) == 1
    await view(api, "v1", "p2")  # a second session's worth, waiting
    assert await platform.storage.triggerCaps.count_documents({"userId": "pat"}) == 1
    forgotten = await api.data('mutation { forgetCustomer(shopId: 1, userId: "pat") }', key=key)
    assert forgotten["forgetCustomer"] is True
    clock.advance(hours=3)
    assert await tick(platform) == 0
    assert await platform.storage.triggerCaps.count_documents({}) == 0
    visitor = await platform.storage.visitors.find_one({"_id": "1:v1"})
    assert not {"wP", "wC", "wX", "wDueMs"} & set(visitor)
