"""Folding product views into co-occurrence: a worker, so that a view costs no write of
its own.

A product view's event document carries the products it pairs with (`co`, written by
its own insert, app/tracking/session_views.py) and `coAt`, indexed (`cooccurrence_due`).
Each tick, one process (a lease on the document `0:fold` of `cooccurrence`) takes the
oldest FOLD_BATCH marked events (and again, while the batches come full: a backlog is
folded in one run, `fold_backlog`), writes their pairs and popularity to the products'
documents (pairs.py: one bulk write per shop, each event applied once per document),
then clears their marks. Reads see a view once it is folded: within about a second,
the worker's tick (app/server/workers.py).

A failure between the writes leaves the marks: the next fold takes the same events
(oldest first, and only one process folds at a time), and the documents that had them
already refuse them by their `applied` list, which holds more than a batch's events.

One shop's trouble does not stall the others: a shop whose write fails rests for
REST_SECONDS in this process (its views left out of the next ticks' batches, kept
marked and in order), the rest of the batch is folded, and the failure is raised for
the worker to log. A connection failure is the store's, not the shop's: the fold stops
there. The lease is given back on every path. The shop's oldest views are taken first
again when it has rested, so its documents still see its views in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from app.core import CO_PENDING, PENDING_EXPIRY, utc
from app.recommendations.pairs import APPLIED_KEPT, View, view_touches
from app.recommendations.store import write

if TYPE_CHECKING:
    from app.platform import Platform

FOLD_BATCH = 50  # events per fold: at most APPLIED_KEPT, so a retried fold is recognised
LEASE_SECONDS = 30
LEASE_ID = "0:fold"
# A worker's run folds full batches for at most this long, of the FOLD_SECONDS between
# runs: on the embedded store the fold's work is the server's own CPU, and a flood of
# views must not take the requests' turn (at about 10 ms a batch, some 1,000 views a
# second; with MongoDB the fold mostly waits, and folds more).
TICK_SECONDS = 0.25
REST_SECONDS = 30  # a shop whose write failed is left alone this long by this process
assert FOLD_BATCH <= APPLIED_KEPT
log = logging.getLogger(__name__)
# Per store (its co-occurrence collection): shop -> until when this process leaves its views alone.
_resting: weakref.WeakKeyDictionary[Any, dict[int, datetime]] = weakref.WeakKeyDictionary()


async def fold(platform: Platform, limit: int = FOLD_BATCH) -> int:
    """Fold the oldest marked views (one batch); returns how many, 0 when another process
    holds the lease or none is waiting. The lease is given back whatever happens (if it
    is still this fold's: one that outlived it leaves the next holder's alone)."""
    storage, now = platform.storage, platform.clock.now()
    until = now + timedelta(seconds=LEASE_SECONDS)
    try:
        await storage.cooccurrence.find_one_and_update(
            {"_id": LEASE_ID, "shopId": 0, "foldLeaseUntil": {"$lte": now}},
            {"$set": {"foldLeaseUntil": until}}, upsert=True)
    except DuplicateKeyError:
        return 0  # another process folds now
    mine = {"_id": LEASE_ID, "shopId": 0, "foldLeaseUntil": until}
    try:
        done = await _fold_batch(platform, now, limit)
    except BaseException:  # a failure, or the worker cancelled at shutdown
        with contextlib.suppress(PyMongoError):  # the first failure is the one to raise
            await storage.cooccurrence.update_one(mine, {"$set": {"foldLeaseUntil": now}})
        raise
    await storage.cooccurrence.update_one(mine, {"$set": {"foldLeaseUntil": now}})
    return done


async def _fold_batch(platform: Platform, now: datetime, limit: int) -> int:
    storage = platform.storage
    resting = _resting.setdefault(storage.cooccurrence, {})
    for shop_id in [s for s, until in resting.items() if until <= now]:
        del resting[shop_id]
    due: dict[str, Any] = {"coAt": {"$type": "date", "$lte": now}}  # as the partial index
    if resting:
        due["shopId"] = {"$nin": sorted(resting)}
    docs = await storage.events.find(
        due,
        {"shopId": 1, "productId": 1, "categoryId": 1, "occurredAt": 1, "co": 1},
    ).sort([("coAt", 1), ("_id", 1)]).limit(min(limit, FOLD_BATCH)).to_list(None)
    by_shop: dict[int, list[dict[str, Any]]] = {}
    for doc in docs:
        by_shop.setdefault(doc["shopId"], []).append(doc)
    failure: Exception | None = None
    for shop_id, mine in by_shop.items():
        try:
            await _fold_shop(platform, shop_id, mine)
        except ConnectionFailure:
            raise  # the store is away: every shop's trouble, and each try would wait it out
        except Exception as exc:
            log.warning("co-occurrence of shop %s failed; it rests %ss", shop_id,
                        REST_SECONDS, exc_info=True)
            resting[shop_id] = now + timedelta(seconds=REST_SECONDS)
            failure = failure or exc
    if failure is not None:
        raise failure
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
    # Read: views the traffic rollups counted too take their expiry (what MongoDB's TTL
    # index deletes by); the others keep it aside for the rollups' fold to move.
    mine = {"shopId": shop_id, "_id": {"$in": [d["_id"] for d in docs]}}
    done = {"co": "", CO_PENDING: ""}
    moved = await platform.storage.events.update_many(
        {**mine, "rolled": {"$exists": False}},
        {"$unset": done, "$rename": {PENDING_EXPIRY: "expireAt"}})
    if moved.modified_count < len(docs):
        await platform.storage.events.update_many(mine, {"$unset": done})


def clock() -> float:
    """What a run's share is measured on: `time.monotonic()`."""
    return time.monotonic()


async def fold_backlog(platform: Platform) -> int:
    """The worker's run: batch after batch while they come full (more views arrived than a
    batch holds), for at most TICK_SECONDS; how many."""
    end = clock() + TICK_SECONDS
    total = 0
    while True:
        done = await fold(platform)
        total += done
        if done < FOLD_BATCH or clock() >= end:
            return total
        await asyncio.sleep(0)  # the embedded store never pauses: let requests in between


async def fold_all(platform: Platform) -> int:
    """Fold until no marked view is left but those of resting shops (tests, benchmarks, an
    operator catching up)."""
    total = 0
    while True:
        done = await fold(platform)
        total += done
        if done == 0:
            return total
