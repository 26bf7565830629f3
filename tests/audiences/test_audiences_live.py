"""Audiences over real HTTP and real WebSockets, with the workers running on the wall clock.

A shop with a half-life of seconds: a customer's exit arrives on a subscription by itself,
within the contract's 5 s of the moment computed from what the enter trigger said; and
two server processes on one store and one real Redis fire 200 exits due at once exactly
200 times.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from app.backends.storage import Storage
from tests.support.live import (
    LiveServer,
    Subscriber,
    hear_the_same,
    open_shop,
    serving,
    track,
    wait_subscribed,
)
from tests.support.redis_server import RedisServer
from tests.triggers.test_scale_out import both_subscribed, storage  # noqa: F401 (a fixture)

AUDIENCE_TRIGGERS = """
subscription($shopId: Int!, $types: [TriggerType!], $after: ID) {
  triggers(shopId: $shopId, types: $types, after: $after) {
    triggerId type userId name audienceId score firedAt properties
  }
}
"""
BOTH = ["AUDIENCE_ENTERED", "AUDIENCE_EXITED"]
CONTRACT_WAIT = timedelta(seconds=5)


async def audience_shop(server: LiveServer, half_life: int, min_score: float) -> tuple[str, str]:
    """A shop with this half-life and one audience over product p1; its key and the id."""
    key = await open_shop(server)
    await server.graphql("mutation($h: Int!) { updateShopSettings(shopId: 1, settings: "
                         "{interestHalfLifeSeconds: $h}) { shopId } }", {"h": half_life}, key)
    data = await server.graphql(
        "mutation($m: Float!) { createAudience(shopId: 1, audience: {title: \"p1 fans\", "
        "productId: \"p1\", minScore: $m}) { audienceId } }", {"m": min_score}, key)
    return key, data["createAudience"]["audienceId"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


async def test_the_exit_arrives_by_itself_within_5_s_of_the_computed_moment() -> None:
    half_life, min_score = 2, 1.5
    async with serving() as server:
        key, aid = await audience_shop(server, half_life, min_score)
        sub = Subscriber(server.ws_url, key, query=AUDIENCE_TRIGGERS, types=BOTH).start()
        try:
            await wait_subscribed(server)
            await track(server, "LOGIN", userId="u1")
            await track(server, "PRODUCT_VIEW", categoryId="c1", productId="p1")  # score 2
            entered, exited = await sub.wait_for(2)  # nothing more is sent meanwhile
            # Stored like any trigger: a subscriber resuming after the entry gets the exit.
            replay = Subscriber(server.ws_url, key, query=AUDIENCE_TRIGGERS, types=BOTH,
                                after=entered["triggerId"]).start()
            try:
                assert (await replay.wait_for(1))[0] == exited
            finally:
                await replay.stop()
        finally:
            await sub.stop()
        assert (entered["type"], entered["audienceId"], entered["name"], entered["userId"]) == (
            "AUDIENCE_ENTERED", aid, aid, "u1")
        assert (exited["type"], exited["audienceId"], exited["userId"]) == (
            "AUDIENCE_EXITED", aid, "u1")
        # When the score the enter trigger reported decays to minScore:
        computed = at(entered["firedAt"]) + timedelta(
            seconds=half_life * math.log2(entered["score"] / min_score))
        assert abs(at(exited["properties"]["exitAt"]) - computed) <= timedelta(milliseconds=2)
        assert computed <= at(exited["firedAt"]) <= computed + CONTRACT_WAIT
        elapsed = (at(exited["firedAt"]) - at(entered["firedAt"])).total_seconds()
        assert math.isclose(exited["score"], entered["score"] * 2 ** (-elapsed / half_life),
                            rel_tol=1e-6)
        assert exited["score"] < min_score


async def import_views(server: LiveServer, key: str, first: int, count: int,
                       occurred_at: datetime) -> None:
    """`count` customers log in and view p1, all at the same moment (so the same score)."""
    events: list[dict[str, Any]] = []
    for n in range(first, first + count):
        context = {"shopId": 1, "visitorId": f"v{n}", "occurredAt": occurred_at.isoformat()}
        events += [{"type": "LOGIN", "context": context, "userId": f"u{n}"},
                   {"type": "PRODUCT_VIEW", "context": context, "categoryId": "c1",
                    "productId": "p1"}]
    for start in range(0, len(events), 100):
        data = await server.graphql(
            "mutation($e: [TrackInput!]!) { importEvents(shopId: 1, events: $e) { eventId } }",
            {"e": events[start:start + 100]}, key)
        assert all(data["importEvents"])


async def stored_exits(server: LiveServer, key: str) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        data = await server.graphql(
            "query($after: String) { triggers(shopId: 1, types: [AUDIENCE_EXITED], first: 100,"
            " after: $after) { nodes { triggerId } pageInfo { hasNextPage endCursor } } }",
            {"after": after}, key)
        ids += [n["triggerId"] for n in data["triggers"]["nodes"]]
        if not data["triggers"]["pageInfo"]["hasNextPage"]:
            return ids
        after = data["triggers"]["pageInfo"]["endCursor"]


async def test_200_exits_due_at_once_fire_exactly_200_triggers_across_two_processes(
    redis_server: RedisServer, storage: Storage  # noqa: F811
) -> None:
    half_life, min_score = 8, 1.0  # a view scores 2: every exit is due 8 s after the views
    async with serving(redis_server.url, storage) as a, \
            serving(redis_server.url, storage) as b:
        key, _ = await audience_shop(a, half_life, min_score)
        on_a = Subscriber(a.ws_url, key, query=AUDIENCE_TRIGGERS, types=["AUDIENCE_EXITED"])
        on_b = Subscriber(b.ws_url, key, query=AUDIENCE_TRIGGERS, types=["AUDIENCE_EXITED"])
        on_a.start()
        on_b.start()
        moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

        async def fire() -> None:
            await both_subscribed(a, b)
            await asyncio.gather(import_views(a, key, 0, 100, moment),
                                 import_views(b, key, 100, 100, moment))

        await hear_the_same([on_a, on_b], 200, fire)
        due = moment + timedelta(seconds=half_life * math.log2(2 / min_score))
        assert all(due <= at(t["firedAt"]) <= due + CONTRACT_WAIT for t in on_a.received)
        assert len(set(await stored_exits(a, key))) == 200
