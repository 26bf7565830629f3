"""Recommendations carried by triggers: up to TRIGGER_LIMIT products for each ABANDONED_CART,
ABANDONED_BROWSE, PRICE_DROPPED or BACK_IN_STOCK trigger.

Chosen when the trigger is made and stored on it (`recommendations`: productId, score
and a snapshot of the product's public data), so its webhook, its subscription message
and a later read of the log all carry the same list, and a retry that stores the same
trigger id again changes nothing. The products the trigger is about are the seeds:
products viewed with them, best first, then POPULAR of the seeds' category, then of the
shop; never a seed, never one the catalog marks unavailable.

A worker's batch is served by a few reads per shop, whatever its size: the seeds' pairs
(one read), the popular products of the shop and of each of the seeds' categories (one
each), the catalog (one).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import app.recommendations.products as products
from app.interests import Frame
from app.recommendations.pairs import VIEWED
from app.recommendations.store import Scored, distinct, pairs_of, popular

if TYPE_CHECKING:
    from app.platform import Platform

TRIGGER_LIMIT = 6
MAX_SEEDS = 10  # seeds per trigger whose pairs are read
TYPES = frozenset({"ABANDONED_CART", "ABANDONED_BROWSE", "PRICE_DROPPED", "BACK_IN_STOCK"})


def seeds_of(doc: dict[str, Any]) -> list[str]:
    """The products a trigger is about, in its order."""
    out: list[str] = []
    lines = [*((doc.get("cart") or {}).get("items") or []), *(doc.get("products") or [])]
    for line in lines:
        pid = line.get("productId") if isinstance(line, dict) else None
        if isinstance(pid, str) and pid and pid not in out:
            out.append(pid)
    return out[:MAX_SEEDS]


async def attach(platform: Platform, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each trigger of TYPES its `recommendations`; returns the triggers."""
    by_shop: dict[int, list[dict[str, Any]]] = {}
    for doc in docs:
        if doc.get("type") in TYPES:
            by_shop.setdefault(doc["shopId"], []).append(doc)
    now = platform.clock.now()
    for shop_id, mine in by_shop.items():
        shop = await platform.shops.require(shop_id)
        await _attach_shop(platform.storage, shop_id, shop.interest_frame, now, mine)
    return docs


async def _attach_shop(storage: Any, shop_id: int, frame: Frame, now: datetime,
                       docs: list[dict[str, Any]]) -> None:
    col = storage.cooccurrence
    seeds = {d["_id"]: seeds_of(d) for d in docs}
    found = await pairs_of(col, shop_id, VIEWED, sorted({s for v in seeds.values() for s in v}),
                           frame, now)
    room = 3 * TRIGGER_LIMIT + MAX_SEEDS
    pads: dict[str | None, list[Scored]] = {}
    ranked: dict[str, list[Scored]] = {}
    for doc in docs:
        mine = seeds[doc["_id"]]
        near: dict[str, Scored] = {}
        category = doc.get("categoryId")
        for seed in mine:
            pairs, own_category = found.get(seed, ([], None))
            category = category or own_category
            for s in pairs:
                if s.product_id not in near or near[s.product_id].score < s.score:
                    near[s.product_id] = s
        picks = distinct(sorted(near.values(), key=lambda s: (-s.score, s.product_id)),
                          set(mine))
        for cat in dict.fromkeys((category, None)):  # the category's, then the shop's
            if cat not in pads:
                pads[cat] = await popular(col, shop_id, cat, now, room)
            picks = distinct([*picks, *pads[cat]], set(mine))
        ranked[doc["_id"]] = picks[:room]
    docs_by_id = await products.get_many(
        storage, shop_id, sorted({s.product_id for v in ranked.values() for s in v}))
    for doc in docs:
        kept = [s for s in ranked[doc["_id"]] if products.available(docs_by_id.get(s.product_id))]
        doc["recommendations"] = [
            {"productId": s.product_id, "score": s.score,
             "product": products.public(docs_by_id.get(s.product_id))}
            for s in kept[:TRIGGER_LIMIT]]


