"""Rebuild leases: while a shop's rollups are rebuilt, live folds leave the shop alone.

One document per shop in `rollupRebuilds` (`_id` = the shop id, unsharded: a few small
documents): `{owner, until}`. A rebuild takes it with one conditional upsert (free, or
expired, or already its own); a second rebuild of the shop finds it held and stops
(`LeaseBusy`). The holder renews it before each step of a day, and deletes it when done;
a holder that crashed holds it until `until`, LEASE after its last renewal, and then
anyone may take it and live folds count the shop again.

An owner is a word without ":" (its fold names its batches with it, folds.batch_id).
`held` is what a fold asks before each page: the shops under a live lease of some
other owner (`owner` is the rebuild's own fold, which passes its own lease).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from app.core import utc

# Long enough for the longest step of one day (its fold) between two renewals; a crashed
# rebuild keeps live folds off its shop this long at most.
LEASE = timedelta(minutes=10)


class LeaseBusy(Exception):
    """Another rebuild of this shop holds its lease."""


async def take(storage: Any, shop_id: int, owner: str, now: datetime) -> datetime:
    """Take (or renew) the shop's lease for LEASE from now; when it ends."""
    until = now + LEASE
    try:
        await storage.rollupRebuilds.update_one(
            {"_id": shop_id, "$or": [{"until": {"$lte": _naive(now)}}, {"owner": owner}]},
            {"$set": {"owner": owner, "until": _naive(until)}}, upsert=True)
    except DuplicateKeyError:  # there is a document, and it is someone else's, live
        held = await storage.rollupRebuilds.find_one({"_id": shop_id}) or {}
        raise LeaseBusy(f"shop {shop_id} is being rebuilt by another run (its lease ends "
                        f"{held.get('until')})") from None
    return until


async def release(storage: Any, shop_id: int, owner: str) -> None:
    await storage.rollupRebuilds.delete_one({"_id": shop_id, "owner": owner})


async def held(storage: Any, now: datetime, shop_id: int | None = None,
               owner: str | None = None) -> set[int]:
    """Shops (of `shop_id`, or all) under a live lease that is not `owner`'s."""
    if shop_id is not None:
        doc = await storage.rollupRebuilds.find_one({"_id": shop_id})
        docs = [doc] if doc and _live(doc, now) else []
    else:
        docs = await storage.rollupRebuilds.find({"until": {"$gt": _naive(now)}},
                                                 {"owner": 1}).to_list(None)
    return {d["_id"] for d in docs if d.get("owner") != owner}


def _live(doc: dict[str, Any], now: datetime) -> bool:
    until = doc.get("until")
    return until is not None and _naive(until) > _naive(now)


def _naive(value: datetime) -> datetime:
    """As stored and compared: MongoDB and the embedded store give back naive UTC."""
    return utc(value).replace(tzinfo=None)
