"""The deliveries this process knows of, so that its sender need not look for them.

What this process queued is due at once; what it attempted and must retry is due
at a known time. The sender takes both from here, by id, and claims them like
any other (the lease decides who attempts); storage is searched for due
deliveries only now and then, for what no process remembers: those of a process
that died, or went over LIMIT. On the embedded store, a search reads every
delivery ever made, while a claim by id reads only those.

Fair across shops (issue 22): deliveries wait per shop, then per endpoint, and `take`
serves them round-robin, one per shop per round and the endpoints of a shop in
turn, each shop within its bound of attempts in flight. A shop with thousands of
deliveries, or endpoints that hang, cannot push another shop's delivery back
behind its own: that one goes in the next round.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from datetime import datetime

LIMIT = 20_000  # deliveries remembered at most; the others are found by searching


class InFlight:
    """Attempts in flight, per endpoint and per shop, and their bounds."""

    def __init__(self, per_endpoint: int, per_shop: int) -> None:
        self.cap, self.shop_cap = per_endpoint, per_shop
        self.endpoints: dict[str, int] = {}
        self.shops: dict[int, int] = {}

    def started(self, shop_id: int, endpoint_id: str) -> None:
        self.endpoints[endpoint_id] = self.endpoints.get(endpoint_id, 0) + 1
        self.shops[shop_id] = self.shops.get(shop_id, 0) + 1

    def ended(self, shop_id: int, endpoint_id: str) -> None:
        self.endpoints[endpoint_id] -= 1
        if not self.endpoints[endpoint_id]:
            del self.endpoints[endpoint_id]
        self.shops[shop_id] -= 1
        if not self.shops[shop_id]:
            del self.shops[shop_id]

    def full(self) -> dict[str, object]:
        """A filter leaving out the endpoints and shops at their bound."""
        endpoints = [e for e, n in self.endpoints.items() if n >= self.cap]
        shops = [s for s, n in self.shops.items() if n >= self.shop_cap]
        return ({"endpointId": {"$nin": endpoints}} if endpoints else {}) | (
            {"shopId": {"$nin": shops}} if shops else {})


class LocalQueue:
    def __init__(self) -> None:
        # shop -> endpoint -> deliveries due now; both in the order they are served next
        self._ready: OrderedDict[int, OrderedDict[str, deque[str]]] = OrderedDict()
        self._later: list[tuple[datetime, str, int, str]] = []  # (due, delivery, shop, endpoint)
        self._ids: set[str] = set()

    def add(self, delivery_id: str, shop_id: int, endpoint_id: str,
            due: datetime | None = None) -> None:
        """Remember a delivery, due now (None) or at `due`."""
        if len(self._ids) >= LIMIT or delivery_id in self._ids:
            return
        self._ids.add(delivery_id)
        if due is None:
            self._push(delivery_id, shop_id, endpoint_id)
        else:
            heapq.heappush(self._later, (due, delivery_id, shop_id, endpoint_id))

    def _push(self, delivery_id: str, shop_id: int, endpoint_id: str) -> None:
        endpoints = self._ready.setdefault(shop_id, OrderedDict())
        endpoints.setdefault(endpoint_id, deque()).append(delivery_id)

    def take(self, now: datetime, free: int, flight: InFlight) -> list[tuple[str, int, str]]:
        """Up to `free` due deliveries, round-robin across shops, within the bounds of
        `flight`: (delivery, shop, endpoint); they are forgotten."""
        while self._later and self._later[0][0] <= now:
            _, delivery_id, shop_id, endpoint_id = heapq.heappop(self._later)
            self._push(delivery_id, shop_id, endpoint_id)
        busy, shops = dict(flight.endpoints), dict(flight.shops)
        cap, shop_cap = flight.cap, flight.shop_cap
        taken: list[tuple[str, int, str]] = []
        progress = True
        while progress and len(taken) < free:
            progress = False
            for shop_id in list(self._ready):  # a round: one delivery per shop
                if len(taken) >= free:
                    break
                if shops.get(shop_id, 0) >= shop_cap:
                    continue
                one = self._take_one(shop_id, cap, busy)
                if one is None:
                    continue
                taken.append(one)
                shops[shop_id] = shops.get(shop_id, 0) + 1
                progress = True
                if shop_id in self._ready:
                    self._ready.move_to_end(shop_id)  # served: the others come first
        return taken

    def _take_one(self, shop_id: int, cap: int, busy: dict[str, int]
                  ) -> tuple[str, int, str] | None:
        """The next delivery of the shop's next endpoint below `cap`, if any."""
        endpoints = self._ready[shop_id]
        for endpoint_id, waiting in endpoints.items():
            if busy.get(endpoint_id, 0) >= cap:
                continue
            delivery_id = waiting.popleft()
            self._ids.discard(delivery_id)
            busy[endpoint_id] = busy.get(endpoint_id, 0) + 1
            if waiting:
                endpoints.move_to_end(endpoint_id)
            else:
                del endpoints[endpoint_id]
            if not endpoints:
                del self._ready[shop_id]
            return delivery_id, shop_id, endpoint_id
        return None

    def next_due(self) -> datetime | None:
        """When the next remembered retry is due (None: none is); ready ones are due now."""
        return self._later[0][0] if self._later else None

    def ready(self, flight: InFlight | None = None) -> bool:
        """Whether a delivery is due now (within the bounds of `flight`, if given)."""
        if flight is None:
            return bool(self._ready)
        return any(flight.shops.get(s, 0) < flight.shop_cap
                   and any(flight.endpoints.get(e, 0) < flight.cap for e in endpoints)
                   for s, endpoints in self._ready.items())

    def __len__(self) -> int:
        return len(self._ids)
