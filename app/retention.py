"""Retention: anonymous events older than their shop's window are deleted.

Anonymous events carry `expireAt` (occurredAt + anonymousHistoryDays); filing one
under a customer removes it. On MongoDB a TTL index deletes them too; this job
does the same work on the embedded store and keeps both in step.
"""

from __future__ import annotations

from app.platform import Platform


async def expire_anonymous(platform: Platform) -> int:
    result = await platform.storage.events.delete_many(
        {"expireAt": {"$ne": None, "$lte": platform.clock.now()}})
    return result.deleted_count
