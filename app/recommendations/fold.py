"""Folding product views into co-occurrence: a worker, so that a view costs no write of
its own.

A product view's event document carries the products it pairs with (`co`, written by
its own insert, app/tracking/session_views.py) and `coAt`, indexed (`cooccurrence_due`).
Each tick, one process (a lease on the document `0:fold` of `cooccurrence`) takes the
oldest FOLD_BATCH marked events, writes their pairs and popularity to the products'
documents (pairs.py: one bulk write per shop, each event applied once per document),
then clears their marks. Reads see a view once it is folded: within about a second,
the worker's tick (app/server/workers.py).

A failure between the writes leaves the marks: the next fold takes the same events
(oldest first, and only one process folds at a time), and the documents that had them
already refuse them by their `applied` list, which holds more than a batch's events.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from app.core import utc
from app.recommendations.pairs import APPLIED_KEPT, View, view_touches
from app.recommendations.store import write

if TYPE_CHECKING:
    from app.platform import Platform

FOLD_BATCH = 50  # events per fold: at most APPLIED_KEPT, so a retried fold is recognised
LEASE_SECONDS = 30
LEASE_ID = "0:fold"
assert FOLD_BATCH <= APPLIED_KEPT


async def fold(platform: Platform, limit: int = FOLD_BATCH) -> int:
    """Fold the oldest marked views (one batch); returns how many, 0 when another process
    holds the lease or none is waiting."""
    storage, now = platform.storage, platform.clock.now()
    try:
        await storage.cooccurrence.find_one_and_update(
            {"_id": LEASE_ID, "shopId": 0, "foldLeaseUntil": {"$lte": now}},
            {"$set": {"foldLeaseUntil": now + timedelta(seconds=LEASE_SECONDS)}}, upsert=True)
    except DuplicateKeyError:
        return 0  # another process folds now
    docs = await storage.events.find(
        {"coAt": {"$type": "date", "$lte": now}},  # $type: as the partial index says
        {"shopId": 1, "productId": 1, "categoryId": 1, "occurredAt": 1, "co": 1},
    ).sort([("coAt", 1), ("_id", 1)]).limit(min(limit, FOLD_BATCH)).to_list(None)
    by_shop: dict[int, list[dict[str, Any]]] = {}
    for doc in docs:
        by_shop.setdefault(doc["shopId"], []).append(doc)
    for shop_id, mine in by_shop.items():
        await _fold_shop(platform, shop_id, mine)
    await storage.cooccurrence.update_one({"_id": LEASE_ID, "shopId": 0},
                                          {"$set": {"foldLeaseUntil": now}})
    return len(docs)


async def _fold_shop(platform: Platform, shop_id: int, docs: list[dict[str, Any]]) -> None:
    shop = await platform.shops.get(shop_id)
    if shop is not None:
        touches = []
        for doc in docs:
            view = View(doc.get("productId") or "", doc.get("categoryId"),
                        utc(doc["occurredAt"]), doc["_id"])
            if view.product_id:
                partners = [{"p": p, "c": c} for p, c in doc.get("co") or []]
                touches += view_touches(view, partners, shop.interest_frame)
        await write(platform.storage.cooccurrence, shop_id, touches)
    await platform.storage.events.update_many(
        {"shopId": shop_id, "_id": {"$in": [d["_id"] for d in docs]}},
        {"$unset": {"co": "", "coAt": ""}})


async def fold_all(platform: Platform) -> int:
    """Fold until no marked view is left (tests, benchmarks, an operator catching up)."""
    total = 0
    while True:
        done = await fold(platform)
        total += done
        if done == 0:
            return total
