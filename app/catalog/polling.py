"""Polling each shop's `catalogFeedUrl` every `catalogFeedPollSeconds`.

Which shops have a feed is read from `shops` (one small document per shop, no
index needed). A fetch is due when the shop's `catalogFeed.dueAt` is missing or
past; a process claims it with a conditional write on the `dueAt` it read,
setting the next one (now + the shop's poll seconds), so with several server
processes each feed is fetched once per period. What the last fetch did is kept
beside it (`catalogFeed.last`: when, counts or the error) for the operator.
A failed fetch waits for the next period like a good one: the feed's server is
not hammered, and `importCatalogFeed` fetches at once when asked.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from app.catalog.imports import import_feed
from app.core import TrackerError, utc

log = logging.getLogger("tracker.catalog")


async def poll(platform: Any) -> int:
    """Fetch the feeds that are due; returns how many were fetched by this process."""
    now = platform.clock.now()
    shops = await platform.storage.shops.find(
        {"settings.catalogFeedUrl": {"$type": "string", "$ne": ""}},
        {"settings.catalogFeedUrl": 1, "settings.catalogFeedPollSeconds": 1,
         "catalogFeed.dueAt": 1}).to_list(None)
    fetched = 0
    for shop in shops:
        due = (shop.get("catalogFeed") or {}).get("dueAt")
        if due is not None and utc(due) > now:
            continue
        settings = shop["settings"]
        period = timedelta(seconds=settings.get("catalogFeedPollSeconds") or 21600)
        claimed = await platform.storage.shops.update_one(
            {"_id": shop["_id"], "catalogFeed.dueAt": due},
            {"$set": {"catalogFeed.dueAt": now + period}})
        if not claimed.matched_count:
            continue  # another process fetches it
        fetched += 1
        await _fetch(platform, shop["_id"], settings["catalogFeedUrl"])
    return fetched


async def _fetch(platform: Any, shop_id: int, url: str) -> None:
    at = platform.clock.now()
    try:
        result = await import_feed(platform.catalog, shop_id, url,
                                   platform.settings.webhook_allow_private)
        last: dict[str, Any] = {"at": at, "url": url, "error": None, **{
            name: getattr(result, name) for name in
            ("received", "created", "updated", "unchanged", "rejected")}}
    except TrackerError as error:
        log.warning("shop %s: catalog feed %s refused: %s", shop_id, url, error.message)
        last = {"at": at, "url": url, "error": error.message}
    await platform.storage.shops.update_one({"_id": shop_id}, {"$set": {"catalogFeed.last": last}})
