"""Storage of co-occurrence (`cooccurrence`, see pairs.py): the writes of a batch in one
round trip, and the reads the strategies make, each one round trip.

Reads answer live scores (stored value brought to `now` in its frame), best first.

POPULAR lists are the same for every visitor of a shop: each process keeps them for
POPULAR_SECONDS (as long as a storefront may cache an answer, `Cache-Control:
max-age=60`), so a busy shop reads each of its lists once a minute per process, not
once per request. Availability is checked on every answer, never cached.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError

from app.backends.storage import duplicate_indexes
from app.core import LRU
from app.interests import Frame
from app.recommendations.pairs import (
    POPULARITY_FRAME,
    VIEWED,
    Touch,
    doc_key,
    merged,
    update,
)

POPULAR_DAYS = 7  # POPULAR ranks what was viewed in the last 7 days (all time if nothing was)
POPULAR_SECONDS = 60  # how long a process keeps a POPULAR list
POPULAR_KEPT = 10_000  # (shop, category) lists a process keeps, per store
_popular: weakref.WeakKeyDictionary[Any, LRU[tuple[int, str | None], tuple]] = \
    weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Scored:
    product_id: str
    score: float
    category_id: str | None = None


def distinct(ranked: Iterable[Scored], excluded: set[str]) -> list[Scored]:
    """The ranked products in order, each once, none of the excluded."""
    seen = set(excluded)
    out = []
    for s in ranked:
        if s.product_id not in seen:
            seen.add(s.product_id)
            out.append(s)
    return out


async def write(collection: Any, shop_id: int, touches: list[Touch]) -> None:
    """Apply the touches, each source event once per document, in one round trip.

    A second one only when a document had some of the sources already (a retried
    batch): those documents are written again per source, and what was applied
    before answers with a duplicate key, which is dropped.
    """
    groups = merged(touches)
    if not groups:
        return
    keys = list(groups)
    try:
        await collection.bulk_write([update(shop_id, groups[k]) for k in keys], ordered=False)
        return
    except BulkWriteError as error:
        again = {(keys[i][0], keys[i][1]) for i in duplicate_indexes(error)}
    retry = merged([t for t in touches if (t.kind, t.product_id) in again], by_source=True)
    try:
        await collection.bulk_write([update(shop_id, t) for t in retry.values()],
                                    ordered=False)
    except BulkWriteError as error:
        duplicate_indexes(error)  # these events were applied before


async def pairs_of(collection: Any, shop_id: int, kind: str, product_ids: list[str],
                   frame: Frame, now: datetime
                   ) -> dict[str, tuple[list[Scored], str | None]]:
    """Each product's pairs of `kind`, best first, and its own category (one read by
    `_id`)."""
    if not product_ids:
        return {}
    docs = await collection.find(
        {"_id": {"$in": [doc_key(shop_id, kind, p) for p in product_ids]}, "shopId": shop_id},
        {"productId": 1, "pairs": 1, "categoryId": 1}).to_list(None)
    out: dict[str, tuple[list[Scored], str | None]] = {}
    for doc in docs:
        pairs = sorted(doc.get("pairs") or [], key=lambda x: (-x["s"], x["p"]))
        out[doc["productId"]] = ([Scored(x["p"], frame.score(x["s"], now), x.get("c"))
                                  for x in pairs], doc.get("categoryId"))
    return out


async def popular(collection: Any, shop_id: int, category_id: str | None, now: datetime,
                  limit: int) -> list[Scored]:
    """The most viewed products of the last POPULAR_DAYS (of the category, if given), best
    first; all time when none was viewed then. One read through the popularity index (a
    second when the week was empty), or none when this process read it lately."""
    kept = _popular.setdefault(collection, LRU(POPULAR_KEPT))
    cached = kept.get((shop_id, category_id))
    if cached is not None and cached[0] > now and cached[1] >= limit:
        return cached[2][:limit]
    where: dict[str, Any] = {"shopId": shop_id, "kind": VIEWED, "views": {"$gt": 0}}
    if category_id is not None:
        where["categoryId"] = category_id
    recent = {**where, "lastViewedAt": {"$gte": now - timedelta(days=POPULAR_DAYS)}}
    docs = await _top(collection, recent, limit)
    if not docs:
        docs = await _top(collection, where, limit)
    found = [Scored(d["productId"], POPULARITY_FRAME.score(d["views"], now), d.get("categoryId"))
             for d in docs]
    if found:  # a shop's first views show at once
        kept.put((shop_id, category_id), (now + timedelta(seconds=POPULAR_SECONDS), limit,
                                          found))
    return found


def forget_popular() -> None:
    """Drop every POPULAR list this process keeps (a measurement that wants each read)."""
    _popular.clear()


async def _top(collection: Any, where: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    return await collection.find(where, {"productId": 1, "views": 1, "categoryId": 1}).sort(
        [("views", -1), ("_id", 1)]).limit(limit).to_list(None)
