"""Rate limits: token buckets per client address, per visitor, and per API key.

Each tracked event takes one token from its client's and its visitor's bucket,
each authenticated operation one from its key's. The buckets live in the
backend the settings name (`app/backends/buckets`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from app.backends.buckets import Buckets
from app.errors import RateLimited
from app.settings import Settings


class Limiter:
    """The platform's limits, read from the settings."""

    def __init__(self, settings: Settings, buckets: Buckets) -> None:
        self.settings = settings
        self.buckets = buckets

    async def check_tracker(self, client: str, visitor_ids: Iterable[str]) -> None:
        """One token per event from its client's bucket and from its visitor's."""
        s = self.settings
        events_by_visitor = Counter(visitor_ids)
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
