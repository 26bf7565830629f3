"""Triggers: stored first, then published; what failed to publish is swept up later.

Each trigger's `_id` is deterministic (the event that fired it, or the cart and
its version for an abandoned cart), so a second insert of the same trigger, by
a retry or by another server process, is a duplicate and not a second trigger.
Delivery to subscribers is at least once; `triggerId` lets them drop repeats.

The log is ordered by `sortKey`, a position the storing process assigns at
insert time (its clock in ms x 1000, plus a counter, never going backwards),
followed by the id. Replay with `after` and the paging of `Query.triggers` use
it, so a trigger stored later never sorts before one stored earlier in the same
process, whatever the event time (`firedAt`) it carries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError

from app.broker import Broker, BrokerUnavailable
from app.clock import Clock, to_ms, utc
from app.errors import NotFound
from app.storage import Storage

log = logging.getLogger("tracker.triggers")

ABANDONED_CART = "ABANDONED_CART"
SECTION_VISITED = "SECTION_VISITED"
CUSTOM_EVENT = "CUSTOM_EVENT"
ORDER_COMPLETED = "ORDER_COMPLETED"
TYPES = (ABANDONED_CART, SECTION_VISITED, CUSTOM_EVENT, ORDER_COMPLETED)

PAGE = 1000  # triggers read per round trip when replaying or catching up
REMEMBERED = 10_000  # trigger ids a subscription remembers, to drop repeats
# How a subscription follows the log when the live feed may have lost something
# (Redis unreachable, its connection dropped, or a slow reader's queue overflowed):
CHECK_SECONDS = 0.5  # how often it looks at the broker's state (no I/O)
POLL_SECONDS = 1.0  # how often it reads the log while the broker is down
LOOKBACK = timedelta(seconds=30)  # covers the time the broker needs to notice a loss
SETTLE = timedelta(seconds=5)  # covers a store in flight, and clocks of processes apart
QUIET = timedelta(seconds=1)  # after a failed publish, leave publishing to the sweeper


def channel(shop_id: int) -> str:
    return f"triggers:{shop_id}"


def make(
    trigger_id: str, type_: str, shop_id: int, *, fired_at: datetime, visitor_id: str,
    user_id: str | None, name: str | None = None, cart: dict[str, Any] | None = None,
    properties: Any = None,
) -> dict[str, Any]:
    """A trigger document; `TriggerLog.store` gives it its place in the log."""
    return {
        "_id": trigger_id,
        "type": type_,
        "shopId": shop_id,
        "userId": user_id,
        "visitorId": visitor_id,
        "name": name,
        "firedAt": fired_at,
        "cart": cart,
        "properties": None if properties is None else json.dumps(properties),
        "published": False,
    }


def encode(doc: dict[str, Any]) -> str:
    """A trigger as published on the broker."""
    out = {k: v for k, v in doc.items() if k not in {"published", "storedAt"}}
    return json.dumps(out, default=_json_default, separators=(",", ":"))


def decode(message: str) -> dict[str, Any]:
    doc = json.loads(message)
    doc["firedAt"] = utc(datetime.fromisoformat(doc["firedAt"]))
    cart = doc.get("cart")
    if cart:
        for item in cart.get("items", []):
            if isinstance(item.get("addedAt"), str):
                item["addedAt"] = utc(datetime.fromisoformat(item["addedAt"]))
        if isinstance(cart.get("updatedAt"), str):
            cart["updatedAt"] = utc(datetime.fromisoformat(cart["updatedAt"]))
    return doc


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    raise TypeError(type(value).__name__)


_POSITION = re.compile(r"^\d{17}:")


def position(at: datetime) -> str:
    """The log position of time `at`: every trigger stored later sorts after it."""
    return f"{to_ms(at) * 1000:017d}"


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


class TriggerLog:
    """The stored log of triggers, their publication, and following it live."""

    def __init__(self, storage: Storage, broker: Broker, clock: Clock) -> None:
        self.storage = storage
        self.broker = broker
        self.clock = clock
        self._published: list[str] = []
        self._flushing = asyncio.Lock()
        self._writing = asyncio.Lock()
        self._waiting: list[tuple[list[dict[str, Any]], asyncio.Future[list[dict[str, Any]]]]] = []
        self._last_position = 0
        self._quiet_until = datetime.min.replace(tzinfo=UTC)  # no publishing before this

    # -- writing -----------------------------------------------------------------

    async def record(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store the triggers (dropping ones already stored), then publish the new ones.

        Returns the new ones. Calls running at the same time are written together
        (group commit): one caller at a time places every waiting trigger in the log,
        inserts them in one round trip and publishes them in that order, so within a
        process the order subscribers hear triggers in is the order of the log.
        """
        if not docs:
            return []
        # Shielded: a caller that goes away (a client hanging up) must not take with it the
        # triggers of events already stored, nor those of the callers written together.
        return await asyncio.shield(self._record(docs))

    async def _record(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._waiting.append((docs, done))
        async with self._writing:
            if not done.done():
                batch, self._waiting = self._waiting, []
                try:
                    await self._write(batch)
                except BaseException as error:
                    for _, waiting in batch:
                        if not waiting.done():
                            waiting.set_exception(error)
                    raise
        return done.result()

    async def store(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store without publishing (the sweeper will); returns those not stored before."""
        if not docs:
            return []
        async with self._writing:
            return await self._insert(docs)

    async def _write(
        self, batch: list[tuple[list[dict[str, Any]], asyncio.Future[list[dict[str, Any]]]]]
    ) -> None:
        fresh = {id(doc) for doc in await self._insert([d for docs, _ in batch for d in docs])}
        news = [[doc for doc in docs if id(doc) in fresh] for docs, _ in batch]
        await self.publish([doc for docs in news for doc in docs])
        for (_, waiting), mine in zip(batch, news, strict=True):
            if not waiting.done():
                waiting.set_result(mine)

    async def _insert(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = self.clock.now()
        for doc in docs:
            self._last_position = max(self._last_position + 1, to_ms(now) * 1000)
            doc["sortKey"] = f"{self._last_position:017d}:{doc['_id']}"
            doc["storedAt"] = now
        try:
            await self.storage.triggers.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            dup = {e["index"] for e in error.details["writeErrors"] if e["code"] == 11000}
            if len(dup) < len(error.details["writeErrors"]):
                raise
            return [d for i, d in enumerate(docs) if i not in dup]
        return docs

    async def publish(self, docs: list[dict[str, Any]]) -> bool:
        """Publish stored triggers; False if the broker is down (the sweeper retries)."""
        if not docs:
            return True
        if not self.broker.healthy or self.clock.now() < self._quiet_until:
            # Known to be down: do not make the request that tracked the event wait for a
            # timeout. The triggers stay unpublished in the log for the sweeper.
            return False
        for doc in docs:
            try:
                await self.broker.publish(channel(doc["shopId"]), encode(doc))
            except BrokerUnavailable as error:
                # A hung Redis fails only after a timeout: spare the next callers that wait.
                self._quiet_until = self.clock.now() + QUIET
                log.warning("broker unavailable, %d trigger(s) kept for the sweeper: %s",
                            len(docs) - docs.index(doc), error)
                return False
            self._published.append(doc["_id"])
        return True

    async def flush_published(self) -> int:
        """Mark what was published, in one write; done off the hot path."""
        async with self._flushing:
            ids, self._published = self._published, []
            if ids:
                try:
                    await self.storage.triggers.update_many(
                        {"_id": {"$in": ids}}, {"$set": {"published": True}}
                    )
                except BaseException:
                    self._published.extend(ids)  # try again next time
                    raise
            return len(ids)

    async def sweep(self, older_than: float = 2.0, limit: int = PAGE) -> int:
        """Publish what stayed unpublished (the broker was down, or a process died).

        Only triggers fired at least `older_than` seconds ago: younger ones are most likely
        being published by the process that stored them right now. Returns how many were
        published.
        """
        await self.flush_published()
        cutoff = self.clock.now() - timedelta(seconds=older_than)
        total = 0
        while self.broker.healthy:
            stale = await self.storage.triggers.find(
                {"published": False, "firedAt": {"$lte": cutoff}}
            ).sort("firedAt", 1).limit(limit).to_list(limit)
            if not stale:
                break
            ok = await self.publish(stale)
            total += await self.flush_published()
            if not ok or len(stale) < limit:
                break
        return total

    # -- reading -----------------------------------------------------------------

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
            if not _POSITION.match(before):
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
        return await self._since(shop_id, anchor, None, limit)

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
        self, shop_id: int, since: str, types: list[str] | None, limit: int
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"shopId": shop_id, "sortKey": {"$gt": since}}
        if types:
            query["type"] = {"$in": types}
        return await self.storage.triggers.find(query).sort("sortKey", 1).limit(limit) \
            .to_list(limit)

    async def _read_since(
        self, shop_id: int, since: str, types: list[str] | None
    ) -> AsyncIterator[dict[str, Any]]:
        while True:
            batch = await self._since(shop_id, since, types, PAGE)
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
            return (wanted_types is None or doc.get("type") in wanted_types) and (
                wanted_names is None or doc.get("name") in wanted_names)

        seen = _Seen()
        broker = self.broker
        async with broker.subscribe(channel(shop_id)) as live:
            epoch, dropped = broker.epoch, live.dropped
            # Where a catch-up read starts: never before this subscription began (what is
            # older is the replay's business), at most LOOKBACK before the last check.
            mark = position(self.clock.now())
            if after is not None:
                async for doc in self._read_since(shop_id, await self._anchor(shop_id, after),
                                                  types):
                    if seen.first_time(doc["_id"]) and wanted(doc):
                        yield doc
            while True:
                now = self.clock.now()
                healthy = broker.healthy
                if not healthy or broker.epoch != epoch or live.dropped != dropped:
                    epoch, dropped = broker.epoch, live.dropped
                    since, mark = mark, max(mark, position(now - SETTLE))
                    async for doc in self._read_since(shop_id, since, types):
                        if seen.first_time(doc["_id"]) and wanted(doc):
                            yield doc
                else:
                    mark = max(mark, position(now - LOOKBACK))
                try:
                    message = await live.get(CHECK_SECONDS if healthy else POLL_SECONDS)
                except TimeoutError:
                    continue
                except BrokerUnavailable:
                    return  # the broker was shut down: so is this server
                doc = decode(message)
                if doc.get("shopId") == shop_id and seen.first_time(doc["_id"]) and wanted(doc):
                    yield doc
