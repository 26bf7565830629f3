"""Carts: one per customer (or per anonymous visitor), and the abandoned-cart clock.

Every cart change sets `dueAt = changedAt + abandonedCartDelaySeconds` and bumps
`version`; the abandoned-cart worker (app/abandoned.py) fires what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne

ACTIVE, EMPTY, ABANDONED, ORDERED = "ACTIVE", "EMPTY", "ABANDONED", "ORDERED"


def item_key(product_id: str) -> str:
    """A product id made safe as a MongoDB field name ('.' and '$' have meanings there)."""
    return product_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def add(
    cart_id: str, owner: dict[str, Any], *, product_id: str, category_id: str | None,
    quantity: int, price: float | None, at: datetime, delay_seconds: int,
) -> UpdateOne:
    key = f"items.{item_key(product_id)}"
    fields = {
        **owner, f"{key}.productId": product_id, f"{key}.categoryId": category_id,
        "updatedAt": at, "dueAt": at + timedelta(seconds=delay_seconds), "status": ACTIVE,
    }
    if price is not None:
        fields[f"{key}.price"] = price
    return UpdateOne(
        {"_id": cart_id},
        {"$set": fields, "$inc": {f"{key}.quantity": quantity, "version": 1},
         "$min": {f"{key}.addedAt": at}},
        upsert=True,
    )


def remove(
    cart_id: str, owner: dict[str, Any], *, product_id: str, at: datetime, delay_seconds: int
) -> UpdateOne:
    return UpdateOne(
        {"_id": cart_id},
        {"$set": {**owner, "updatedAt": at, "status": ACTIVE,
                  "dueAt": at + timedelta(seconds=delay_seconds)},
         "$unset": {f"items.{item_key(product_id)}": ""}, "$inc": {"version": 1}},
        upsert=True,
    )


def clear(cart_id: str, owner: dict[str, Any], *, at: datetime, status: str = EMPTY) -> UpdateOne:
    return UpdateOne(
        {"_id": cart_id},
        {"$set": {**owner, "items": {}, "updatedAt": at, "status": status, "dueAt": None},
         "$inc": {"version": 1}},
        upsert=True,
    )


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
