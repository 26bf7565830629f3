"""The trigger feed cannot be turned against the server (issue 22, items 2 and 3):
a replay reads only what its filter matches, a key holds a bounded number of
connections and subscriptions, and an idle subscription does no work at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.triggers import make
from tests.support.live import (
    GRAPHQL_TRANSPORT_WS,
    PROTOCOLS,
    LiveServer,
    Subscriber,
    open_shop,
    serving,
    track,
    wait_subscribed,
)
from tests.support.wsclient import WsClient

SUBSCRIBE = "subscription { triggers(shopId: 1) { triggerId } }"


async def store_triggers(server: LiveServer, count: int) -> list[str]:
    """`count` CUSTOM_EVENT triggers of shop 1, named "noise" but the newest ("last")."""
    assert server.platform is not None
    start = datetime.now(UTC) - timedelta(hours=1)
    docs = [make(f"t{i:05d}", "CUSTOM_EVENT", 1, fired_at=start + timedelta(seconds=i / 10),
                 visitor_id="v", user_id=None, name="last" if i == count - 1 else "noise")
            for i in range(count)]
    for doc in docs:
        doc["published"] = True  # long since published: the log of a busy shop
    await server.platform.outbox.store(docs)
    return [d["_id"] for d in docs]


async def answered_meanwhile(server: LiveServer, busy: Any) -> int:
    """How many times another client got /healthz answered while `busy()` held."""
    count = 0
    while busy():
        response = await server.http.get("/healthz")
        count += response.status_code == 200 and bool(busy())
    return count


# -- item 2: replay through the filter, in pages ---------------------------------------------

async def test_a_replay_reads_only_what_its_filter_matches_and_others_are_answered() -> None:
    async with serving() as server:
        key = await open_shop(server)
        ids = await store_triggers(server, 10_000)
        assert server.platform is not None
        trips = server.platform.storage.trips
        trips.reset()
        subscribers = [Subscriber(server.ws_url, key, after=ids[0], names=["last"]).start()
                       for _ in range(20)]
        try:
            meanwhile = await answered_meanwhile(
                server, lambda: not all(s.received or s.done for s in subscribers))
            for subscriber in subscribers:
                assert [t["triggerId"] for t in await subscriber.wait_for(1)] == [ids[-1]]
        finally:
            for subscriber in subscribers:
                await subscriber.stop()
        read = trips.by_collection.get("triggers", 0)
    # Per subscription: its anchor, and one page holding the one trigger that matches
    # (before: the 10,000 triggers of the log in ten pages, filtered here).
    assert read < 20 * 3  # (a few more: the workers' sweeps of the log meanwhile)
    assert meanwhile >= 1


# -- item 3: bounded connections and subscriptions per key; idle costs nothing -------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_key_holds_a_bounded_number_of_subscriptions(protocol: str) -> None:
    async with serving(max_subscriptions_per_key=3) as server:
        key = await open_shop(server)
        async with WsClient(server.ws_url, protocol) as ws:
            await ws.init(key)
            start = "subscribe" if protocol == GRAPHQL_TRANSPORT_WS else "start"
            for n in range(4):
                await ws.send({"id": str(n), "type": start,
                               "payload": {"query": SUBSCRIBE, "variables": {}}})
            refused = await ws.recv()
            await wait_subscribed(server, 3)
        # Closed connections give their share back.
        async with Subscriber(server.ws_url, key, protocol=protocol):
            await wait_subscribed(server, 1)
    assert refused["id"] == "3", refused
    assert refused["type"] in ("error", "next", "data"), refused
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
    assert errors[0]["extensions"]["scope"] == "subscriptions"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_key_holds_a_bounded_number_of_connections(protocol: str) -> None:
    async with serving(max_connections_per_key=2) as server:
        key = await open_shop(server)
        async with WsClient(server.ws_url, protocol) as one, \
                WsClient(server.ws_url, protocol) as two, \
                WsClient(server.ws_url, protocol) as three:
            assert (await one.init(key))["type"] == "connection_ack"
            assert (await two.init(key))["type"] == "connection_ack"
            await three.send({"type": "connection_init",
                              "payload": {"authorization": f"Bearer {key}"}})
            if protocol == GRAPHQL_TRANSPORT_WS:
                code, reason = await three.closed()
                assert code == 4403 and reason.startswith("RATE_LIMITED"), (code, reason)
            else:
                refused = await three.recv()
                assert refused["type"] == "connection_error", refused
        async with WsClient(server.ws_url, protocol) as again:  # the others closed
            assert (await again.init(key))["type"] == "connection_ack"


async def test_idle_subscriptions_do_no_work_until_a_trigger_arrives() -> None:
    async with serving() as server:
        key = await open_shop(server)
        assert server.platform is not None
        feed = server.platform.feed
        subscribers = [Subscriber(server.ws_url, key).start() for _ in range(5)]
        try:
            await wait_subscribed(server, 5)
            idle = feed.wakeups
            await asyncio.sleep(1.5)  # three of the old 0.5 s checks
            assert feed.wakeups == idle
            await track(server, "CUSTOM", eventName="promo")
            for subscriber in subscribers:
                await subscriber.wait_for(1)
            await asyncio.sleep(0.5)
            woke = feed.wakeups - idle
        finally:
            for subscriber in subscribers:
                await subscriber.stop()
    assert woke == sum(len(s.received) for s in subscribers)  # once per trigger, no more
