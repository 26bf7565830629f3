"""The delivery log (`webhookDeliveries`) and replay (`redeliverWebhooks`).

The log is newest first by the time a delivery was queued (or queued again), and
its cursor names the last delivery seen by that time and its id, so a page stays
right while deliveries are added.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from app.backends.storage import duplicate_indexes
from app.core import BadInput, NotFound, b64, utc
from app.webhooks.endpoints import NEVER, PENDING, Webhooks, delivery_id, matches

REPLAY_PAGE = 1000  # triggers read, and deliveries written, per round trip of a replay


def _cursor(doc: dict[str, Any]) -> str:
    raw = json.dumps([utc(doc["createdAt"]).isoformat(), doc["_id"]], separators=(",", ":"))
    return b64.encode(raw.encode())


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        at, doc_id = json.loads(b64.decode(cursor))
        return utc(datetime.fromisoformat(at)), str(doc_id)
    except Exception:
        raise BadInput("after is not a cursor this API gave out", field="after") from None


async def page(
    webhooks: Webhooks, shop_id: int, endpoint_id: str | None, statuses: list[str] | None,
    first: int, after: str | None,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """A page of the shop's deliveries, newest first: (nodes, hasNextPage, endCursor)."""
    query: dict[str, Any] = {"shopId": shop_id}
    if endpoint_id is not None:
        query["endpointId"] = endpoint_id
    if statuses:
        query["status"] = {"$in": statuses}
    if after:
        at, last_id = _decode(after)
        # The bound beside the $or lets the scan start at the cursor.
        query["createdAt"] = {"$lte": at}
        query["$or"] = [{"createdAt": {"$lt": at}}, {"createdAt": at, "_id": {"$lt": last_id}}]
    docs = await webhooks.storage.webhook_deliveries.find(query).sort(
        [("createdAt", -1), ("_id", -1)]).limit(first + 1).to_list(first + 1)
    nodes = docs[:first]
    return nodes, len(docs) > first, _cursor(nodes[-1]) if nodes else None


async def redeliver(webhooks: Webhooks, shop_id: int, endpoint_id: str,
                    after: str | None) -> int:
    """Queue again, for this endpoint, every stored trigger after `after` (all without it)
    that the endpoint takes; how many were queued.

    A delivery already there starts over (status PENDING, attempts 0); the
    `webhook-id` stays the trigger id, so a receiver that has it drops the repeat.
    """
    endpoint = await webhooks.get(shop_id, endpoint_id)
    if not endpoint.get("enabled"):
        raise BadInput("the endpoint is disabled; enable it first", field="endpointId")
    storage = webhooks.storage
    since = ""
    if after is not None:
        anchor = await storage.triggers.find_one({"_id": after, "shopId": shop_id},
                                                 {"sortKey": 1})
        if anchor is None:
            raise NotFound(f"no trigger {after!r} in shop {shop_id} to start after",
                           field="after")
        since = anchor["sortKey"]
    total = 0
    while True:
        batch = await storage.triggers.find(
            {"shopId": shop_id, "sortKey": {"$gt": since}},
            {"_id": 1, "type": 1, "name": 1, "sortKey": 1},
        ).sort("sortKey", 1).limit(REPLAY_PAGE).to_list(REPLAY_PAGE)
        now = webhooks.clock.now()
        ops = [_requeue(t["_id"], shop_id, endpoint_id, now) for t in batch
               if matches(endpoint, t)]
        if ops:
            try:
                await storage.webhook_deliveries.bulk_write(ops, ordered=False)
            except BulkWriteError as error:
                # Two upserts of one new id at once: the other one queued it.
                duplicate_indexes(error)  # raises any refusal but a duplicate key
            total += len(ops)
            for t in batch:
                if matches(endpoint, t):
                    webhooks.local.add(delivery_id(t["_id"], endpoint_id), shop_id, endpoint_id)
            webhooks.wake.set()
        if len(batch) < REPLAY_PAGE:
            return total
        since = batch[-1]["sortKey"]


def _requeue(trigger_id: str, shop_id: int, endpoint_id: str, now: datetime) -> UpdateOne:
    return UpdateOne(
        {"_id": delivery_id(trigger_id, endpoint_id), "shopId": shop_id},
        {"$set": {"status": PENDING, "attempts": 0, "createdAt": now, "nextAttemptAt": now,
                  "leaseUntil": NEVER, "deliveredAt": None},
         "$unset": {"claim": "", "expireAt": ""},
         "$setOnInsert": {"endpointId": endpoint_id, "triggerId": trigger_id,
                          "lastAttemptAt": None, "lastStatusCode": None, "lastError": None}},
        upsert=True)
