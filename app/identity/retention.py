"""Retention: anonymous events older than their shop's window are deleted.

Anonymous events carry `expireAt` (occurredAt + anonymousHistoryDays); filing one
under a customer removes it. On MongoDB a TTL index deletes them by it (and a
change of the window re-stamps it, app/shops/registry.py). This job deletes by each shop's
current window, so it does the work on the embedded store and follows a window
that was changed after the events were stored.
"""

from __future__ import annotations

from datetime import timedelta

from app import analytics
from app.platform import Platform
from app.shops import ShopSettings


async def expire_anonymous(platform: Platform) -> int:
    """Delete anonymous events older than their shop's window; how many were deleted."""
    storage, now = platform.storage, platform.clock.now()
    shops_by_window: dict[int, list[int]] = {}
    for doc in await storage.shops.find({}, {"settings.anonymousHistoryDays": 1}).to_list(None):
        days = ShopSettings.from_doc(doc.get("settings") or {}).anonymous_history_days
        shops_by_window.setdefault(days, []).append(doc["_id"])
    if not shops_by_window:
        return 0
    await analytics.fold(storage, now)  # what is deleted has been counted
    # Filing takes events from `at - window` on; what is strictly older is never filed.
    # Only events the traffic rollups have counted: their counts outlive them.
    result = await storage.events.delete_many({"userId": None, "rolled": {"$exists": False},
                                               "$or": [
        {"shopId": {"$in": ids}, "occurredAt": {"$lt": now - timedelta(days=days)}}
        for days, ids in shops_by_window.items()]})
    return result.deleted_count
