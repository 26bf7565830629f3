"""Carts: one per customer (or per anonymous visitor), and the abandoned-cart clock.

Every cart change sets `dueAt = changedAt + abandonedCartDelaySeconds` and bumps
`version`; the abandoned-cart worker (app/abandoned.py) fires what is due.
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


def merged(
    anonymous: dict[str, Any], customer: dict[str, Any] | None, owner: dict[str, Any],
    delay_seconds: int,
) -> dict[str, Any]:
    """The customer's cart after the visitor's anonymous cart is merged into it.

    The same product's quantities add. The abandoned-cart clock restarts from
    the later of the two carts' last changes, so a cart abandoned while
    anonymous is due at once when its visitor is identified.
    """
    items: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in ((customer or {}).get("items") or {}).items()
    }
    for key, item in (anonymous.get("items") or {}).items():
        if key in items:
            mine = items[key]
            mine["quantity"] = mine.get("quantity", 0) + item.get("quantity", 0)
            mine["addedAt"] = min(mine.get("addedAt") or item["addedAt"], item["addedAt"])
            if item.get("price") is not None:
                mine["price"] = item["price"]
        else:
            items[key] = dict(item)
    changed = [d["updatedAt"] for d in (anonymous, customer) if d and d.get("updatedAt")]
    updated = max(changed)
    has_items = any(i.get("quantity", 0) > 0 for i in items.values())
    return {
        **owner,
        "items": items,
        "updatedAt": updated,
        "version": (customer or {}).get("version", 0) + anonymous.get("version", 0) + 1,
        "status": ACTIVE if has_items else EMPTY,
        "dueAt": updated + timedelta(seconds=delay_seconds) if has_items else None,
    }
