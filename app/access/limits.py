"""Rate limits: token buckets per client address, per visitor, per API key, and for
wrong keys per client address.

Each tracked event takes one token from its client's bucket and from its visitor's
(a visitor's bucket is its shop's: the same visitor id in two shops is two
visitors); each authenticated operation one from its key's; each wrong key one
from its client's guessing bucket. The buckets live in the backend the settings
name (`app/backends/buckets`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from app.backends.buckets import Buckets
from app.core import RateLimited
from app.settings import Settings

MAX_BLOCKED = 10_000  # addresses remembered as blocked by this process


class Limiter:
    """The platform's limits, read from the settings."""

    def __init__(self, settings: Settings, buckets: Buckets) -> None:
        self.settings = settings
        self.buckets = buckets
        # client address -> until when (time.monotonic) it may not present any key
        self._blocked: dict[str, float] = {}

    async def check_tracker(self, client: str, visitors: Iterable[tuple[int, str]]) -> None:
        """One token per event from its client's bucket and from its visitor's.

        `visitors` names each event's visitor as (shop id, visitor id).
        """
        s = self.settings
        events_by_visitor = Counter(visitors)
        total = sum(events_by_visitor.values())
        if not await self.buckets.take(f"ip:{client}", s.rate_tracker_per_ip,
                                       s.burst_tracker_per_ip, total):
            raise RateLimited(f"too many events from {client}; slow down and retry later",
                              scope="client")
        for (shop_id, visitor), count in events_by_visitor.items():
            if not await self.buckets.take(f"visitor:{shop_id}:{visitor}",
                                           s.rate_tracker_per_visitor,
                                           s.burst_tracker_per_visitor, count):
                raise RateLimited(f"too many events for visitor {visitor}; retry later",
                                  scope="visitor")

    async def check_key(self, key_id: str) -> None:
        s = self.settings
        if not await self.buckets.take(f"key:{key_id}", s.rate_api_per_key, s.burst_api_per_key):
            raise RateLimited("too many requests with this key; retry later", scope="key")

    async def key_failed(self, client: str) -> None:
        """A wrong key from `client`: RateLimited once it has tried too many.

        The address is then blocked in this process until its bucket has a token
        again, so that even the right key is refused meanwhile: otherwise a blocked
        guesser would still learn which guess was right.
        """
        s = self.settings
        if await self.buckets.take(f"authfail:{client}", s.rate_auth_failures_per_ip,
                                   s.burst_auth_failures_per_ip):
            return
        if len(self._blocked) >= MAX_BLOCKED:
            self._forget_expired_blocks()
        refill = 1 / max(s.rate_auth_failures_per_ip, 1e-6)  # until the next token
        self._blocked[client] = time.monotonic() + refill
        raise self._too_many_guesses(client)

    def refuse_if_blocked(self, client: str) -> None:
        until = self._blocked.get(client)
        if until is None:
            return
        if time.monotonic() < until:
            raise self._too_many_guesses(client)
        del self._blocked[client]

    def _forget_expired_blocks(self) -> None:
        now = time.monotonic()
        self._blocked = {c: t for c, t in self._blocked.items() if t > now}
        if len(self._blocked) >= MAX_BLOCKED:
            self._blocked.clear()  # the shared buckets still hold the counts

    @staticmethod
    def _too_many_guesses(client: str) -> RateLimited:
        return RateLimited(f"too many wrong keys from {client}; retry later",
                           scope="authentication")
