"""Triggers in the domain: the outbox, following the log, and the abandoned-cart clock.

Time is a FakeClock; the worker's tick is `fire_due`, called as the worker would.
What a user sees is read back through the GraphQL API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import UpdateOne

from app import carts
from app.abandonment.cart_worker import due_query, fire_due
from app.backends.broker import Broker, BrokerUnavailable
from app.core.clock import FakeClock
from app.core.keys import cart_key, owner_of
from app.platform import Platform
from app.recommendations import forget_popular
from app.triggers import model as triggers
from tests.support.api import Api

DELAY = 60
DEADLINE = 10.0

TRIGGERS = """
query($types: [TriggerType!], $after: String, $first: Int) {
  triggers(shopId: 1, types: $types, after: $after, first: $first) {
    nodes { triggerId type userId visitorId name properties
            cart { status items { productId categoryId quantity price } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture
async def delay(api: Api, shop: dict[str, Any]) -> int:
    await api.admin(
        "mutation($s: ShopSettingsInput!) { updateShopSettings(shopId: 1, settings: $s) "
        "{ shopId } }", {"s": {"abandonedCartDelaySeconds": DELAY}})
    return DELAY


async def track(api: Api, type_: str, visitor: str = "v1", **fields: Any) -> dict[str, Any]:
    """One event through the public batch mutation, as the tracker sends it."""
    context: dict[str, Any] = {"shopId": 1, "visitorId": visitor}
    for name in ("eventId", "occurredAt"):
        if name in fields:
            context[name] = fields.pop(name)
    data = await api.data(
        "mutation($e: [TrackInput!]!) { track(events: $e) { eventId duplicate userId } }",
        {"e": [{"type": type_, "context": context, **fields}]})
    return data["track"][0]


async def add(api: Api, visitor: str, product: str, quantity: int = 1,
              price: float = 10.0) -> None:
    await track(api, "CART_ADD", visitor, categoryId="cat", productId=product,
                quantity=quantity, price=price)


async def login(api: Api, visitor: str, user: str) -> None:
    await track(api, "LOGIN", visitor, userId=user)


async def listed(api: Api, shop: dict[str, Any], **variables: Any) -> list[dict[str, Any]]:
    data = await api.data(TRIGGERS, variables, key=shop["key"])
    return data["triggers"]["nodes"]


async def cart_of(api: Api, shop: dict[str, Any], user: str) -> dict[str, Any]:
    data = await api.data(
        "query($u: String) { cart(shopId: 1, userId: $u) { status items { productId } } }",
        {"u": user}, key=shop["key"])
    return data["cart"]


@contextlib.asynccontextmanager
async def listening(broker: Broker, shop_id: int = 1) -> AsyncIterator[list[dict[str, Any]]]:
    """What the broker delivers on the shop's channel, decoded, as it arrives."""
    heard: list[dict[str, Any]] = []
    async with broker.subscribe(triggers.channel(shop_id)) as live:

        async def pump() -> None:
            async for message in live:
                heard.append(triggers.decode(message))

        task = asyncio.create_task(pump())
        try:
            yield heard
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def eventually(condition: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not condition():
        assert loop.time() < end, f"gave up waiting until {what}"
        await asyncio.sleep(0.01)


# -- event triggers and the outbox ---------------------------------------------------


async def test_event_triggers_carry_name_properties_and_order(
    api: Api, shop: dict[str, Any]
) -> None:
    await track(api, "SECTION_VIEW", pageName="sale", properties={"banner": "top"},
                eventId="s1")
    await track(api, "CUSTOM", eventName="newsletter", properties={"list": "weekly"},
                eventId="c1")
    await login(api, "v1", "alice")
    await add(api, "v1", "p1", quantity=2, price=9.5)
    await track(api, "CHECKOUT", orderId="o1", properties={"coupon": "X"})
    # The same events again (a retry): stored once, so fired once.
    assert (await track(api, "SECTION_VIEW", pageName="sale", eventId="s1"))["duplicate"]
    assert (await track(api, "CUSTOM", eventName="newsletter", eventId="c1"))["duplicate"]

    order, custom, section = await listed(api, shop)
    assert section["type"] == "SECTION_VISITED"
    assert (section["name"], section["properties"]) == ("sale", {"banner": "top"})
    # Fired while anonymous, filed under the customer at login like its event.
    assert (section["visitorId"], section["userId"], section["cart"]) == ("v1", "alice", None)
    assert custom["type"] == "CUSTOM_EVENT"
    assert (custom["name"], custom["properties"]) == ("newsletter", {"list": "weekly"})
    assert order["type"] == "ORDER_COMPLETED"
    assert (order["name"], order["userId"]) == ("o1", "alice")
    assert order["properties"] == {"coupon": "X", "orderId": "o1"}
    assert order["cart"] == {"status": "ORDERED", "items": [
        {"productId": "p1", "categoryId": "cat", "quantity": 2, "price": 9.5}]}


async def test_a_triggers_page_that_ends_on_the_last_one_has_no_next_page(
    api: Api, shop: dict[str, Any]
) -> None:
    for name in ("a", "b", "c", "d"):
        await track(api, "CUSTOM", eventName=name)

    async def page(first: int, after: str | None = None) -> tuple[list[str], dict[str, Any]]:
        data = (await api.data(TRIGGERS, {"first": first, "after": after},
                               key=shop["key"]))["triggers"]
        return [t["name"] for t in data["nodes"]], data["pageInfo"]

    names, info = await page(2)
    assert names == ["d", "c"] and info["hasNextPage"] is True
    names, info = await page(2, info["endCursor"])
    assert names == ["b", "a"] and info["hasNextPage"] is False
    names, info = await page(4)
    assert len(names) == 4 and info["hasNextPage"] is False


async def test_a_trigger_is_stored_before_it_is_published(
    api: Api, shop: dict[str, Any], platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_when_published: list[bool] = []
    publish = platform.broker.publish

    async def checking(channel: str, message: str) -> None:
        found = await platform.storage.triggers.find_one({"_id": triggers.decode(message)["_id"]})
        stored_when_published.append(found is not None)
        await publish(channel, message)

    monkeypatch.setattr(platform.broker, "publish", checking)
    async with listening(platform.broker) as heard:
        await track(api, "SECTION_VIEW", pageName="sale")
        await eventually(lambda: len(heard) == 1, "the trigger was published")
    assert stored_when_published == [True]


async def test_triggers_kept_while_the_broker_fails_are_published_by_the_sweep(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def down(channel: str, message: str) -> None:
        raise BrokerUnavailable("Redis is down")

    async with listening(platform.broker) as heard:
        with monkeypatch.context() as patch:
            patch.setattr(platform.broker, "publish", down)
            for page in ("a", "b", "c"):
                # Tracking goes on: the mutation succeeds and the trigger is stored.
                await track(api, "SECTION_VIEW", pageName=page)
            assert [t["name"] for t in await listed(api, shop)] == ["c", "b", "a"]
            assert await platform.outbox.sweep() == 0  # still down: nothing published
        assert await platform.outbox.sweep() == 0  # too fresh: its process may publish it
        clock.advance(seconds=3)
        assert await platform.outbox.sweep() == 3
        await eventually(lambda: len(heard) == 3, "the sweep published the three")
        assert [t["name"] for t in heard] == ["a", "b", "c"]
        assert await platform.outbox.sweep() == 0  # marked published: not again
        await track(api, "SECTION_VIEW", pageName="d")  # and the live path works again
        await eventually(lambda: len(heard) == 4, "the next trigger was published at once")
    await platform.outbox.flush_published()  # the worker's job, every 0.2 s
    assert await platform.storage.triggers.count_documents({"published": False}) == 0


async def follow(platform: Platform, found: list[dict[str, Any]], **kwargs: Any) -> asyncio.Task:
    async def run() -> None:
        async for doc in platform.feed.follow(1, **kwargs):
            found.append(doc)

    task = asyncio.create_task(run())
    channel = triggers.channel(1)
    await eventually(lambda: platform.broker.subscriber_count(channel) > 0, "it subscribed")
    return task


async def test_a_follower_catches_up_from_the_log_when_the_live_feed_lost_messages(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await track(api, "SECTION_VIEW", pageName="old")  # before it followed: never sent
    clock.advance(seconds=1)
    found: list[dict[str, Any]] = []
    task = await follow(platform, found)
    try:
        await track(api, "SECTION_VIEW", pageName="a")
        await eventually(lambda: len(found) == 1, "a arrived live")

        async def lost(channel: str, message: str) -> None:
            pass  # published, but this process's connection to Redis dropped it

        with monkeypatch.context() as patch:
            patch.setattr(platform.broker, "publish", lost)
            await track(api, "SECTION_VIEW", pageName="b")
        await track(api, "SECTION_VIEW", pageName="c")
        await eventually(lambda: len(found) == 2, "c arrived live")
        assert [d["name"] for d in found] == ["a", "c"]
        platform.broker.epoch += 1  # what the broker does when it notices the drop...
        platform.broker.wake_readers()  # ...and it wakes its readers to look (issue 22)
        await eventually(lambda: len(found) == 3, "b was read from the log")
        assert [d["name"] for d in found] == ["a", "c", "b"]

        # While the broker is down, triggers still flow: read from the log every second.
        with monkeypatch.context() as patch:
            patch.setattr(type(platform.broker), "healthy", property(lambda self: False))
            platform.broker.wake_readers()  # as the broker does when it goes down
            await track(api, "SECTION_VIEW", pageName="d")
            await eventually(lambda: len(found) == 4, "d was read from the log")
        await track(api, "SECTION_VIEW", pageName="e")
        await eventually(lambda: len(found) == 5, "e arrived live again")
        assert [d["name"] for d in found] == ["a", "c", "b", "d", "e"]
    finally:
        task.cancel()


async def test_replay_follows_the_log_order_not_the_event_time(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    await track(api, "SECTION_VIEW", pageName="first", eventId="first")
    # A late event (the tracker sent its queue after a night offline) fires now,
    # though it happened before: a client resuming after "first" must not miss it.
    late = (clock.now() - timedelta(hours=8)).isoformat()
    await track(api, "SECTION_VIEW", pageName="late", occurredAt=late)
    assert [t["name"] for t in await listed(api, shop)] == ["late", "first"]
    found: list[dict[str, Any]] = []
    task = await follow(platform, found, after="1:first:SECTION_VISITED")
    try:
        await eventually(lambda: len(found) == 1, "the late one was replayed")
        assert found[0]["name"] == "late"
    finally:
        task.cancel()


# -- abandoned carts -----------------------------------------------------------------


async def test_a_cart_is_abandoned_after_the_delay_without_change(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int
) -> None:
    await login(api, "v1", "alice")
    await add(api, "v1", "p1", quantity=2, price=5.0)
    await add(api, "v1", "p2")
    clock.advance(seconds=delay - 1)
    assert await fire_due(platform) == 0
    assert await listed(api, shop) == []
    assert (await cart_of(api, shop, "alice"))["status"] == "ACTIVE"

    clock.advance(seconds=1)
    assert await fire_due(platform) == 1
    [fired] = await listed(api, shop)
    assert fired["type"] == "ABANDONED_CART"
    assert (fired["userId"], fired["visitorId"]) == ("alice", "v1")
    assert fired["cart"] == {"status": "ABANDONED", "items": [
        {"productId": "p1", "categoryId": "cat", "quantity": 2, "price": 5.0},
        {"productId": "p2", "categoryId": "cat", "quantity": 1, "price": 10.0},
    ]}
    assert await cart_of(api, shop, "alice") == {
        "status": "ABANDONED", "items": [{"productId": "p1"}, {"productId": "p2"}]}

    # Once per abandonment: later ticks do not fire it again.
    clock.advance(hours=5)
    assert await fire_due(platform) == 0
    assert len(await listed(api, shop)) == 1


async def test_a_cart_change_restarts_the_clock_and_a_new_abandonment_fires_again(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int
) -> None:
    await login(api, "v1", "alice")
    await add(api, "v1", "p1")
    clock.advance(seconds=delay - 10)
    await add(api, "v1", "p2")
    clock.advance(seconds=10)  # due had p2 not been added
    assert await fire_due(platform) == 0
    clock.advance(seconds=delay - 10)
    assert await fire_due(platform) == 1
    first = (await listed(api, shop))[0]
    assert [i["productId"] for i in first["cart"]["items"]] == ["p1", "p2"]

    await track(api, "CART_REMOVE", "v1", productId="p1")  # back in the shop: a new one
    assert (await cart_of(api, shop, "alice"))["status"] == "ACTIVE"
    clock.advance(seconds=delay - 1)
    assert await fire_due(platform) == 0
    clock.advance(seconds=1)
    assert await fire_due(platform) == 1
    second, again = await listed(api, shop)
    assert again == first
    assert second["triggerId"] != first["triggerId"]
    assert [i["productId"] for i in second["cart"]["items"]] == ["p2"]


async def test_checkout_or_an_emptied_cart_is_not_abandoned(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int
) -> None:
    for visitor, user in (("v1", "alice"), ("v2", "bob"), ("v3", "carol")):
        await login(api, visitor, user)
        await add(api, visitor, "p1")
    clock.advance(seconds=delay // 2)
    await track(api, "CHECKOUT", "v1", orderId="o1")
    await track(api, "CART_CLEAR", "v2")
    await track(api, "CART_REMOVE", "v3", productId="p1")
    clock.advance(seconds=delay * 3)
    assert await fire_due(platform) == 0
    assert [t["type"] for t in await listed(api, shop)] == ["ORDER_COMPLETED"]
    assert (await cart_of(api, shop, "alice"))["status"] == "ORDERED"
    assert (await cart_of(api, shop, "carol"))["status"] == "EMPTY"


async def test_an_anonymous_cart_fires_once_its_visitor_logs_in_if_still_abandoned(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int
) -> None:
    await add(api, "anon", "p1", quantity=3)
    clock.advance(seconds=delay * 2)
    assert await fire_due(platform) == 0  # nobody to write to yet
    assert await listed(api, shop) == []

    clock.advance(hours=1)
    await login(api, "anon", "dave")
    assert await fire_due(platform) == 1  # abandoned long ago: due at once
    [fired] = await listed(api, shop)
    assert (fired["type"], fired["userId"], fired["visitorId"]) == (
        "ABANDONED_CART", "dave", "anon")
    assert [(i["productId"], i["quantity"]) for i in fired["cart"]["items"]] == [("p1", 3)]
    clock.advance(seconds=delay * 2)
    assert await fire_due(platform) == 0


async def test_an_anonymous_cart_emptied_before_login_does_not_fire(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int
) -> None:
    await add(api, "anon", "p1")
    clock.advance(seconds=delay * 2)
    assert await fire_due(platform) == 0
    await track(api, "CART_CLEAR", "anon")
    await login(api, "anon", "erin")
    clock.advance(seconds=delay * 2)
    assert await fire_due(platform) == 0
    assert await listed(api, shop) == []


async def test_an_empty_anonymous_cart_does_not_revive_an_abandoned_one(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int
) -> None:
    await login(api, "phone", "fay")
    await add(api, "phone", "p1")
    clock.advance(seconds=delay)
    assert await fire_due(platform) == 1
    await add(api, "laptop", "p2")  # another device, anonymous, changes its mind
    await track(api, "CART_CLEAR", "laptop")
    await login(api, "laptop", "fay")
    assert await cart_of(api, shop, "fay") == {"status": "ABANDONED",
                                               "items": [{"productId": "p1"}]}
    clock.advance(seconds=delay * 3)
    assert await fire_due(platform) == 0
    assert len(await listed(api, shop)) == 1


async def test_an_anonymous_cart_identified_before_its_delay_fires_when_due(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int
) -> None:
    await add(api, "anon", "p1")
    clock.advance(seconds=10)
    await login(api, "anon", "frank")
    assert await fire_due(platform) == 0
    clock.advance(seconds=delay - 11)
    assert await fire_due(platform) == 0
    clock.advance(seconds=1)  # the delay counts from the cart's last change
    assert await fire_due(platform) == 1
    assert (await listed(api, shop))[0]["userId"] == "frank"


async def test_a_crash_between_storing_and_settling_does_not_fire_twice(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await login(api, "v1", "alice")
    await add(api, "v1", "p1")
    clock.advance(seconds=delay)
    with monkeypatch.context() as patch:
        async def crash(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError("the process died here")

        # fire_due's only bulk write is the one settling the carts.
        patch.setattr(type(platform.storage.carts.raw), "bulk_write", crash)
        with pytest.raises(ConnectionError):
            await fire_due(platform)
    assert len(await listed(api, shop)) == 1  # stored
    assert await fire_due(platform) == 0  # found again, but already fired
    assert len(await listed(api, shop)) == 1
    assert (await cart_of(api, shop, "alice"))["status"] == "ABANDONED"


def seed_carts(platform: Platform, count: int, *, prefix: str, due: bool) -> list[UpdateOne]:
    """Carts of identified customers, written with the pipeline's own cart operations."""
    now = platform.clock.now()
    at = now - timedelta(seconds=DELAY) if due else now
    ops = []
    for n in range(count):
        user = f"{prefix}{n}"
        owner = {"shopId": 1, "owner": owner_of(user, f"v-{user}"), "userId": user,
                 "visitorId": f"v-{user}"}
        ops.append(carts.add(cart_key(1, owner["owner"]), owner, product_id="p1",
                             category_id="cat", quantity=1, price=1.0, at=at,
                             delay_seconds=DELAY))
    return ops


async def tick_cost(platform: Platform) -> tuple[int, int]:
    # The shop and its rules are cached for seconds: a tick's own cost is the rest.
    await platform.rules.ruleset(await platform.shops.require(1))
    forget_popular()  # the triggers' recommendations read the popular lists each time
    platform.storage.trips.reset()
    fired = await fire_due(platform)
    return fired, platform.storage.trips.total


async def test_the_worker_finds_due_carts_by_index_at_a_cost_independent_of_carts_kept(
    platform: Platform, shop: dict[str, Any], delay: int
) -> None:
    costs = []
    for kept in (10, 1000):
        await platform.storage.carts.bulk_write(
            seed_carts(platform, kept, prefix=f"kept{kept}-", due=False))
        await platform.storage.carts.bulk_write(
            seed_carts(platform, 5, prefix=f"due{kept}-", due=True))
        fired, trips = await tick_cost(platform)
        idle = await tick_cost(platform)
        assert fired == 5
        assert idle[0] == 0
        costs.append((trips, idle[1]))
    assert costs[0] == costs[1], f"round trips per tick grew with carts kept: {costs}"
    # find, store the triggers, settle the carts; idle: find; and the triggers'
    # recommendations (app/recommendations/attach.py): the carts' products' pairs, the
    # shop's popular products of the week and, none viewed, of all time (the shop has no
    # views: no product to look up in the catalog).
    assert costs[0] == (3 + 3, 1)
    assert await platform.storage.carts.count_documents({}) == 1010 + 10
    if platform.storage.real_mongodb:
        plan = await platform.storage.carts.raw.find(due_query(platform.clock.now())).explain()
        assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
        assert "dueAt" in str(plan["queryPlanner"]["winningPlan"])


async def test_two_processes_sharing_the_store_fire_each_due_cart_exactly_once(
    platform: Platform, clock: FakeClock, shop: dict[str, Any], delay: int
) -> None:
    other = await Platform.start(platform.settings, clock=clock, storage=platform.storage)
    try:
        await platform.storage.carts.bulk_write(seed_carts(platform, 200, prefix="u",
                                                           due=True))
        async with listening(platform.broker) as here, listening(other.broker) as there:
            fired = await asyncio.gather(fire_due(platform), fire_due(other),
                                         fire_due(platform), fire_due(other))
            assert sum(fired) == 200
            await eventually(lambda: len(here) + len(there) == 200, "all were published")
            published = [t["_id"] for t in here + there]
        assert len(set(published)) == 200
        assert await platform.storage.triggers.count_documents(
            {"type": "ABANDONED_CART"}) == 200
        assert await platform.storage.carts.count_documents({"status": "ABANDONED"}) == 200
        assert await asyncio.gather(fire_due(platform), fire_due(other)) == [0, 0]
    finally:
        await other.stop()
