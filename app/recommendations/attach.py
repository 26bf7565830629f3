"""Recommendations carried by triggers: up to TRIGGER_LIMIT products for the customer of an
ABANDONED_CART, ABANDONED_BROWSE, PRICE_DROPPED or BACK_IN_STOCK trigger.

Chosen when the trigger is made and stored on it (`recommendations`, with a snapshot of
each product's public data), so its webhook, its subscription message and a later read
of the log all carry the same list, and a retried worker step stores the same one.
The products the trigger is about are the seeds: the products viewed with them, best
first (never a seed itself, never one the catalog marks unavailable), then the
customer's FOR_YOU, then POPULAR of the seeds' category.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.interests import Frame
from app.recommendations import products
from app.recommendations.pairs import VIEWED
from app.recommendations.store import Scored, pairs_of
from app.recommendations.strategies import FOR_YOU, Ask, finish, for_you

TRIGGER_LIMIT = 6
TYPES = frozenset({"ABANDONED_CART", "ABANDONED_BROWSE", "PRICE_DROPPED", "BACK_IN_STOCK"})


def seeds_of(doc: dict[str, Any]) -> list[str]:
    """The products a trigger is about, in its order."""
    out: list[str] = []
    lines = [*((doc.get("cart") or {}).get("items") or []), *(doc.get("products") or [])]
    if doc.get("productId"):
        lines.insert(0, {"productId": doc["productId"]})
    for line in lines:
        pid = line.get("productId") if isinstance(line, dict) else None
        if isinstance(pid, str) and pid and pid not in out:
            out.append(pid)
    return out


async def for_trigger(storage: Any, frame: Frame, now: datetime,
                      doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The trigger's recommendations (None for a type that carries none)."""
    if doc.get("type") not in TYPES:
        return None
    shop_id = doc["shopId"]
    seeds = seeds_of(doc)[:10]
    found = await pairs_of(storage.cooccurrence, shop_id, VIEWED, seeds, frame, now)
    near: dict[str, Scored] = {}
    category = doc.get("categoryId")
    for seed in seeds:
        ranked, own_category = found.get(seed, ([], None))
        category = category or own_category
        for s in ranked:
            if s.product_id not in near or near[s.product_id].score < s.score:
                near[s.product_id] = s
    ranked = sorted(near.values(), key=lambda s: (-s.score, s.product_id))
    excluded = set(seeds)
    ask = Ask(shop_id, FOR_YOU, user_id=doc.get("userId"), visitor_id=doc.get("visitorId"),
              limit=TRIGGER_LIMIT)
    if len(ranked) < TRIGGER_LIMIT and (ask.user_id or ask.visitor_id):
        mine, bought, mine_category = await for_you(storage, frame, now, ask)
        ranked += mine
        excluded |= bought
        category = category or mine_category
    picked = await finish(storage, now, ask, ranked, excluded, category)
    return [{"productId": r["productId"], "score": r["score"],
             "product": products.public(r["product"])} for r in picked]
