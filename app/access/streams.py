"""Open WebSocket connections and trigger subscriptions, counted per key (issue 22).

A key holds at most `max_connections_per_key` WebSocket connections and
`max_subscriptions_per_key` subscriptions in a server process; one more is refused
with RATE_LIMITED (`scope` "connections" or "subscriptions"): a connection at
`connection_init` (close 4403 / `connection_error`, as a refused key), a
subscription as its error. Closing gives the share back at once.

Why per process: a key's streams are held by the process they connect to, and what
they cost there (memory, tasks) is what is bounded; behind a load balancer a key may
hold that many on each process. Invariant: a count is taken only once the stream is
admitted and given back exactly once (`release` after a successful `admit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.core import RateLimited


class Streams:
    def __init__(self, max_connections: int, max_subscriptions: int) -> None:
        self.limits = {"connections": max_connections, "subscriptions": max_subscriptions}
        self._held: dict[tuple[str, str], int] = {}

    def held(self, kind: str, key_id: str) -> int:
        return self._held.get((kind, key_id), 0)

    def admit(self, kind: str, key_id: str) -> None:
        """Count one more stream of `kind` for the key; RateLimited at its bound."""
        limit = self.limits[kind]
        if self.held(kind, key_id) >= limit:
            raise RateLimited(f"this key holds {limit} {kind} already, the most it may; "
                              f"close one first", scope=kind, limit=limit)
        self._held[(kind, key_id)] = self.held(kind, key_id) + 1

    def release(self, kind: str, key_id: str) -> None:
        left = self.held(kind, key_id) - 1
        if left > 0:
            self._held[(kind, key_id)] = left
        else:
            self._held.pop((kind, key_id), None)

    @contextmanager
    def holding(self, kind: str, key_id: str) -> Iterator[None]:
        self.admit(kind, key_id)
        try:
            yield
        finally:
            self.release(kind, key_id)
