"""Token buckets in Redis (`redis://`): one Lua script, atomic, on Redis' clock, so every
server process shares them. If Redis cannot be reached, requests are let through:
tracking must go on."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.backends.buckets.base import Buckets

log = logging.getLogger("tracker.limits")

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
