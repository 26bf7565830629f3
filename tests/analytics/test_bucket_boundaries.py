"""The token bucket's edges: exactly `burst` passes, one more does not, refill is `rate` a second.

Memory buckets read `time.monotonic`; the tests hand their module a fake one, so time
moves only when a test says. Redis buckets read Redis' own clock (`TIME`), which a
test cannot stop: these tests move the bucket's stored last-refill time back instead,
by whole refill periods, with a rate so slow (one token in 1000 s) that the real
time the test takes adds a negligible fraction of a token.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.access.limits import Limiter
from app.backends.buckets import open_buckets
from app.backends.buckets.memory import MemoryBuckets
from app.backends.buckets.redis import RedisBuckets
from app.platform import Platform
from app.server.asgi import create_app
from tests.support.api import with_state
from tests.support.redis_server import RedisServer

SLOW = 0.001  # tokens a second: none come back while a test runs


class FakeMonotonic:
    """Stands in for the `time` module of the memory buckets."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(sys.modules[MemoryBuckets.__module__], "time", fake)
    return fake


async def takes(buckets: Any, key: str, n: int, rate: float, burst: int) -> list[bool]:
    return [await buckets.take(key, rate, burst) for _ in range(n)]


# -- memory buckets --------------------------------------------------------------------


async def test_memory_bucket_gives_exactly_burst_one_at_a_time(ticks: FakeMonotonic) -> None:
    assert await takes(MemoryBuckets(), "k", 6, rate=1.0, burst=5) == [True] * 5 + [False]


async def test_memory_bucket_takes_a_batch_of_exactly_burst_and_refuses_one_more(
    ticks: FakeMonotonic,
) -> None:
    buckets = MemoryBuckets()
    assert await buckets.take("exact", 1.0, 5, cost=5)
    assert not await buckets.take("exact", 1.0, 5, cost=1)
    assert not await buckets.take("over", 1.0, 5, cost=6)
    assert await buckets.take("over", 1.0, 5, cost=5)  # the refused batch took nothing


async def test_memory_bucket_refills_at_exactly_its_rate_up_to_burst(
    ticks: FakeMonotonic,
) -> None:
    buckets = MemoryBuckets()
    rate, burst = 4.0, 2  # one token every 0.25 s
    assert await buckets.take("k", rate, burst, cost=2)
    assert not await buckets.take("k", rate, burst)
    ticks.now += 0.125  # half a token: not enough, and a refusal keeps the half
    assert not await buckets.take("k", rate, burst)
    ticks.now += 0.125  # exactly one token
    assert await buckets.take("k", rate, burst)
    assert not await buckets.take("k", rate, burst)
    ticks.now += 3600  # a long pause refills to burst, never beyond
    assert await takes(buckets, "k", 3, rate, burst) == [True, True, False]


# -- Redis buckets ----------------------------------------------------------------------


@pytest.fixture
async def redis_buckets(fresh_redis_server: RedisServer) -> AsyncIterator[tuple[Any, Redis]]:
    buckets = RedisBuckets(fresh_redis_server.url)
    raw = Redis.from_url(fresh_redis_server.url)
    try:
        yield buckets, raw
    finally:
        await buckets.close()
        await raw.aclose()


async def rewind(raw: Redis, key: str, seconds: float) -> None:
    """Move the bucket's last refill `seconds` into the past: as if that much time passed."""
    name = f"ratelimit:{key}"
    at = float(await raw.hget(name, "at"))
    await raw.hset(name, "at", repr(at - seconds))


async def test_redis_bucket_gives_exactly_burst_one_at_a_time(
    redis_buckets: tuple[Any, Redis],
) -> None:
    buckets, _ = redis_buckets
    assert await takes(buckets, "k", 6, rate=SLOW, burst=5) == [True] * 5 + [False]


async def test_redis_bucket_takes_a_batch_of_exactly_burst_and_refuses_one_more(
    redis_buckets: tuple[Any, Redis],
) -> None:
    buckets, _ = redis_buckets
    assert await buckets.take("exact", SLOW, 5, cost=5)
    assert not await buckets.take("exact", SLOW, 5, cost=1)
    assert not await buckets.take("over", SLOW, 5, cost=6)
    assert await buckets.take("over", SLOW, 5, cost=5)  # the refused batch took nothing


async def test_redis_bucket_refills_at_its_rate_up_to_burst(
    redis_buckets: tuple[Any, Redis],
) -> None:
    buckets, raw = redis_buckets
    period = 1 / SLOW  # seconds per token
    assert await buckets.take("k", SLOW, 2, cost=2)
    assert not await buckets.take("k", SLOW, 2)
    await rewind(raw, "k", period / 2)  # half a token: not enough, and a refusal keeps it
    assert not await buckets.take("k", SLOW, 2)
    await rewind(raw, "k", period / 2)  # the other half
    assert await buckets.take("k", SLOW, 2)
    assert not await buckets.take("k", SLOW, 2)
    await rewind(raw, "k", period * 1000)  # a long pause refills to burst, never beyond
    assert await takes(buckets, "k", 3, SLOW, 2) == [True, True, False]


# -- the tracker's limit over HTTP, on both kinds of bucket --------------------------------


@pytest.fixture(params=["memory", "redis"])
def buckets_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("fresh_redis_server")
    return server.url


async def test_a_batch_of_exactly_the_visitor_burst_is_taken_and_one_more_refused(
    platform: Platform, shop: dict[str, Any], buckets_url: str
) -> None:
    platform.settings = platform.settings.with_(
        rate_tracker_per_ip=1000, burst_tracker_per_ip=1000,
        rate_tracker_per_visitor=SLOW, burst_tracker_per_visitor=7)
    platform.limiter = Limiter(platform.settings, open_buckets(buckets_url))
    app = with_state(create_app(platform.settings, platform=platform, run_workers=False),
                     {"platform": platform})
    query = "mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }"

    def batch(visitor: str, size: int) -> dict[str, Any]:
        return {"query": query, "variables": {"e": [
            {"type": "VISIT", "context": {"shopId": 1, "visitorId": visitor,
                                          "eventId": f"{visitor}-{i}"}} for i in range(size)]}}

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as http:
            exact = await http.post("/graphql", json=batch("exact", 7))
            over = await http.post("/graphql", json=batch("over", 8))
    finally:
        await platform.limiter.buckets.close()
    assert exact.status_code == 200 and len(exact.json()["data"]["track"]) == 7
    assert over.status_code == 429
    assert over.json()["errors"][0]["extensions"]["scope"] == "visitor"
    stored = await platform.storage.events.distinct("visitorId")
    assert stored == ["exact"]
