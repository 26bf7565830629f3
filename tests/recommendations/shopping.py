"""Shoppers for recommendation tests: sessions that view, customers that buy, a catalog."""

from __future__ import annotations

import itertools
from typing import Any

from app.recommendations import fold_all
from tests.support.api import Api

_ids = itertools.count()
PLATFORM: Any = None  # the test's platform (conftest.py): views are folded before a read


async def folded() -> None:
    """Run the fold worker to the end, as it runs every second in a server."""
    if PLATFORM is not None:
        await fold_all(PLATFORM)
REC = "{ productId score product { productId name available } }"


async def view(api: Api, visitor: str, *products: str, category: str = "c",
               user: str | None = None) -> None:
    """One batch of the visitor: a login first when `user`, then a view of each product.

    A product given as "category/product" is viewed in that category."""
    events: list[dict[str, Any]] = []
    if user:
        events.append({"type": "LOGIN", "userId": user, "context": _ctx(visitor)})
    for p in products:
        cat, _, pid = p.rpartition("/")
        events.append({"type": "PRODUCT_VIEW", "productId": pid, "categoryId": cat or category,
                       "context": _ctx(visitor)})
    await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
                   {"e": events})


async def buy(api: Api, visitor: str, *products: str, user: str | None = None,
              category: str = "c") -> None:
    """The visitor adds the products to its cart and checks out."""
    events: list[dict[str, Any]] = []
    if user:
        events.append({"type": "LOGIN", "userId": user, "context": _ctx(visitor)})
    for p in products:
        events.append({"type": "CART_ADD", "productId": p, "categoryId": category,
                       "quantity": 1, "context": _ctx(visitor)})
    events.append({"type": "CHECKOUT", "orderId": f"o{next(_ids)}", "context": _ctx(visitor)})
    await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
                   {"e": events})


def _ctx(visitor: str) -> dict[str, Any]:
    return {"shopId": 1, "visitorId": visitor, "eventId": f"e{next(_ids)}"}


async def catalog(platform: Any, *products: dict[str, Any], shop_id: int = 1) -> None:
    """Products as the catalog stores them (app/catalog's interface)."""
    for p in products:
        doc = {"shopId": shop_id, "categoryId": "c", "name": p["productId"].upper(),
               "url": f"https://shop.example/{p['productId']}", "imageUrl": None, "price": 10.0,
               "oldPrice": None, "currency": "EUR", "available": True,
               "updatedAt": platform.clock.now(), **p}
        await platform.storage.products.replace_one(
            {"_id": f"{shop_id}:{p['productId']}", "shopId": shop_id}, doc, upsert=True)


async def recs(api: Api, key: str, strategy: str, **args: Any) -> list[dict[str, Any]]:
    """Query.recommendations with the shop's key (the views folded first)."""
    await folded()
    names = {"productId": "String", "userId": "String", "visitorId": "String",
             "categoryId": "String", "limit": "Int"}
    decl = "".join(f", ${k}: {names[k]}" for k in args)
    call = "".join(f", {k}: ${k}" for k in args)
    data = await api.data(
        f"query($s: RecommendationStrategy!{decl}) {{ recommendations(shopId: 1, "
        f"strategy: $s{call}) {REC} }}", {"s": strategy, **args}, key=key)
    return data["recommendations"]


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [r["productId"] for r in found]
