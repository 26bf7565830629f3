"""The trigger feed: the stored log read page by page, and followed live.

A subscription with `after` first replays the log after that trigger, then goes
live, with no gap and no repeat (see `TriggerFeed.follow`).

What a subscription costs (issue 22): a replay or catch-up reads the log in pages of
PAGE through the index on (shop, sortKey) with its whole filter (types and names) in
the query, so a filter that matches nothing reads one empty page, not the log; on the
embedded store each page is read off the event loop (app/backends/reads.py). An idle
subscription waits on its queue and nothing else: it wakes for a trigger, or when
the broker says its state changed (`Subscription.WAKE`); only while the broker is
down does it read the log every POLL_SECONDS.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from typing import Any

from app.backends.broker import Broker, BrokerUnavailable
from app.backends.storage import Storage
from app.core import Clock, NotFound
from app.triggers.model import POSITION, channel, decode, position

PAGE = 1000  # triggers read per round trip when replaying or catching up
REMEMBERED = 10_000  # trigger ids a subscription remembers, to drop repeats
# How a subscription follows the log when the live feed may have lost something
# (Redis unreachable, its connection dropped, or a slow reader's queue overflowed):
POLL_SECONDS = 1.0  # how often it reads the log while the broker is down
LOOKBACK = timedelta(seconds=30)  # covers the time the broker needs to notice a loss
SETTLE = timedelta(seconds=5)  # covers a store in flight, and clocks of processes apart



class _Seen:
    """Trigger ids already sent on one subscription, so that it never repeats one."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, trigger_id: str) -> bool:
        if trigger_id in self._ids:
            return False
        self._ids[trigger_id] = None
        if len(self._ids) > REMEMBERED:
            self._ids.popitem(last=False)
        return True


class TriggerFeed:
    """Reading the stored log of triggers, and following it live."""

    def __init__(self, storage: Storage, broker: Broker, clock: Clock) -> None:
        self.storage = storage
        self.broker = broker
        self.clock = clock
        self.wakeups = 0  # times a live subscription woke up (tests count them)

    async def page(
        self, shop_id: int, types: list[str] | None, before: str | None, first: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, `first` of them, older than the cursor `before`.

        The cursor is a page's `endCursor` (a sort key); a trigger id works as well.
        """
        query: dict[str, Any] = {"shopId": shop_id}
        if types:
            query["type"] = {"$in": types}
        if before:
            if not POSITION.match(before):
                before = await self._anchor(shop_id, before)
            query["sortKey"] = {"$lt": before}
        docs = await self.storage.triggers.find(query).sort("sortKey", -1).limit(first + 1) \
            .to_list(first + 1)
        return docs[:first], len(docs) > first

    async def after(
        self, shop_id: int, trigger_id: str, limit: int = PAGE
    ) -> list[dict[str, Any]]:
        """Stored triggers after the given one, oldest first, at most `limit` of them."""
        anchor = await self._anchor(shop_id, trigger_id)
        return await self._since(shop_id, anchor, None, None, limit)

    async def _anchor(self, shop_id: int, trigger_id: str) -> str:
        found = await self.storage.triggers.find_one(
            {"_id": trigger_id, "shopId": shop_id}, {"sortKey": 1}
        )
        if found is None:
            raise NotFound(
                f"no trigger {trigger_id!r} in shop {shop_id} to start after; "
                "page through Query.triggers to find where to start",
                field="after",
            )
        return str(found["sortKey"])

    async def _since(
        self, shop_id: int, since: str, types: list[str] | None, names: list[str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"shopId": shop_id, "sortKey": {"$gt": since}}
        if types:
            query["type"] = {"$in": types}
        if names:
            query["name"] = {"$in": names}
        return await self.storage.triggers.find(query).sort("sortKey", 1).limit(limit) \
            .off_loop().to_list(limit)

    async def _read_since(
        self, shop_id: int, since: str, types: list[str] | None, names: list[str] | None
    ) -> AsyncIterator[dict[str, Any]]:
        while True:
            batch = await self._since(shop_id, since, types, names, PAGE)
            for doc in batch:
                yield doc
            if len(batch) < PAGE:
                return
            since = batch[-1]["sortKey"]

    async def follow(
        self, shop_id: int, after: str | None = None, *, types: list[str] | None = None,
        names: list[str] | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The shop's triggers as they fire; with `after`, first the stored ones after it.

        No gap: the live channel is subscribed before the log is read, so whatever the
        read misses was stored after it began and arrives live. Whenever the live feed may
        have lost something (the broker is down, its connection was lost and restored,
        this reader fell behind), the recent log is read again, and while the broker is
        down it is read every POLL_SECONDS, so triggers keep flowing from the log.
        No repeat: the ids already sent are remembered and dropped.
        """
        wanted_types = set(types) if types else None
        wanted_names = set(names) if names else None

        def wanted(doc: dict[str, Any]) -> bool:
            if doc.get("heldOut"):  # in its rule's holdout: stored, never pushed
                return False
            return (wanted_types is None or doc.get("type") in wanted_types) and (
                wanted_names is None or doc.get("name") in wanted_names)

        seen = _Seen()
        broker = self.broker
        async with broker.subscribe(channel(shop_id)) as live:
            epoch, dropped = broker.epoch, live.dropped
            # Where a catch-up read starts: never before this subscription began (what is
            # older is the replay's business), nor more than LOOKBACK before the moment the
            # loss was noticed (the broker wakes every subscription then), nor before the
            # last catch-up but SETTLE.
            mark = position(self.clock.now())
            if after is not None:
                async for doc in self._read_since(shop_id, await self._anchor(shop_id, after),
                                                  types, names):
                    if seen.first_time(doc["_id"]) and wanted(doc):
                        yield doc
            while True:
                now = self.clock.now()
                healthy = broker.healthy
                if not healthy or broker.epoch != epoch or live.dropped != dropped:
                    epoch, dropped = broker.epoch, live.dropped
                    since = max(mark, position(now - LOOKBACK))
                    mark = max(since, position(now - SETTLE))
                    async for doc in self._read_since(shop_id, since, types, names):
                        if seen.first_time(doc["_id"]) and wanted(doc):
                            yield doc
                try:
                    # Healthy: no timeout. A trigger, or the broker's WAKE, ends the wait.
                    message = await live.get(None if healthy else POLL_SECONDS, wake=True)
                except TimeoutError:
                    continue
                except BrokerUnavailable:
                    return  # the broker was shut down: so is this server
                finally:
                    self.wakeups += 1
                if message == live.WAKE:
                    continue
                doc = decode(message)
                if doc.get("shopId") == shop_id and seen.first_time(doc["_id"]) and wanted(doc):
                    yield doc
