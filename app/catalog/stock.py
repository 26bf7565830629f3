"""notifyInStock requests: "tell me when it is back".

One document per (shop, product, owner) in `stockRequests`, `_id` =
`<shop>:<product>:<owner>` (owner as carts have it: `u:<userId>` once known,
else `v:<visitorId>`), so asking twice is one request. `open` is true until a
BACK_IN_STOCK change answers it (app/catalog/fanout.py): the product going out
and coming back again does not answer it a second time; asking again opens it
again. A request made anonymously is answered once its visitor is linked to a
customer (triggers go to identified customers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import UpdateOne

from app.backends.storage import Storage
from app.core import owner_of, visitor_key


def request_key(shop_id: int, product_id: str, owner: str) -> str:
    return f"{shop_id}:{product_id}:{owner}"


def ask(shop_id: int, product_id: str, user_id: str | None, visitor_id: str,
        at: datetime) -> UpdateOne:
    """The write that records (or opens again) a request."""
    fields: dict[str, Any] = {"shopId": shop_id, "productId": product_id,
                              "visitorId": visitor_id, "requestedAt": at, "open": True}
    if user_id:
        fields["userId"] = user_id
    return UpdateOne({"_id": request_key(shop_id, product_id, owner_of(user_id, visitor_id)),
                      "shopId": shop_id}, {"$set": fields}, upsert=True)


def requests_after(storage: Storage, shop_id: int, product_id: str, after: str | None) -> Any:
    """A cursor over the open requests for the product, in `_id` order after `after`."""
    query: dict[str, Any] = {"shopId": shop_id, "productId": product_id, "open": True}
    if after is not None:
        query["_id"] = {"$gt": after}
    return storage.stockRequests.find(query).sort("_id", 1)


async def owners_of(storage: Storage, shop_id: int, requests: list[dict[str, Any]]
                 ) -> dict[str, str]:
    """The customer behind each request (by request id); anonymous visitors not yet linked
    are left out."""
    out = {r["_id"]: r["userId"] for r in requests if r.get("userId")}
    anonymous = [r for r in requests if not r.get("userId")]
    if anonymous:
        keys = [visitor_key(shop_id, r["visitorId"]) for r in anonymous]
        linked = {d["_id"]: d.get("userId") for d in await storage.visitors.find(
            {"_id": {"$in": keys}, "shopId": shop_id}, {"userId": 1}).to_list(None)}
        for request, key in zip(anonymous, keys, strict=True):
            if linked.get(key):
                out[request["_id"]] = linked[key]
    return out


async def answered_by(storage: Storage, shop_id: int, ids: list[str], change_id: str) -> None:
    if ids:
        await storage.stockRequests.update_many(
            {"shopId": shop_id, "_id": {"$in": ids}, "open": True},
            {"$set": {"open": False, "answeredBy": change_id}})
