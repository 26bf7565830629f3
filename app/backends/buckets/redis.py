"""Token buckets in Redis (`redis://`): one Lua script, atomic, on Redis' clock, so every
server process shares them. If Redis cannot be reached, or does not answer within
`timeout`, requests are let through (tracking must go on), and Redis is skipped
for `cooldown` seconds (app/backends/breaker.py): a hung Redis delays one request
per cooldown, not every one."""

from __future__ import annotations

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.backends.breaker import CircuitBreaker
from app.backends.buckets.base import Buckets
from app.backends.redis_urls import FAILURES, client

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
    def __init__(self, url: str, timeout: float = 0.25, cooldown: float = 5.0) -> None:
        # No retries: a retry is one more timeout for the request that waits.
        # Any Redis URL: one server, Sentinel or Cluster (the bucket's key picks its node).
        self._redis = client(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                             retry=Retry(NoBackoff(), 0))
        self._take = self._redis.register_script(TAKE)
        self.breaker = CircuitBreaker("rate limits (Redis)", cooldown)

    async def take(self, key: str, rate: float, burst: int, cost: int = 1) -> bool:
        if not self.breaker.allow():
            return True
        try:
            allowed = bool(await self._take(keys=[f"ratelimit:{key}"], args=[rate, burst, cost]))
        except FAILURES as error:
            self.breaker.failed(error)  # logs it; requests are let through meanwhile
            return True
        self.breaker.succeeded()
        return allowed

    async def close(self) -> None:
        await self._redis.aclose()
