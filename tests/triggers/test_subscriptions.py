"""Subscription.triggers over a real uvicorn server, through the `gql` WebSocket client.

Both subprotocols (`graphql-transport-ws` and `graphql-ws`); the broker tests run
against `memory://` and a throwaway redis-server. Real time, small delays, and
waits on conditions with generous deadlines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.api import ADMIN_KEY
from tests.support.live import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    PROTOCOLS,
    LiveServer,
    Subscriber,
    eventually,
    log_ids,
    open_shop,
    serving,
    track,
    wait_subscribed,
)


@pytest.fixture
async def server() -> AsyncIterator[LiveServer]:
    async with serving() as live:
        yield live


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_subscriber_receives_each_trigger_type(protocol: str, broker_url: str) -> None:
    async with serving(broker_url) as server:
        key = await open_shop(server, delay=1)
        async with Subscriber(server.ws_url, key, protocol=protocol) as sub:
            await wait_subscribed(server)
            await server.graphql(
                'mutation { viewSection(context: {shopId: 1, visitorId: "v1"}, '
                'pageName: "sale") { eventId } }')
            await server.graphql(
                'mutation { trackEvent(context: {shopId: 1, visitorId: "v1"}, '
                'eventName: "newsletter", properties: {list: "weekly"}) { eventId } }')
            for visitor, user in (("v1", "alice"), ("v2", "bob")):
                await server.graphql(
                    'mutation($c: TrackContext!, $u: String!) { login(context: $c, userId: $u) '
                    '{ userId } }', {"c": {"shopId": 1, "visitorId": visitor}, "u": user})
                await server.graphql(
                    'mutation($c: TrackContext!) { addToCart(context: $c, categoryId: "shoes", '
                    'productId: "p1", quantity: 2, price: 30) { eventId } }',
                    {"c": {"shopId": 1, "visitorId": visitor}})
            await server.graphql(
                'mutation { completeCheckout(context: {shopId: 1, visitorId: "v1"}, '
                'orderId: "o1") { eventId } }')
            # bob leaves his cart: after the shop's 1 s delay, the worker fires it.
            received = await sub.wait_for(4)
    by_type = {t["type"]: t for t in received}
    assert len(received) == 4, received
    assert by_type["SECTION_VISITED"]["name"] == "sale"
    assert by_type["CUSTOM_EVENT"]["name"] == "newsletter"
    assert by_type["CUSTOM_EVENT"]["properties"] == {"list": "weekly"}
    order = by_type["ORDER_COMPLETED"]
    assert (order["name"], order["userId"], order["cart"]["status"]) == ("o1", "alice", "ORDERED")
    abandoned = by_type["ABANDONED_CART"]
    assert (abandoned["userId"], abandoned["visitorId"]) == ("bob", "v2")
    assert abandoned["cart"] == {"status": "ABANDONED", "items": [
        {"productId": "p1", "categoryId": "shoes", "quantity": 2, "price": 30.0}]}
    assert all(t["shopId"] == 1 and t["firedAt"] for t in received)


async def test_filters_by_types_and_names(server: LiveServer) -> None:
    key = await open_shop(server)
    filters = {
        "customs": {"types": ["CUSTOM_EVENT"]},
        "sale": {"names": ["sale"]},
        "both": {"types": ["SECTION_VISITED", "CUSTOM_EVENT"], "names": ["sale", "newsletter"]},
    }
    subs = {name: Subscriber(server.ws_url, key, **f).start() for name, f in filters.items()}
    try:
        await wait_subscribed(server, len(subs))
        await track(server, "SECTION_VIEW", pageName="sale")
        await track(server, "SECTION_VIEW", pageName="home")
        await track(server, "CUSTOM", eventName="newsletter")
        await track(server, "CUSTOM", eventName="signup")
        await track(server, "CHECKOUT", orderId="sale")  # ORDER_COMPLETED named "sale"
        await track(server, "CUSTOM", eventName="sale")  # the last one matches every filter
        expected = {
            "customs": [("CUSTOM_EVENT", "newsletter"), ("CUSTOM_EVENT", "signup"),
                        ("CUSTOM_EVENT", "sale")],
            "sale": [("SECTION_VISITED", "sale"), ("ORDER_COMPLETED", "sale"),
                     ("CUSTOM_EVENT", "sale")],
            "both": [("SECTION_VISITED", "sale"), ("CUSTOM_EVENT", "newsletter"),
                     ("CUSTOM_EVENT", "sale")],
        }
        for name, sub in subs.items():
            # Delivery keeps the order of publication, so once the last matching one is
            # here, anything the filter should have dropped would have come before it.
            got = await sub.wait_for(len(expected[name]), f"{name} got its triggers")
            assert [(t["type"], t["name"]) for t in got] == expected[name], name
    finally:
        for sub in subs.values():
            await sub.stop()


async def fire(server: LiveServer, fired: list[str], stop: asyncio.Event) -> None:
    """Trigger after trigger, one at a time, until told to stop: a steady stream."""
    n = 0
    while not stop.is_set():
        result = await track(server, "SECTION_VIEW", f"v{n % 10}", pageName=f"page{n}",
                             eventId=f"e{n:04d}")
        fired.append(f"1:{result['eventId']}:SECTION_VISITED")
        n += 1
        await asyncio.sleep(0.002)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_replay_with_after_loses_and_repeats_nothing_while_triggers_keep_firing(
    protocol: str, broker_url: str
) -> None:
    async with serving(broker_url) as server:
        key = await open_shop(server)
        witness = Subscriber(server.ws_url, key, protocol=protocol).start()
        await wait_subscribed(server)
        fired: list[str] = []
        stop = asyncio.Event()
        firing = asyncio.create_task(fire(server, fired, stop))
        first = second = None
        try:
            await eventually(lambda: len(fired) >= 30, "30 triggers fired")
            # Resume after the 20th while the stream goes on: replay, then live.
            first = Subscriber(server.ws_url, key, protocol=protocol, after=fired[19]).start()
            await first.wait_for(40, "the resumed subscription caught up and went on")
            await first.stop()  # hang up mid-stream ...
            second = Subscriber(server.ws_url, key, protocol=protocol,
                                after=first.ids[-1]).start()  # ... and resume once more
            await second.wait_for(30, "the second one caught up and went on")
            stop.set()  # the stream ran all along
            await firing
            assert await log_ids(server, key) == fired  # every one stored, in order
            await second.wait_for(len(fired) - 20 - len(first.ids), "the rest arrived")
            await witness.wait_for(len(fired))
            await asyncio.sleep(0.3)  # anything repeated would show up by now
        finally:
            firing.cancel()
            for sub in (witness, first, second):
                if sub is not None:
                    await sub.stop()
    assert witness.ids == fired
    assert first.ids + second.ids == fired[20:]  # nothing lost, nothing repeated, in order
    assert first.received[0]["name"] == "page20"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_bad_key_closes_the_connection_with_a_clear_reason(
    server: LiveServer, protocol: str
) -> None:
    await open_shop(server)
    for key, reason in (("not-a-key", "the key is not valid"),
                        ("sk_1_forged", "the key is not valid"),
                        (None, "needs 'Authorization: Bearer <key>'")):
        sub = Subscriber(server.ws_url, key, protocol=protocol).start()
        await eventually(lambda sub=sub: sub.done, "the server closed the connection")
        error = sub.error
        assert error is not None and sub.received == []
        said = f"{error} {error.__cause__}"  # the close frame, or graphql-ws's connection_error
        assert "UNAUTHENTICATED" in said and reason in said, said
        if protocol == GRAPHQL_TRANSPORT_WS:
            assert "4403" in said


@pytest.mark.parametrize("protocol", [GRAPHQL_TRANSPORT_WS, GRAPHQL_WS])
async def test_a_shop_key_sees_only_its_shop(server: LiveServer, protocol: str) -> None:
    key1 = await open_shop(server, 1)
    key2 = await open_shop(server, 2)
    mine = Subscriber(server.ws_url, key1, protocol=protocol, shopId=1).start()
    theirs = Subscriber(server.ws_url, key2, protocol=protocol, shopId=2).start()
    admin = Subscriber(server.ws_url, ADMIN_KEY, protocol=protocol, shopId=2).start()
    trespass = Subscriber(server.ws_url, key1, protocol=protocol, shopId=2).start()
    try:
        await eventually(lambda: trespass.done, "the foreign subscription was refused")
        assert "FORBIDDEN" in str(trespass.error) and trespass.received == []
        await wait_subscribed(server, 1, shop_id=1)
        await wait_subscribed(server, 2, shop_id=2)
        await track(server, "SECTION_VIEW", shop_id=2, pageName="two-a")
        await track(server, "SECTION_VIEW", shop_id=1, pageName="one")
        await track(server, "SECTION_VIEW", shop_id=2, pageName="two-b")
        assert [t["name"] for t in await mine.wait_for(1)] == ["one"]
        assert [t["name"] for t in await theirs.wait_for(2)] == ["two-a", "two-b"]
        assert [t["name"] for t in await admin.wait_for(2)] == ["two-a", "two-b"]
        await track(server, "SECTION_VIEW", shop_id=1, pageName="one-b")
        await mine.wait_for(2)
    finally:
        for sub in (mine, theirs, admin):
            await sub.stop()
    assert [t["shopId"] for t in mine.received] == [1, 1]
    assert [t["shopId"] for t in theirs.received] == [2, 2]
    # Resuming is confined to the shop as well: another shop's trigger id is unknown here.
    other = Subscriber(server.ws_url, key1, protocol=protocol, shopId=1,
                       after=theirs.ids[0]).start()
    await eventually(lambda: other.done, "resuming after another shop's trigger failed")
    assert "NOT_FOUND" in str(other.error)


async def test_query_triggers_pages_newest_first(server: LiveServer) -> None:
    key = await open_shop(server)
    for n in range(7):
        await track(server, "SECTION_VIEW" if n % 2 else "CUSTOM",
                    pageName=f"s{n}", eventName=f"c{n}")
    query = """
    query($after: String, $types: [TriggerType!]) {
      triggers(shopId: 1, first: 3, after: $after, types: $types) {
        nodes { name type } pageInfo { hasNextPage endCursor } } }
    """
    pages: list[Any] = []
    after = None
    while True:
        data = (await server.graphql(query, {"after": after}, key=key))["triggers"]
        pages.append(([n["name"] for n in data["nodes"]], data["pageInfo"]["hasNextPage"]))
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert pages == [(["c6", "s5", "c4"], True), (["s3", "c2", "s1"], True), (["c0"], False)]
    data = await server.graphql(query, {"types": ["SECTION_VISITED"]}, key=key)
    assert [n["name"] for n in data["triggers"]["nodes"]] == ["s5", "s3", "s1"]
    assert data["triggers"]["pageInfo"]["hasNextPage"] is False
    # A trigger id, as a subscription's `after` takes, works as a cursor too.
    ids = await log_ids(server, key)
    data = await server.graphql(query, {"after": ids[4]}, key=key)
    assert [n["name"] for n in data["triggers"]["nodes"]] == ["s3", "c2", "s1"]
    response = await server.http.post("/graphql", headers={"authorization": f"Bearer {key}"},
                                      json={"query": query, "variables": {"after": "nope"}})
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
