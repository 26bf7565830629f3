"""The trigger outbox: triggers are stored first, then published; what failed to publish
is swept up later. Delivery to subscribers is at least once; `triggerId` lets them
drop repeats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateMany
from pymongo.errors import BulkWriteError

from app.backends.broker import Broker, BrokerUnavailable
from app.backends.metrics import TRIGGERS
from app.backends.storage import Storage
from app.core import Clock, to_ms
from app.triggers.model import channel, encode
from app.webhooks import Webhooks

log = logging.getLogger("tracker.triggers")

PAGE = 1000  # unpublished triggers read per round trip by the sweeper
QUIET = timedelta(seconds=1)  # after a failed publish, leave publishing to the sweeper


class Outbox:
    """Stores triggers in the log and publishes them on the broker."""

    def __init__(self, storage: Storage, broker: Broker, clock: Clock,
                 webhooks: Webhooks | None = None,
                 enrich: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None
                 ) -> None:
        self.storage = storage
        # Adds what a trigger carries besides what fired it (the catalog's product data,
        # app/catalog/), once, before it is stored: the log, the broker and webhooks agree.
        self.enrich = enrich
        self.broker = broker
        self.clock = clock
        self.webhooks = webhooks  # its deliveries are queued in the step that stores triggers
        self._published: list[tuple[int, str]] = []  # (shop, trigger id) to mark
        self._flushing = asyncio.Lock()
        self._writing = asyncio.Lock()
        self._waiting: list[tuple[list[dict[str, Any]], asyncio.Future[list[dict[str, Any]]]]] = []
        self._last_position = 0
        self._quiet_until = datetime.min.replace(tzinfo=UTC)  # no publishing before this

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
                        if not waiting.done() and waiting is not done:  # ours: raised here
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
        # A held-out trigger (app/triggers/holdout.py) is stored, neither published nor queued.
        await self.publish([d for docs in news for d in docs if not d.get("heldOut")])
        for (_, waiting), mine in zip(batch, news, strict=True):
            if not waiting.done():
                waiting.set_result(mine)

    async def _insert(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.enrich is not None:
            await self.enrich(docs)
        now = self.clock.now()
        for doc in docs:
            self._last_position = max(self._last_position + 1, to_ms(now) * 1000)
            doc["sortKey"] = f"{self._last_position:017d}:{doc['_id']}"
            doc["storedAt"] = now
        fresh = docs
        try:
            await self.storage.triggers.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            dup = {e["index"] for e in error.details["writeErrors"] if e["code"] == 11000}
            if len(dup) < len(error.details["writeErrors"]):
                raise
            fresh = [d for i, d in enumerate(docs) if i not in dup]
        for doc in fresh:  # fired once, however often a retry stores it again
            TRIGGERS.labels(doc["type"]).inc()
        if self.webhooks is not None:
            # Before anything is published, and for the duplicates too: a retry after a
            # crash between the two inserts queues what the first try did not.
            await self.webhooks.queue([d for d in docs if not d.get("heldOut")])
        return fresh

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
            self._published.append((doc["shopId"], doc["_id"]))
        return True

    async def flush_published(self) -> int:
        """Mark what was published, in one write; done off the hot path."""
        async with self._flushing:
            ids, self._published = self._published, []
            if ids:
                by_shop: dict[int, list[str]] = {}
                for shop_id, trigger_id in ids:
                    by_shop.setdefault(shop_id, []).append(trigger_id)
                # One write per shop (each routed to its shard), all in one round trip.
                marks = [UpdateMany({"shopId": shop_id, "_id": {"$in": mine}},
                                    {"$set": {"published": True}})
                         for shop_id, mine in by_shop.items()]
                try:
                    await self.storage.triggers.bulk_write(marks, ordered=False)
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
            # A scan of every shop's log on the embedded store: off its event loop.
            stale = await self.storage.triggers.find(
                {"published": False, "firedAt": {"$lte": cutoff}}
            ).sort("firedAt", 1).limit(limit).off_loop().to_list(limit)
            if not stale:
                break
            if self.webhooks is not None:
                await self.webhooks.queue(stale)  # in case the process died before it did
            ok = await self.publish(stale)
            total += await self.flush_published()
            if not ok or len(stale) < limit:
                break
        return total

