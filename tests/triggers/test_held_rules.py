"""Four rules that lose or leak data in production when broken, each held by a test.

Every test here was checked by breaking its rule on purpose (docs/test-gaps.md names
the one-line change that makes each fail). Order matters in two of them; they inject a
step at the exact point where it matters instead of racing: a cart change between
the abandoned-cart worker's find and its settle, and a trigger stored between a
subscription's subscribe and its read of the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.abandonment.cart_worker import fire_due
from app.core import PENDING_EXPIRY
from app.core.clock import FakeClock
from app.platform import Platform
from app.server.asgi import create_app
from app.triggers import model as triggers
from tests.support.api import Api, make_settings, running
from tests.support.ttl import mongodb_ttl_monitor, read_by_both_folds

DELAY = 60
DEADLINE = 10.0  # seconds to wait for something that must come; never reached when it works


async def track(api: Api, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """A batch of (type, visitor, fields) through the public `track` mutation."""
    batch = [{"type": type_, "context": {"shopId": 1, "visitorId": visitor,
                                         **fields.pop("context", {})}, **fields}
             for type_, visitor, fields in events]
    await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
                   {"e": batch})


async def one(api: Api, type_: str, visitor: str, **fields: Any) -> None:
    await track(api, [(type_, visitor, fields)])


# -- 1. filed events lose their expiry ------------------------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["login-later", "login-in-batch"])
async def test_filed_events_carry_no_expiry_so_the_ttl_index_keeps_them(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, batched: bool
) -> None:
    view = {"categoryId": "c1", "productId": "p1"}
    await one(api, "PRODUCT_VIEW", "stranger", context={"eventId": "a1"}, **view)
    history = [("PRODUCT_VIEW", "known", {"context": {"eventId": "k1"}, **view})]
    login = [("LOGIN", "known", {"context": {"eventId": "k2"}, "userId": "alice"})]
    if batched:
        await track(api, history + login)
    else:
        await track(api, history)
        await track(api, login)

    stored = await platform.storage.events.find({"visitorId": "known"}).to_list(None)
    assert {d["eventId"]: d["userId"] for d in stored} == {"k1": "alice", "k2": "alice"}
    assert [d["eventId"] for d in stored if "expireAt" in d or PENDING_EXPIRY in d] == []

    clock.advance(days=400)
    await read_by_both_folds(platform)  # counted and read: free to expire
    # The stranger's anonymous view, and only it.
    assert await mongodb_ttl_monitor(platform.storage, clock.now()) == 1
    data = await api.data('{ events(shopId: 1, userId: "alice") { nodes { eventId } } }',
                          key=shop["key"])
    assert {e["eventId"] for e in data["events"]["nodes"]} == {"k1", "k2"}


# -- 2. the abandoned-cart settle is conditional on the version it fired -----------------


@pytest.fixture
async def delay(api: Api, shop: dict[str, Any]) -> int:
    await api.admin("mutation($s: ShopSettingsInput!) { updateShopSettings(shopId: 1, "
                    "settings: $s) { shopId } }", {"s": {"abandonedCartDelaySeconds": DELAY}})
    return DELAY


async def abandoned(api: Api, shop: dict[str, Any]) -> list[list[str]]:
    """The products of each ABANDONED_CART trigger, oldest first."""
    data = await api.data('{ triggers(shopId: 1, types: [ABANDONED_CART]) { nodes { '
                          "cart { items { productId } } } } }", key=shop["key"])
    nodes = reversed(data["triggers"]["nodes"])
    return [[i["productId"] for i in t["cart"]["items"]] for t in nodes]


async def cart_of(api: Api, shop: dict[str, Any]) -> dict[str, Any]:
    data = await api.data('{ cart(shopId: 1, userId: "alice") { status items { productId } } }',
                          key=shop["key"])
    return data["cart"]


async def test_a_cart_changed_between_find_and_settle_stays_active_and_fires_on_its_own_clock(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock, delay: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add = {"categoryId": "cat", "quantity": 1, "price": 10.0}
    await one(api, "LOGIN", "v1", userId="alice")
    await one(api, "CART_ADD", "v1", productId="p1", **add)
    clock.advance(seconds=delay)

    # The worker has found the cart due and stored its trigger; before it settles the
    # cart, the customer comes back and adds a product.
    record = platform.outbox.record
    changed: list[bool] = []

    async def record_then_customer_returns(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = await record(docs)
        if any(d["type"] == "ABANDONED_CART" for d in docs) and not changed:
            changed.append(True)
            await one(api, "CART_ADD", "v1", productId="p2", **add)
        return fresh

    monkeypatch.setattr(platform.outbox, "record", record_then_customer_returns)
    assert await fire_due(platform) == 1
    monkeypatch.undo()
    assert changed == [True]

    # The abandonment of the cart as it was is told; the changed cart is not settled.
    assert await abandoned(api, shop) == [["p1"]]
    assert await cart_of(api, shop) == {"status": "ACTIVE",
                                        "items": [{"productId": "p1"}, {"productId": "p2"}]}
    clock.advance(seconds=delay - 1)
    assert await fire_due(platform) == 0  # its own delay runs from the change
    clock.advance(seconds=1)
    assert await fire_due(platform) == 1
    assert await abandoned(api, shop) == [["p1"], ["p1", "p2"]]
    assert (await cart_of(api, shop))["status"] == "ABANDONED"


# -- 3. a replaying subscription sends a trigger once, whichever way it came ------------


@dataclass
class Live:
    platform: Platform
    api: Api


@pytest.fixture
async def live(broker_url: str, clock: FakeClock) -> AsyncIterator[Live]:
    """The app on the embedded store with the broker under test (memory or Redis)."""
    platform = await Platform.start(make_settings(redis_url=broker_url), clock=clock)
    await platform.storage.drop()
    await platform.storage.create_indexes()
    app = create_app(platform.settings, platform=platform, run_workers=False)
    try:
        async with running(app) as served, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=served), base_url="http://t") as http:
            api = Api(http)
            await api.admin('mutation { createShop(name: "Test shop", shopId: 1) { apiKey } }')
            yield Live(platform, api)
    finally:
        await platform.stop()
        await platform.storage.drop()


async def section(api: Api, name: str) -> str:
    """A SECTION_VISITED trigger, fired by a section view as the tracker sends it; its id."""
    await one(api, "SECTION_VIEW", "v1", pageName=name, context={"eventId": name})
    return f"1:{name}:SECTION_VISITED"


def before_first_log_read(platform: Platform, monkeypatch: pytest.MonkeyPatch,
                          step: Callable[[], Awaitable[Any]]) -> list[int]:
    """Run `step` once, just before the first read of the trigger log.

    Returns the number of subscribers of the shop's channel at that moment, so the test
    can check the step ran after the subscription was in place.
    """
    log = platform.storage.triggers
    seen: list[int] = []

    def counted() -> bool:
        if seen:
            return False
        seen.append(platform.broker.subscriber_count(triggers.channel(1)))
        return True

    find_one, find = log.find_one, log.find

    async def paused_find_one(*args: Any, **kwargs: Any) -> Any:
        if counted():
            await step()
        return await find_one(*args, **kwargs)

    def paused_find(*args: Any, **kwargs: Any) -> Any:
        cursor = find(*args, **kwargs)
        if counted():
            to_list = cursor.to_list

            async def stepped(length: int | None = None) -> Any:
                await step()
                return await to_list(length)

            cursor.to_list = stepped
        return cursor

    monkeypatch.setattr(log, "find_one", paused_find_one)
    monkeypatch.setattr(log, "find", paused_find)
    return seen


async def test_a_trigger_stored_between_subscribe_and_log_read_arrives_exactly_once(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = await section(live.api, "start")
    subscribers = before_first_log_read(live.platform, monkeypatch,
                                        lambda: section(live.api, "between"))
    following = live.platform.feed.follow(1, after=start)
    try:
        first = await asyncio.wait_for(anext(following), DEADLINE)
        assert subscribers == [1], "the trigger must be stored after subscribing"
        # "between" is in the log and on the live channel; "end" comes after it on the
        # channel, so a repeat of "between" would arrive before "end".
        await section(live.api, "end")
        second = await asyncio.wait_for(anext(following), DEADLINE)
    finally:
        await following.aclose()
    assert [first["name"], second["name"]] == ["between", "end"]


# -- 4. a newsletter token never stays in a referrer ---------------------------------


async def test_a_token_in_the_referrer_is_not_stored(
    api: Api, shop: dict[str, Any], platform: Platform
) -> None:
    token = (await api.admin('mutation { issueIdentityToken(shopId: 1, userId: "u1") }'))[
        "issueIdentityToken"]
    referrer = f"https://mail.example/read?utm_source=mail&smc_token={token}&x=1"
    clean = "https://mail.example/read?utm_source=mail&x=1"
    context = {"referrer": referrer, "url": "https://shop.example/p"}
    await one(api, "VISIT", "v1", context=context)
    await one(api, "SECTION_VIEW", "v1", pageName="sale", context=context)

    events = await platform.storage.events.find({"visitorId": "v1"}).to_list(None)
    assert [e.get("referrer") for e in events] == [clean, clean]
    data = await api.data("{ sessions(shopId: 1) { nodes { referrer landingUrl } } }",
                          key=shop["key"])
    assert data["sessions"]["nodes"] == [{"referrer": clean,
                                          "landingUrl": "https://shop.example/p"}]
    for name in ("events", "sessions", "visitors", "triggers", "customers"):
        docs = await getattr(platform.storage, name).find({}).to_list(None)
        assert token not in repr(docs), f"the token was stored in {name}"

