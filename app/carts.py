"""Carts: one per customer (or per anonymous visitor), and the abandoned-cart clock.

Every cart change sets `dueAt = changedAt + abandonedCartDelaySeconds` and bumps
`version`; the abandoned-cart worker (app/abandonment/cart_worker.py) fires what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne

ACTIVE, EMPTY, ABANDONED, ORDERED = "ACTIVE", "EMPTY", "ABANDONED", "ORDERED"
APPLIED_KEPT = 200  # event ids a cart remembers as applied (a retry comes back sooner)


def ensure(cart_id: str, owner: dict[str, Any]) -> UpdateOne:
    """Create the cart if need be, changing nothing else: the guarded ops below need it."""
    return UpdateOne({"_id": cart_id, "shopId": owner["shopId"]},
                     {"$setOnInsert": {**owner, "items": {}, "version": 0, "status": EMPTY}},
                     upsert=True)


def _once(cart_id: str, owner: dict[str, Any], update: dict[str, Any],
          event_id: str | None) -> UpdateOne:
    """The change, applied at most once per event: the cart remembers the events it applied.

    Without an event id (seeding, tests) the change is a plain upsert.
    """
    if event_id is None:
        return UpdateOne({"_id": cart_id, "shopId": owner["shopId"]}, update, upsert=True)
    update = {**update, "$push": {"appliedEvents": {"$each": [event_id],
                                                    "$slice": -APPLIED_KEPT}}}
    return UpdateOne({"_id": cart_id, "shopId": owner["shopId"],
                      "appliedEvents": {"$ne": event_id}}, update)


def item_key(product_id: str) -> str:
    """A product id made safe as a MongoDB field name ('.' and '$' have meanings there)."""
    return product_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def add(
    cart_id: str, owner: dict[str, Any], *, product_id: str, category_id: str | None,
    quantity: int, price: float | None, at: datetime, delay_seconds: int,
    event_id: str | None = None,
) -> UpdateOne:
    key = f"items.{item_key(product_id)}"
    fields = {
        **owner, f"{key}.productId": product_id, f"{key}.categoryId": category_id,
        "updatedAt": at, "dueAt": at + timedelta(seconds=delay_seconds), "status": ACTIVE,
    }
    if price is not None:
        fields[f"{key}.price"] = price
    return _once(cart_id, owner,
                 {"$set": fields, "$inc": {f"{key}.quantity": quantity, "version": 1},
                  "$min": {f"{key}.addedAt": at}}, event_id)


def remove(
    cart_id: str, owner: dict[str, Any], *, product_id: str, at: datetime, delay_seconds: int,
    event_id: str | None = None,
) -> UpdateOne:
    return _once(cart_id, owner,
                 {"$set": {**owner, "updatedAt": at, "status": ACTIVE,
                           "dueAt": at + timedelta(seconds=delay_seconds)},
                  "$unset": {f"items.{item_key(product_id)}": ""}, "$inc": {"version": 1}},
                 event_id)


def clear(cart_id: str, owner: dict[str, Any], *, at: datetime, status: str = EMPTY,
          event_id: str | None = None) -> UpdateOne:
    return _once(cart_id, owner,
                 {"$set": {**owner, "items": {}, "updatedAt": at, "status": status,
                           "dueAt": None}, "$inc": {"version": 1}}, event_id)


def checkout_pipeline(owner: dict[str, Any], at: datetime, event_key: str) -> list[Any]:
    """Empty the cart, keeping what it held as `lastCheckout` (for a retried checkout)."""
    return [{"$set": {
        "lastCheckout": {"eventKey": {"$literal": event_key},
                         "items": {"$ifNull": ["$items", {"$literal": {}}]}},
        "items": {"$literal": {}}, "status": ORDERED, "updatedAt": at,
        "dueAt": {"$literal": None},
        "version": {"$add": [{"$ifNull": ["$version", 0]}, 1]},
        **{k: {"$literal": v} for k, v in owner.items()},
    }}]


def items_of(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cart's items, oldest first."""
    if not doc:
        return []
    items = [i for i in (doc.get("items") or {}).values() if i.get("quantity", 0) > 0]
    return sorted(items, key=lambda i: (i.get("addedAt") or datetime.min, i["productId"]))


def status_of(doc: dict[str, Any] | None) -> str:
    if not doc:
        return EMPTY
    status = doc.get("status", ACTIVE)
    if status in (ORDERED, EMPTY):
        return status
    return status if items_of(doc) else EMPTY


def take_pipeline() -> list[Any]:
    """Move the anonymous cart's items aside (`lastMerge`), for merging into the customer's.

    Atomic on the anonymous cart: an item added there later stays there, it is not lost
    between a read and a delete. A merge still pending (its first attempt failed before
    deleting the cart) is kept as it is, so a retry merges exactly what was taken.
    """
    take = {"$eq": [{"$ifNull": ["$lastMerge", None]}, None]}
    bumped = {"$add": [{"$ifNull": ["$version", 0]}, 1]}
    return [
        {"$set": {"_take": take}},
        {"$set": {
            "lastMerge": {"$cond": ["$_take", {
                "items": {"$ifNull": ["$items", {"$literal": {}}]}, "version": bumped,
                "updatedAt": "$updatedAt"}, "$lastMerge"]},
            "items": {"$cond": ["$_take", {"$literal": {}}, "$items"]},
            "version": {"$cond": ["$_take", bumped, "$version"]},
        }},
        {"$project": {"_take": 0}},
    ]


def merge_pipeline(taken: dict[str, Any], owner: dict[str, Any], delay_seconds: int,
                   marker: str) -> list[Any]:
    """Add the taken anonymous items to the customer's cart, in one atomic update.

    Works on the cart as stored, whatever another device changed meanwhile. The same
    product's quantities add, the earlier `addedAt` stays, the visitor's latest price
    wins. The abandoned-cart clock restarts from the later of the two carts' last
    changes, so a cart abandoned while anonymous is due at once when its visitor is
    identified. The version moves past both carts'. `marker` (in the update's filter as
    `appliedEvents: {$ne: marker}`) makes it apply once.
    """
    at = taken["updatedAt"]
    fields: dict[str, Any] = {}
    for item in items_of(taken):
        path = f"items.{item_key(item['productId'])}"
        added = item.get("addedAt") or at
        fields[f"{path}.productId"] = {"$literal": item["productId"]}
        fields[f"{path}.categoryId"] = {"$literal": item.get("categoryId")}
        fields[f"{path}.quantity"] = {"$add": [{"$ifNull": [f"${path}.quantity", 0]},
                                               item["quantity"]]}
        fields[f"{path}.addedAt"] = {"$min": [{"$ifNull": [f"${path}.addedAt", added]}, added]}
        if item.get("price") is not None:
            fields[f"{path}.price"] = item["price"]
    applied = {"$concatArrays": [{"$ifNull": ["$appliedEvents", []]}, [marker]]}
    return [
        {"$set": {
            **fields, **{k: {"$literal": v} for k, v in owner.items()},
            "updatedAt": {"$max": [{"$ifNull": ["$updatedAt", at]}, at]},
            "version": {"$add": [{"$ifNull": ["$version", 0]}, taken["version"]]},
            "status": ACTIVE,
            "appliedEvents": {"$slice": [applied, -APPLIED_KEPT]},
        }},
        {"$set": {"dueAt": {"$add": ["$updatedAt", delay_seconds * 1000]}}},
    ]
