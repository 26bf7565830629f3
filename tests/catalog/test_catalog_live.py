"""The catalog's triggers over real servers: a real subscription, webhooks verified with
`standardwebhooks`, and two servers on one store and one Redis firing each trigger once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app import interests
from app.backends.storage import Storage
from app.catalog import fanout
from tests.support.live import (
    GRAPHQL_WS,
    LiveServer,
    Subscriber,
    eventually,
    hear_the_same,
    log_ids,
    open_shop,
    serving,
    shared_store,
    two_servers,
    wait_subscribed,
)
from tests.support.redis_server import RedisServer
from tests.support.webhook_helpers import FAST, add_endpoint, settled, until
from tests.support.webhook_receiver import Receiver

WITH_PRODUCTS = """
subscription($shopId: Int!, $types: [TriggerType!]) {
  triggers(shopId: $shopId, types: $types) {
    triggerId type userId properties
    products { productId product { name price oldPrice imageUrl currency } }
  }
}
"""
UPSERT = """mutation($p: [ProductInput!]!) { upsertProducts(shopId: 1, products: $p) {
  updated } }"""
RULE = """mutation { createTriggerRule(shopId: 1, rule: {type: PRICE_DROPPED, minDropPercent: 10})
  { ruleId } }"""
SHOE = {"productId": "sku-42", "name": "Nike Pegasus 41", "imageUrl": "https://s.example/42.jpg",
        "currency": "RUB", "categoryId": "shoes"}


async def viewers(server: LiveServer, first: int, count: int) -> None:
    """Customers u<first>.. log in and view the shoe, 50 customers a request."""
    events = []
    for n in range(first, first + count):
        context = {"shopId": 1, "visitorId": f"v{n}"}
        events += [{"type": "LOGIN", "context": context, "userId": f"u{n}"},
                   {"type": "PRODUCT_VIEW", "context": context, "categoryId": "shoes",
                    "productId": "sku-42"}]
    for start in range(0, len(events), 100):
        data = await server.graphql(
            "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
            {"e": events[start:start + 100]})
        assert all(data["track"])


async def test_a_drop_reaches_the_subscription_and_signed_webhooks_with_the_product() -> None:
    async with Receiver() as receiver, serving(**FAST) as server:
        key = await open_shop(server)
        await add_endpoint(server, key, receiver, "drops", types=["PRICE_DROPPED"])
        await server.graphql(RULE, key=key)
        await server.graphql(UPSERT, {"p": [{**SHOE, "price": 10000}]}, key=key)
        await viewers(server, 0, 3)
        async with Subscriber(server.ws_url, key, query=WITH_PRODUCTS,
                              types=["PRICE_DROPPED"]) as subscriber:
            await wait_subscribed(server)
            await server.graphql(UPSERT, {"p": [{**SHOE, "price": 8500}]}, key=key)
            got = await subscriber.wait_for(3)
        assert sorted(t["userId"] for t in got) == ["u0", "u1", "u2"]
        for trigger in got:
            assert trigger["properties"] == {"oldPrice": 10000, "newPrice": 8500,
                                             "dropPercent": 15}
            assert trigger["products"] == [{"productId": "sku-42", "product": {
                "name": "Nike Pegasus 41", "price": 8500, "oldPrice": None,
                "imageUrl": "https://s.example/42.jpg", "currency": "RUB"}}]
        await until(lambda: settled(server, key, 3), "3 webhooks were delivered")
        hooks = receiver.of("drops")
        assert len(hooks) == 3 and all(h.verified for h in hooks), [h.error for h in hooks]
        for hook in hooks:
            data = hook.payload["data"]
            assert hook.payload["type"] == "trigger.price_dropped"
            assert data["properties"]["newPrice"] == 8500
            [item] = data["products"]
            assert (item["product"]["name"], item["product"]["price"]) == ("Nike Pegasus 41",
                                                                          8500)


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    async with shared_store() as shared:
        yield shared


async def test_two_servers_fire_exactly_one_trigger_per_customer_for_1000_customers(
        redis_server: RedisServer, storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "PAGE", 100)  # ten pages: both workers take their turns
    monkeypatch.setattr(fanout, "PAGES", 2)
    async with two_servers(redis_server.url, storage) as (a, b):
        key = await open_shop(a)
        await a.graphql(RULE, key=key)
        await a.graphql(UPSERT, {"p": [{**SHOE, "price": 10000}]}, key=key)
        # The interest of 1,000 customers in the shoe, as the tracker writes it (fast: this
        # test is about the fan-out; tracking is tested elsewhere).
        now = a.platform.clock.now()
        weights = {"productViewProduct": 2.0, "productViewCategory": 1.0}
        await interests.write(storage.interests, 1, {
            f"u{n}": interests.interactions("productView", "shoes", "sku-42", now, weights)
            for n in range(1000)})
        on_a = Subscriber(a.ws_url, key, types=["PRICE_DROPPED"]).start()
        on_b = Subscriber(b.ws_url, key, protocol=GRAPHQL_WS, types=["PRICE_DROPPED"]).start()

        async def fire() -> None:
            await wait_subscribed(a, processes=2)
            await wait_subscribed(b, processes=2)
            await a.graphql(UPSERT, {"p": [{**SHOE, "price": 5000}]}, key=key)
            # The walk takes its time on a busy machine: wait for it here, generously.
            await eventually(lambda: min(len(on_a.ids), len(on_b.ids)) >= 1000,
                             "both servers' subscribers heard 1,000 triggers", deadline=300)

        await hear_the_same([on_a, on_b], 1000, fire)
        stored = await log_ids(a, key)
        assert len(stored) == len(set(stored)) == 1000
