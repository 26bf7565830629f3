"""What MongoDB's TTL index on events does, for stores that have none.

The embedded store has no TTL monitor (app/identity/retention.py deletes there, and only
what the rollups counted). On MongoDB the `retention_ttl` index deletes, about once a
minute and whatever the folds have done, every event whose `expireAt` has passed: a test
runs this where that could happen. An event gets `expireAt` once the folds that read it
are done (`read_by_both_folds`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app import analytics, recommendations
from app.platform import Platform


async def mongodb_ttl_monitor(storage: Any, now: datetime) -> int:
    """Delete the events whose `expireAt` has passed; how many."""
    return (await storage.events.delete_many({"expireAt": {"$lte": now}})).deleted_count


async def read_by_both_folds(platform: Platform) -> None:
    """What the workers do within a second: the traffic rollups count the pending events,
    the co-occurrence fold reads the product views; then they may expire."""
    await analytics.fold(platform.storage, platform.clock.now())
    await recommendations.fold_all(platform)
