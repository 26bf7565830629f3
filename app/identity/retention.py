"""Retention: anonymous events older than their shop's window are deleted.

Anonymous events carry `expireAt` (occurredAt + anonymousHistoryDays) once the folds that
read them are done: the traffic rollups, and a product view's co-occurrence
(`pendingExpireAt` until then, app/core/events.py); filing one under a customer removes
both. On MongoDB a TTL index deletes them by `expireAt` (and a change of the window
re-stamps it, app/shops/registry.py). This job deletes by each shop's current window, so
it does the work on the embedded store and follows a window that was changed after the
events were stored.

It deletes only events the traffic rollups have counted (their counts outlive them) and
the co-occurrence fold has read, after both folds: a shop whose counting fails keeps its
events until they are counted, and does not hold back the other shops' expiry.

Older versions stamped `expireAt` on events a fold had still to read; first of all, the
job moves that expiry aside (`pendingExpireAt`), so the TTL index waits for the folds."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import ConnectionFailure

from app import analytics, recommendations
from app.core import CO_PENDING, PENDING_EXPIRY
from app.platform import Platform
from app.shops import ShopSettings

log = logging.getLogger(__name__)


async def expire_anonymous(platform: Platform) -> int:
    """Delete anonymous events older than their shop's window; how many were deleted."""
    storage, now = platform.storage, platform.clock.now()
    shops_by_window: dict[int, list[int]] = {}
    for doc in await storage.shops.find({}, {"settings.anonymousHistoryDays": 1}).to_list(None):
        days = ShopSettings.from_doc(doc.get("settings") or {}).anonymous_history_days
        shops_by_window.setdefault(days, []).append(doc["_id"])
    if not shops_by_window:
        return 0
    await _expiry_aside_while_unread(storage, now)
    try:
        await analytics.fold(storage, now)  # what is deleted has been counted
    except Exception as exc:
        shops = getattr(exc, "shops", None)
        if shops is None:
            raise  # nothing could be folded: the store is likely away for the delete too
        # Some shops' counting failed (logged by the fold): their events stay uncounted,
        # which the filter below keeps; the others' expire.
        log.warning("retention: shops %s not counted, their events kept", sorted(shops))
    try:
        await recommendations.fold_backlog(platform)  # and the co-occurrence has read them
    except ConnectionFailure:
        raise
    except Exception:  # a shop resting (logged by the fold): its unread views are kept
        log.warning("retention: co-occurrence not folded, unread views kept", exc_info=True)
    # Filing takes events from `at - window` on; what is strictly older is never filed.
    # Only events the traffic rollups have counted (their counts outlive them), and the
    # co-occurrence fold has read.
    result = await storage.events.delete_many({"userId": None, "rolled": {"$exists": False},
                                               CO_PENDING: {"$exists": False},
                                               "$or": [
        {"shopId": {"$in": ids}, "occurredAt": {"$lt": now - timedelta(days=days)}}
        for days, ids in shops_by_window.items()]})
    return result.deleted_count


async def _expiry_aside_while_unread(storage: Any, now: datetime) -> None:
    """Events an older version left a fold to read, with `expireAt`, keep it aside."""
    # Versions before `pendingExpireAt` stamped every anonymous event at its insert, and
    # those before the co-occurrence counted in it stamped a view once the rollups had
    # counted it, unread or not: MongoDB's TTL index could take either before its fold.
    # Each fold's finish moves the expiry back in the same per-document write that ends
    # the wait (these filters then no longer select the event). Two updates, not one with
    # `$or`: each is served by its fold's partial index (rollups_pending, cooccurrence_due),
    # on the embedded store too. Only anonymous events carry `expireAt` (filing removes
    # it), so `userId` is not asked: that would leave the index's fields for a filter.
    aside = {"$rename": {"expireAt": PENDING_EXPIRY}}
    await storage.events.update_many({"rolled": False, "expireAt": {"$exists": True}}, aside)
    await storage.events.update_many(  # the co-occurrence fold's own bounds (its index)
        {CO_PENDING: {"$type": "date", "$lte": now}, "expireAt": {"$exists": True}}, aside)
