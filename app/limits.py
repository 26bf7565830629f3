"""Rate limits: token buckets per client address, per visitor, and per API key.

A bucket holds up to `burst` tokens and refills at `rate` tokens a second; each
tracked event takes one token, each authenticated operation one. With
`redis://` the buckets live in Redis (one Lua script, atomic, on Redis' clock),
so every server process shares them; with `memory://` each process keeps its own.
If Redis cannot be reached, requests are let through: tracking must go on.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import RateLimited
from app.settings import Settings

log = logging.getLogger("tracker.limits")


class Buckets(ABC):
    @abstractmethod
    async def take(self, key: str, rate: float, burst: int, cost: int = 1) -> bool:
        """Take `cost` tokens from the bucket `key`; False if it holds fewer."""

    async def close(self) -> None:
        return None


class MemoryBuckets(Buckets):
    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, rate: float, burst: int, cost: int = 1) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
            self._buckets.clear()  # Full buckets for everyone is the safe way to forget.
        self._buckets[key] = (tokens, now)
        return allowed


TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', t)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed
"""


class RedisBuckets(Buckets):
    def __init__(self, url: str) -> None:
        self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._take = self._redis.register_script(TAKE)

    async def take(self, key: str, rate: float, burst: int, cost: int = 1) -> bool:
        try:
            return bool(await self._take(keys=[f"ratelimit:{key}"], args=[rate, burst, cost]))
        except (RedisError, OSError):
            log.warning("rate limits unavailable (Redis unreachable); letting requests through")
            return True

    async def close(self) -> None:
        await self._redis.aclose()


def open_buckets(url: str) -> Buckets:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBuckets()
    if scheme in {"redis", "rediss"}:
        return RedisBuckets(url)
    raise ValueError(f"unsupported rate-limit URL scheme {scheme!r} (memory:// or redis://)")


class Limiter:
    """The platform's limits, read from the settings."""

    def __init__(self, settings: Settings, buckets: Buckets) -> None:
        self.settings = settings
        self.buckets = buckets

    async def check_tracker(self, client: str, events_by_visitor: dict[str, int]) -> None:
        s = self.settings
        total = sum(events_by_visitor.values())
        if not await self.buckets.take(f"ip:{client}", s.rate_tracker_per_ip,
                                       s.burst_tracker_per_ip, total):
            raise RateLimited(f"too many events from {client}; slow down and retry later",
                              scope="client")
        for visitor, count in events_by_visitor.items():
            if not await self.buckets.take(f"visitor:{visitor}", s.rate_tracker_per_visitor,
                                           s.burst_tracker_per_visitor, count):
                raise RateLimited(f"too many events for visitor {visitor}; retry later",
                                  scope="visitor")

    async def check_key(self, key_id: str) -> None:
        s = self.settings
        if not await self.buckets.take(f"key:{key_id}", s.rate_api_per_key, s.burst_api_per_key):
            raise RateLimited("too many requests with this key; retry later", scope="key")
