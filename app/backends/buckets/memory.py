"""Token buckets in this process (`memory://`): each server process keeps its own."""

from __future__ import annotations

import time

from app.backends.buckets.base import Buckets


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
