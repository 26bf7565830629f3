"""The deliveries this process knows of, so that its sender need not look for them.

What this process queued is due at once; what it attempted and must retry is due
at a known time. The sender takes both from here, by id, and claims them like
any other (the lease decides who attempts); storage is searched for due
deliveries only now and then, for what no process remembers: those of a process
that died, or went over LIMIT. On the embedded store, a search reads every
delivery ever made, while a claim by id reads only those.
"""

from __future__ import annotations

import heapq
from collections import deque
from datetime import datetime

LIMIT = 20_000  # deliveries remembered at most; the others are found by searching


class LocalQueue:
    def __init__(self) -> None:
        self._ready: dict[str, deque[tuple[str, int]]] = {}  # endpoint -> (delivery, shop)
        self._later: list[tuple[datetime, str, int, str]] = []  # (due, delivery, shop, endpoint)
        self._ids: set[str] = set()

    def add(self, delivery_id: str, shop_id: int, endpoint_id: str,
            due: datetime | None = None) -> None:
        """Remember a delivery, due now (None) or at `due`."""
        if len(self._ids) >= LIMIT or delivery_id in self._ids:
            return
        self._ids.add(delivery_id)
        if due is None:
            self._ready.setdefault(endpoint_id, deque()).append((delivery_id, shop_id))
        else:
            heapq.heappush(self._later, (due, delivery_id, shop_id, endpoint_id))

    def take(self, now: datetime, free: int, cap: int, busy: dict[str, int]
             ) -> list[tuple[str, int, str]]:
        """Up to `free` due deliveries, at most `cap` in flight per endpoint counting `busy`
        (attempts in flight by endpoint): (delivery, shop, endpoint); they are forgotten."""
        while self._later and self._later[0][0] <= now:
            _, delivery_id, shop_id, endpoint_id = heapq.heappop(self._later)
            self._ready.setdefault(endpoint_id, deque()).append((delivery_id, shop_id))
        taken: list[tuple[str, int, str]] = []
        for endpoint_id in list(self._ready):
            if len(taken) >= free:
                break
            waiting = self._ready[endpoint_id]
            allowed = min(free - len(taken), cap - busy.get(endpoint_id, 0))
            while waiting and allowed > 0:
                delivery_id, shop_id = waiting.popleft()
                self._ids.discard(delivery_id)
                taken.append((delivery_id, shop_id, endpoint_id))
                allowed -= 1
            if not waiting:
                del self._ready[endpoint_id]
        return taken

    def next_due(self) -> datetime | None:
        """When the next remembered retry is due (None: none is); ready ones are due now."""
        return self._later[0][0] if self._later else None

    def ready(self, busy: dict[str, int] | None = None, cap: int = 1) -> bool:
        """Whether a delivery is due now (for an endpoint below `cap` in flight)."""
        return any((busy or {}).get(e, 0) < cap for e in self._ready)

    def __len__(self) -> int:
        return len(self._ids)
