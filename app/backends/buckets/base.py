"""Token buckets: the interface every rate-limit backend implements.

A bucket holds up to `burst` tokens and refills at `rate` tokens a second.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Buckets(ABC):
    @abstractmethod
    async def take(self, key: str, rate: float, burst: int, cost: int = 1) -> bool:
        """Take `cost` tokens from the bucket `key`; False if it holds fewer."""

    async def close(self) -> None:
        return None
