"""Automatic shop ids, from a counter document: two `createShop` calls at once never
draw the same id (the old `max(_id) + 1` did, issue 11.3)."""

from __future__ import annotations

from pymongo import ReturnDocument

from app.backends.storage import Storage

COUNTER = {"_id": "shopId"}  # in the `counters` collection: {_id, value}


async def next_id(storage: Storage) -> int:
    """The next automatic shop id: one atomic `$inc`."""
    counter = await storage.counters.find_one_and_update(
        COUNTER, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
    return int(counter["value"])


async def skip_taken(storage: Storage) -> None:
    """Move the counter past ids given by hand (createShop with a shopId), or taken
    before the counter existed. Rare: one read of the last shop by `_id`."""
    last = await storage.shops.find({}, {"_id": 1}).sort("_id", -1).limit(1).to_list(1)
    if last:
        await storage.counters.update_one(COUNTER, {"$max": {"value": last[0]["_id"]}},
                                          upsert=True)
