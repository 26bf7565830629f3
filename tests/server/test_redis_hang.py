"""A hung Redis (SIGSTOP: connections stay open, nothing answers) must not hold
requests up (issue 12, item 12).

No stopwatch here: a request that waits for Redis is one that asks Redis. So the
test counts: while Redis is frozen, the rate limiter and the broker each ask it
once, find it does not answer in time, and skip it until the cooldown is over.
How long a request takes meanwhile is measured in `bench/redis_hang.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.live import DEADLINE, eventually, open_shop, serving
from tests.support.redis_server import RedisServer

CUSTOM = ('mutation($c: TrackContext!) { trackEvent(context: $c, eventName: "promo") '
          "{ eventId } }")


class Monotonic:
    """A clock for the circuit breakers that the test moves on."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


async def test_a_hung_redis_is_asked_once_then_skipped(
    fresh_redis_server: RedisServer,
) -> None:
    redis = fresh_redis_server
    async with serving(redis.url, redis_cooldown_seconds=600) as server:
        platform: Any = server.platform
        await open_shop(server)
        await eventually(lambda: platform.broker.healthy, "the broker connected")
        limits, publishing = platform.limiter.buckets.breaker, platform.broker.breaker
        clock = limits.clock = publishing.clock = Monotonic()
        before = limits.attempts

        redis.pause()
        try:
            answers = [await server.graphql(CUSTOM, {"c": {"shopId": 1, "visitorId": f"v{i}"}})
                       for i in range(5)]
        finally:
            redis.resume()

        # Every event was tracked; each takes a token from two buckets (client, visitor).
        assert all(a["trackEvent"]["eventId"] for a in answers)
        assert limits.attempts - before == 1 and limits.failures == 1
        assert limits.skipped == 2 * 5 - 1
        assert publishing.failures == 1  # the first trigger's publish; later ones kept back
        assert not limits.closed and not publishing.closed
        stored = await platform.storage.triggers.count_documents({"published": False})
        assert stored == 5

        # After the cooldown Redis is asked again, answers, and the stored triggers go out.
        clock.offset += 600
        await server.graphql(CUSTOM, {"c": {"shopId": 1, "visitorId": "after"}})
        assert limits.closed and limits.attempts - before == 3
        await eventually(lambda: publishing.closed, "publishing resumed")

        async def all_published() -> bool:
            return await platform.storage.triggers.count_documents({"published": False}) == 0

        await eventually_async(all_published, "the sweeper published what was kept back")


async def eventually_async(condition: Any, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not await condition():
        assert time.monotonic() < end, f"gave up waiting until {what}"
        await asyncio.sleep(0.05)
