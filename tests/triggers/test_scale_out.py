"""Two server instances sharing one store and one throwaway Redis.

The embedded store lives in this process, so both uvicorn servers run here, each
with its own Platform (own broker connection to Redis, own workers) on the same
Storage object: what two `python -m app` processes on one MongoDB would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.backends.storage import Storage
from tests.support.live import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    LiveServer,
    Subscriber,
    hear_the_same,
    log_ids,
    open_shop,
    shared_store,
    track,
    two_servers,
    wait_subscribed,
)
from tests.support.redis_server import RedisServer


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    async with shared_store() as shared:
        yield shared


async def both_subscribed(a: LiveServer, b: LiveServer, count: int = 1) -> None:
    await wait_subscribed(a, count, processes=2)
    await wait_subscribed(b, count, processes=2)


async def abandon_carts(server: LiveServer, first: int, count: int) -> None:
    """`count` customers each log in and leave a product in the cart, in batches of 100."""
    events = []
    for n in range(first, first + count):
        context = {"shopId": 1, "visitorId": f"v{n}"}
        events += [{"type": "LOGIN", "context": context, "userId": f"u{n}"},
                   {"type": "CART_ADD", "context": context, "categoryId": "c",
                    "productId": f"p{n}"}]
    for start in range(0, len(events), 100):
        data = await server.graphql(
            "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
            {"e": events[start:start + 100]})
        assert all(data["track"])


async def test_a_trigger_seen_by_one_server_reaches_subscribers_on_both(
    redis_server: RedisServer, storage: Storage
) -> None:
    async with two_servers(redis_server.url, storage) as (a, b):
        key = await open_shop(a, delay=1)
        on_a = Subscriber(a.ws_url, key, protocol=GRAPHQL_TRANSPORT_WS).start()
        on_b = Subscriber(b.ws_url, key, protocol=GRAPHQL_WS).start()
        try:
            await both_subscribed(a, b)
            await track(a, "SECTION_VIEW", pageName="seen-by-a")
            await track(b, "CUSTOM", eventName="seen-by-b")
            await abandon_carts(b, 0, 1)  # whichever worker fires it, both hear it
            for sub in (on_a, on_b):
                got = await sub.wait_for(3)
                assert [(t["type"], t["name"]) for t in got] == [
                    ("SECTION_VISITED", "seen-by-a"), ("CUSTOM_EVENT", "seen-by-b"),
                    ("ABANDONED_CART", None)]
            await asyncio.sleep(0.5)  # a second firing would show up by now
            assert on_a.ids == on_b.ids and len(on_a.ids) == 3
        finally:
            await on_a.stop()
            await on_b.stop()


async def test_200_carts_abandoned_at_once_fire_exactly_200_triggers_across_both(
    redis_server: RedisServer, storage: Storage
) -> None:
    async with two_servers(redis_server.url, storage) as (a, b):
        key = await open_shop(a, delay=1)
        on_a = Subscriber(a.ws_url, key, types=["ABANDONED_CART"]).start()
        on_b = Subscriber(b.ws_url, key, types=["ABANDONED_CART"]).start()

        async def fire() -> None:
            await both_subscribed(a, b)
            # Both servers' workers find the same 200 carts due at the same moment.
            await asyncio.gather(abandon_carts(a, 0, 100), abandon_carts(b, 100, 100))

        await hear_the_same([on_a, on_b], 200, fire)
        stored = await log_ids(a, key)
        assert len(stored) == len(set(stored)) == 200


async def status(server: LiveServer) -> tuple[int, str]:
    code, body = await server.healthz()
    return code, body["status"]


async def wait_health(servers: tuple[LiveServer, ...], expected: tuple[int, str]) -> None:
    end = asyncio.get_running_loop().time() + 20
    while [await status(s) for s in servers] != [expected] * len(servers):
        assert asyncio.get_running_loop().time() < end, f"health never became {expected}"
        await asyncio.sleep(0.05)


async def test_redis_outage_loses_nothing_and_publishing_resumes_by_itself(
    fresh_redis_server: RedisServer, storage: Storage
) -> None:
    redis = fresh_redis_server
    async with two_servers(redis.url, storage) as (a, b):
        key = await open_shop(a, delay=1)
        on_a = Subscriber(a.ws_url, key).start()
        on_b = Subscriber(b.ws_url, key, protocol=GRAPHQL_WS).start()
        leaver = Subscriber(b.ws_url, key).start()  # hangs up for the outage
        subs = (on_a, on_b)
        back = None
        try:
            await both_subscribed(a, b, 1)
            await wait_subscribed(b, 2, processes=2)
            await track(a, "SECTION_VIEW", pageName="before")
            for sub in (*subs, leaver):
                await sub.wait_for(1)
            await leaver.stop()
            assert await status(a) == (200, "ok")

            redis.stop()
            await wait_health((a, b), (503, "degraded"))
            # Tracking goes on on both servers, and triggers are stored.
            tracked: list[dict[str, Any]] = []
            for n in range(5):
                tracked.append(await track(a if n % 2 else b, "SECTION_VIEW",
                                           f"w{n}", pageName=f"during{n}"))
            await abandon_carts(a, 0, 1)  # due in 1 s: fired by a worker while Redis is down
            end = asyncio.get_running_loop().time() + 20
            while len(await log_ids(a, key)) < 7:  # the abandoned cart's, too
                assert asyncio.get_running_loop().time() < end, "the cart never fired"
                await asyncio.sleep(0.05)
            assert await storage.triggers.count_documents({"published": False}) == 6
            # Live subscribers are not left waiting meanwhile: their server reads the
            # triggers from the store while the broker is down.
            for sub in subs:
                await sub.wait_for(7)
            assert await status(b) == (503, "degraded")
            events = await a.graphql(
                "{ events(shopId: 1, first: 100) { nodes { eventId } } }", key=key)
            assert {e["eventId"] for e in tracked} <= {
                e["eventId"] for e in events["events"]["nodes"]}

            redis.start()  # same port: the servers find it again by themselves
            await wait_health((a, b), (200, "ok"))
            end = asyncio.get_running_loop().time() + 20
            while await storage.triggers.count_documents({"published": False}):
                assert asyncio.get_running_loop().time() < end, "the outbox was never swept"
                await asyncio.sleep(0.1)
            await track(b, "CUSTOM", eventName="after")
            stored = await log_ids(a, key)
            assert len(stored) == 8
            for sub in subs:
                await sub.wait_for(8)
            # The subscriber that was away resumes after the last one it saw.
            back = Subscriber(a.ws_url, key, after=leaver.ids[-1]).start()
            await back.wait_for(7)
            await asyncio.sleep(0.5)  # repeats, from the sweep republishing, would show now
        finally:
            for sub in (*subs, leaver, back):
                if sub is not None:
                    await sub.stop()
        for sub in subs:
            assert sorted(sub.ids) == sorted(stored), "lost or repeated on a live subscription"
            assert len(sub.ids) == len(set(sub.ids))
        assert back.ids == stored[1:]
        types = [t["type"] for t in back.received]
        assert types.count("ABANDONED_CART") == 1 and types[-1] == "CUSTOM_EVENT"
