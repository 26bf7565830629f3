"""The four strategies and the rules every answer keeps (CONTRACT.md section 13).

- ALSO_VIEWED / ALSO_BOUGHT: the product's pairs (pairs.py), best first.
- FOR_YOU: the customer's top categories by interest share the list by that share
  (largest remainder); each category's places go to the customer's own top products
  in it, then products viewed with the customer's top products, then the category's
  most viewed. A visitor not yet identified is known by its session's views.
- POPULAR: most viewed in the last 7 days (store.popular).

Rules, for every strategy: never the product asked about; never a product the catalog
marks unavailable; for FOR_YOU never a product the customer bought; a list shorter than
`limit` is filled from POPULAR (the product's category first), so no list is empty
while the shop has views. The order of the list is the ranking; padding from POPULAR
comes after the strategy's own products, with its own (popularity) scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import app.recommendations.products as products
from app.core import BadInput, visitor_key
from app.interests import CATEGORY, PRODUCT, Frame
from app.recommendations.pairs import BOUGHT, VIEWED, remembered
from app.recommendations.store import Scored, distinct, pairs_of, popular

ALSO_VIEWED, ALSO_BOUGHT, FOR_YOU, POPULAR = "ALSO_VIEWED", "ALSO_BOUGHT", "FOR_YOU", "POPULAR"
STRATEGIES = (ALSO_VIEWED, ALSO_BOUGHT, FOR_YOU, POPULAR)
MAX_LIMIT = 50
TOP_CATEGORIES = 3  # categories FOR_YOU draws from
TOP_PRODUCTS = 20  # the customer's own products FOR_YOU considers
BOUGHT_READ = 1000  # bought products FOR_YOU reads to leave out


@dataclass(frozen=True)
class Ask:
    shop_id: int
    strategy: str
    product_id: str | None = None
    user_id: str | None = None
    visitor_id: str | None = None
    category_id: str | None = None
    limit: int = 10


def check(ask: Ask) -> None:
    if ask.strategy not in STRATEGIES:
        raise BadInput(f"strategy must be one of {', '.join(STRATEGIES)}", field="strategy")
    if not 1 <= ask.limit <= MAX_LIMIT:
        raise BadInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if ask.strategy in (ALSO_VIEWED, ALSO_BOUGHT) and not ask.product_id:
        raise BadInput(f"{ask.strategy} needs productId", field="productId")
    if ask.strategy == FOR_YOU and not (ask.user_id or ask.visitor_id):
        raise BadInput("FOR_YOU needs userId or visitorId", field="userId")


async def recommend(storage: Any, frame: Frame, now: datetime, ask: Ask) -> list[dict[str, Any]]:
    """The recommendations: [{productId, score, product}] (product: the catalog's doc)."""
    check(ask)
    col = storage.cooccurrence
    excluded = {ask.product_id} if ask.product_id else set()
    category = ask.category_id
    if ask.strategy in (ALSO_VIEWED, ALSO_BOUGHT):
        kind = VIEWED if ask.strategy == ALSO_VIEWED else BOUGHT
        found = await pairs_of(col, ask.shop_id, kind, [ask.product_id or ""], frame, now)
        ranked, own_category = found.get(ask.product_id or "", ([], None))
        category = category or own_category
    elif ask.strategy == FOR_YOU:
        ranked, bought, category = await _for_you(storage, frame, now, ask)
        excluded |= bought
    else:
        ranked = []
    return await _finish(storage, now, ask, ranked, excluded, category)


async def _finish(storage: Any, now: datetime, ask: Ask, ranked: list[Scored],
                  excluded: set[str], category: str | None) -> list[dict[str, Any]]:
    """The rules: exclusions, availability, padding from POPULAR; with catalog data."""
    picks = distinct(ranked, excluded)
    if len(picks) < ask.limit:
        room = 3 * ask.limit + len(excluded) + 10  # unavailable ones are left out after
        pads = await popular(storage.cooccurrence, ask.shop_id, category, now, room)
        if category is not None and len(pads) < room:
            pads += await popular(storage.cooccurrence, ask.shop_id, None, now, room)
        picks = distinct([*picks, *pads], excluded)
    picks = picks[: 3 * ask.limit + 10]
    docs = await products.get_many(storage, ask.shop_id, [p.product_id for p in picks])
    out = [{"productId": p.product_id, "score": p.score, "product": docs.get(p.product_id)}
           for p in picks if products.available(docs.get(p.product_id))]
    return out[: ask.limit]


async def _for_you(storage: Any, frame: Frame, now: datetime,
                   ask: Ask) -> tuple[list[Scored], set[str], str | None]:
    """FOR_YOU's ranking, the products to leave out, and the category to pad from."""
    user_id, window = ask.user_id, []
    if ask.visitor_id and not user_id:
        visitor = await storage.visitors.find_one(
            {"_id": visitor_key(ask.shop_id, ask.visitor_id), "shopId": ask.shop_id},
            {"userId": 1, "sViews": 1})
        user_id = (visitor or {}).get("userId")
        window = remembered((visitor or {}).get("sViews"))
    shares: dict[str, float] = {}
    own: list[Scored] = []
    bought: set[str] = set()
    if user_id:
        shares, own, bought = await _interests(storage, ask.shop_id, user_id)
    if not own and window:  # an anonymous visitor: its session's views, latest first
        own = [Scored(w["p"], float(i + 1), w.get("c")) for i, w in enumerate(window)][::-1]
        for s in own:
            if s.category_id:
                shares[s.category_id] = shares.get(s.category_id, 0.0) + 1.0
    if not own and not shares:
        return [], bought, ask.category_id  # no history: POPULAR
    own = [s for s in own if s.product_id not in bought]
    if ask.category_id:
        shares = {ask.category_id: 1.0}
    top = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CATEGORIES]
    total = sum(v for _, v in top) or 1.0
    shares = {c: v / total for c, v in top}
    seeds = [s.product_id for s in own[:10]]
    viewed_with = await pairs_of(storage.cooccurrence, ask.shop_id, VIEWED, seeds, frame, now)
    near: dict[str, Scored] = {}
    for seed in seeds:
        for s in viewed_with.get(seed, ([], None))[0]:
            if s.product_id not in near or near[s.product_id].score < s.score:
                near[s.product_id] = s
    pools: dict[str, list[Scored]] = {}
    for cat in shares:
        pools[cat] = [s for s in own if s.category_id == cat]
        pools[cat] += sorted((s for s in near.values() if s.category_id == cat),
                             key=lambda s: -s.score)
        pools[cat] += await popular(storage.cooccurrence, ask.shop_id, cat, now,
                                    3 * ask.limit + len(bought) + 10)
    return _share_out(pools, shares, ask.limit, bought), bought, next(iter(shares), None)


async def _interests(storage: Any, shop_id: int,
                     user_id: str) -> tuple[dict[str, float], list[Scored], set[str]]:
    """The customer's category shares (stored values, one frame), top products, purchases."""
    col = storage.interests
    cats = await col.find({"shopId": shop_id, "userId": user_id, "kind": CATEGORY},
                          {"itemId": 1, "decayed": 1}).sort("decayed", -1).limit(
                              TOP_CATEGORIES).to_list(None)
    prods = await col.find({"shopId": shop_id, "userId": user_id, "kind": PRODUCT},
                           {"itemId": 1, "decayed": 1, "categoryId": 1}).sort(
                               "decayed", -1).limit(TOP_PRODUCTS).to_list(None)
    bought = await col.find({"shopId": shop_id, "userId": user_id, "kind": PRODUCT,
                             "purchases": {"$gt": 0}}, {"itemId": 1}).limit(
                                 BOUGHT_READ).to_list(None)
    shares = {d["itemId"]: float(d["decayed"]) for d in cats}
    own = [Scored(d["itemId"], float(d["decayed"]), d.get("categoryId")) for d in prods]
    return shares, own, {d["itemId"] for d in bought}


def _share_out(pools: dict[str, list[Scored]], shares: dict[str, float], limit: int,
               excluded: set[str]) -> list[Scored]:
    """Each category's places by its share (largest remainder), filled from its pool in
    order; a category that runs short leaves its places to the others. Room is kept for
    products the catalog may leave out: every pool's rest follows, by share."""
    exact = {c: limit * s for c, s in shares.items()}
    places = {c: int(v) for c, v in exact.items()}
    for c in sorted(exact, key=lambda c: -(exact[c] - places[c]))[: limit - sum(places.values())]:
        places[c] += 1
    seen = set(excluded)
    heads: list[Scored] = []
    rest: list[Scored] = []
    for cat, pool in pools.items():
        taken = 0
        for s in pool:
            if s.product_id in seen:
                continue
            seen.add(s.product_id)
            scored = Scored(s.product_id, shares[cat] / (taken + 1), cat)
            (heads if taken < places[cat] else rest).append(scored)
            taken += 1
    return sorted(heads, key=lambda s: -s.score) + sorted(rest, key=lambda s: -s.score)
