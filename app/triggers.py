"""Triggers: stored first, then published; what failed to publish is swept up later.

Each trigger's `_id` is deterministic (the event that fired it, or the cart and
its version for an abandoned cart), so a second insert of the same trigger, by
a retry or by another server process, is a duplicate and not a second trigger.
Delivery to subscribers is at least once; `triggerId` lets them drop repeats.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError

from app.broker import Broker, BrokerUnavailable
from app.clock import Clock, to_ms, utc
from app.storage import Storage

log = logging.getLogger("tracker.triggers")

ABANDONED_CART = "ABANDONED_CART"
SECTION_VISITED = "SECTION_VISITED"
CUSTOM_EVENT = "CUSTOM_EVENT"
ORDER_COMPLETED = "ORDER_COMPLETED"
TYPES = (ABANDONED_CART, SECTION_VISITED, CUSTOM_EVENT, ORDER_COMPLETED)


def channel(shop_id: int) -> str:
    return f"triggers:{shop_id}"


def make(
    trigger_id: str, type_: str, shop_id: int, *, fired_at: datetime, visitor_id: str,
    user_id: str | None, name: str | None = None, cart: dict[str, Any] | None = None,
    properties: Any = None,
) -> dict[str, Any]:
    return {
        "_id": trigger_id,
        "type": type_,
        "shopId": shop_id,
        "userId": user_id,
        "visitorId": visitor_id,
        "name": name,
        "firedAt": fired_at,
        # Sorts the log by time, then id; the cursor for paging and replay.
        "sortKey": f"{to_ms(fired_at):013d}:{trigger_id}",
        "cart": cart,
        "properties": None if properties is None else json.dumps(properties),
        "published": False,
    }


def encode(doc: dict[str, Any]) -> str:
    """A trigger as published on the broker."""
    out = {k: v for k, v in doc.items() if k not in {"published"}}
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


class TriggerLog:
    """The stored log of triggers and their publication."""

    def __init__(self, storage: Storage, broker: Broker, clock: Clock) -> None:
        self.storage = storage
        self.broker = broker
        self.clock = clock
        self._published: list[str] = []
        self._flushing = asyncio.Lock()

    async def record(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store the triggers (dropping ones already stored), then publish the new ones."""
        if not docs:
            return []
        fresh = await self.store(docs)
        await self.publish(fresh)
        return fresh

    async def store(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            await self.storage.triggers.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            dup = {e["index"] for e in error.details["writeErrors"] if e["code"] == 11000}
            other = [e for e in error.details["writeErrors"] if e["code"] != 11000]
            if other:
                raise
            return [d for i, d in enumerate(docs) if i not in dup]
        return docs

    async def publish(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            try:
                await self.broker.publish(channel(doc["shopId"]), encode(doc))
            except BrokerUnavailable:
                # Stays unpublished in the log; the sweeper publishes it when the broker is back.
                log.warning("broker unavailable; trigger %s kept for the sweeper", doc["_id"])
                return
            self._published.append(doc["_id"])

    async def flush_published(self) -> int:
        """Mark what was published, in one write; done off the hot path."""
        async with self._flushing:
            ids, self._published = self._published, []
            if ids:
                await self.storage.triggers.update_many(
                    {"_id": {"$in": ids}}, {"$set": {"published": True}}
                )
            return len(ids)

    async def sweep(self, older_than: float = 2.0, limit: int = 1000) -> int:
        """Publish what stayed unpublished (the broker was down, or a process died)."""
        await self.flush_published()
        cutoff = self.clock.now() - timedelta(seconds=older_than)
        stale = await self.storage.triggers.find(
            {"published": False, "firedAt": {"$lte": cutoff}}
        ).sort("firedAt", 1).limit(limit).to_list(limit)
        await self.publish(stale)
        await self.flush_published()
        return len(stale)

    async def page(
        self, shop_id: int, types: list[str] | None, before: str | None, first: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first, `first` of them, older than the cursor `before` (a sort key)."""
        query: dict[str, Any] = {"shopId": shop_id}
        if types:
            query["type"] = {"$in": types}
        if before:
            query["sortKey"] = {"$lt": before}
        docs = await self.storage.triggers.find(query).sort("sortKey", -1).limit(first + 1) \
            .to_list(first + 1)
        return docs[:first], len(docs) > first

    async def after(self, shop_id: int, trigger_id: str, limit: int = 10_000) -> list[dict]:
        """Stored triggers after the given one, oldest first (for replay)."""
        anchor = await self.storage.triggers.find_one({"_id": trigger_id, "shopId": shop_id})
        if anchor is None:
            return []
        return await self.storage.triggers.find(
            {"shopId": shop_id, "sortKey": {"$gt": anchor["sortKey"]}}
        ).sort("sortKey", 1).limit(limit).to_list(limit)
