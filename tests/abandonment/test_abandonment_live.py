"""Abandoned browse and category view over real HTTP and a real subscription.

Servers run under uvicorn with their workers ticking every 0.2 s; the rules'
delays are one second. With two servers on one store and a real Redis, 200
sessions abandoned at once fire exactly 200 triggers in total.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.backends.storage import Storage
from tests.support.live import (
    LiveServer,
    Subscriber,
    hear_the_same,
    log_ids,
    open_shop,
    serving,
    shared_store,
    two_servers,
    wait_subscribed,
)
from tests.support.redis_server import RedisServer

BROWSE, CATEGORY = "ABANDONED_BROWSE", "ABANDONED_CATEGORY"
SET_DELAY = """mutation($id: ID!, $r: TriggerRuleInput!) {
  updateTriggerRule(shopId: 1, ruleId: $id, rule: $r) { ruleId delaySeconds } }"""


class RuleSubscriber(Subscriber):
    query = """
    subscription($shopId: Int!, $types: [TriggerType!]) {
      triggers(shopId: $shopId, types: $types) {
        triggerId type ruleId userId visitorId categoryId firedAt
        products { productId categoryId score views }
      }
    }
    """


async def quiet_for_a_second(server: LiveServer, key: str) -> None:
    for type_ in (BROWSE, CATEGORY):
        data = await server.graphql(SET_DELAY, {"id": f"default:{type_}",
                                                "r": {"type": type_, "delaySeconds": 1}}, key)
        assert data["updateTriggerRule"]["delaySeconds"] == 1


async def send(server: LiveServer, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 100):
        data = await server.graphql(
            "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
            {"e": events[start:start + 100]})
        assert all(data["track"])


def ctx(visitor: str) -> dict[str, Any]:
    return {"shopId": 1, "visitorId": visitor}


def login(visitor: str, user: str) -> dict[str, Any]:
    return {"type": "LOGIN", "context": ctx(visitor), "userId": user}


def product(visitor: str, product_id: str, category: str = "shoes") -> dict[str, Any]:
    return {"type": "PRODUCT_VIEW", "context": ctx(visitor), "categoryId": category,
            "productId": product_id}


def category(visitor: str, category_id: str) -> dict[str, Any]:
    return {"type": "CATEGORY_VIEW", "context": ctx(visitor), "categoryId": category_id}


async def test_abandoned_browse_and_category_arrive_on_a_subscription() -> None:
    async with serving() as server:
        key = await open_shop(server)
        await quiet_for_a_second(server, key)
        sub = RuleSubscriber(server.ws_url, key, types=[BROWSE, CATEGORY]).start()
        try:
            await wait_subscribed(server)
            await send(server, [product("anon", "p9")])  # nobody to write to yet
            await send(server, [login("v1", "alice"), product("v1", "p1"),
                                product("v1", "p2"), product("v1", "p2"),
                                product("v1", "p3", "socks")])
            await send(server, [login("v2", "bob"), category("v2", "hats"),
                                category("v2", "bags"), category("v2", "hats")])
            await send(server, [login("v3", "cy"), product("v3", "p1"),
                                {"type": "CART_ADD", "context": ctx("v3"), "categoryId": "shoes",
                                 "productId": "p1"}])  # a cart add: no abandoned browse
            got = await sub.wait_for(2)
            by_user = {t["userId"]: t for t in got}
            assert set(by_user) == {"alice", "bob"}
            alice, bob = by_user["alice"], by_user["bob"]
            assert (alice["type"], alice["ruleId"], alice["categoryId"]) == (
                BROWSE, f"default:{BROWSE}", "shoes")
            assert [p["productId"] for p in alice["products"]] == ["p2", "p1", "p3"]
            assert alice["products"][0]["views"] == 2
            assert (bob["type"], bob["ruleId"], bob["categoryId"], bob["products"]) == (
                CATEGORY, f"default:{CATEGORY}", "hats", None)
            # The anonymous visitor logs in: its session goes on, then falls quiet, and fires.
            await send(server, [login("anon", "dee")])
            got = await sub.wait_for(3)
            assert (got[2]["userId"], got[2]["visitorId"], got[2]["type"]) == (
                "dee", "anon", BROWSE)
            assert [p["productId"] for p in got[2]["products"]] == ["p9"]
            await asyncio.sleep(1.5)  # more ticks: a repeat or the cart's browse would show
        finally:
            await sub.stop()
        assert len(sub.received) == len(set(sub.ids)) == 3
        stored = await server.graphql(
            "query($t: [TriggerType!]) { triggers(shopId: 1, types: $t) { nodes { triggerId } } }",
            {"t": [BROWSE, CATEGORY]}, key)
        assert sorted(n["triggerId"] for n in stored["triggers"]["nodes"]) == sorted(sub.ids)


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    async with shared_store() as shared:
        yield shared


def browsers(first: int, count: int) -> list[dict[str, Any]]:
    """`count` customers each log in and view a product, then leave."""
    return [event for n in range(first, first + count)
            for event in (login(f"v{n}", f"u{n}"), product(f"v{n}", f"p{n}"))]


async def test_200_sessions_abandoned_at_once_fire_exactly_200_browse_triggers_across_both(
    redis_server: RedisServer, storage: Storage
) -> None:
    async with two_servers(redis_server.url, storage) as (a, b):
        key = await open_shop(a)
        await quiet_for_a_second(a, key)
        on_a = RuleSubscriber(a.ws_url, key, types=[BROWSE]).start()
        on_b = RuleSubscriber(b.ws_url, key, types=[BROWSE]).start()

        async def fire() -> None:
            for server in (a, b):
                await wait_subscribed(server, processes=2)
            # Both servers' workers find the same 200 sessions due at the same moment.
            await asyncio.gather(send(a, browsers(0, 100)), send(b, browsers(100, 100)))

        await hear_the_same([on_a, on_b], 200, fire)
        assert all(t["products"][0]["productId"] == f"p{t['userId'][1:]}" for t in on_a.received)
        stored = await log_ids(a, key)
        assert len(stored) == len(set(stored)) == 200
