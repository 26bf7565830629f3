"""`upsertOrders`: orders as the shop's systems know them (CONTRACT.md section 12).

Each order is matched to the customer's order of that id, whoever stored it:
found, its items, prices and status are set in place (attribution kept); not
found, it is inserted under a key of its own (orders.shop_order_key), with its
attribution decided then. An insert that meets a duplicate key (a retry, another
process) falls back to the update, so a retried call changes nothing more. The
answer counts the orders that were created or changed.

Checked as a whole before anything is written: a bad order fails the call.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from app.attribution.orders import (
    STATUSES,
    check_price,
    existing,
    facts,
    revenue_of,
    shop_order_key,
)
from app.core import BadInput, utc

MAX_ORDERS = 1000
MAX_ITEMS = 500
MAX_ID = 128
MAX_QUANTITY = 1_000_000


def checked(orders: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The orders as documents' fields; BadInput naming the first wrong field."""
    if not 1 <= len(orders) <= MAX_ORDERS:
        raise BadInput(f"upsertOrders takes 1 to {MAX_ORDERS} orders", field="orders")
    out = []
    seen = set()
    for n, order in enumerate(orders):
        where = f"orders[{n}]"
        for name in ("orderId", "userId"):
            value = order.get(name)
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
                raise BadInput(f"{where}.{name} must be 1 to {MAX_ID} characters",
                               field=name)
        if (order["userId"], order["orderId"]) in seen:
            raise BadInput(f"{where}: order {order['orderId']!r} is given twice",
                           field="orderId")
        seen.add((order["userId"], order["orderId"]))
        items = order.get("items") or []
        if len(items) > MAX_ITEMS:
            raise BadInput(f"{where}.items holds at most {MAX_ITEMS} items", field="items")
        lines = []
        for item in items:
            pid, quantity, price = item.get("productId"), item.get("quantity"), item.get("price")
            if not isinstance(pid, str) or not pid.strip() or len(pid) > MAX_ID:
                raise BadInput(f"{where}: productId must be 1 to {MAX_ID} characters",
                               field="productId")
            if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
                raise BadInput(f"{where}: quantity must be 1 to {MAX_QUANTITY}",
                               field="quantity")
            if not check_price(price):
                raise BadInput(f"{where}: price must be a number from 0", field="price")
            lines.append({"productId": pid, "quantity": quantity, "price": price})
        status = order.get("status") or "PLACED"
        if status not in STATUSES:
            raise BadInput(f"{where}.status must be one of {', '.join(STATUSES)}",
                           field="status")
        placed = order.get("placedAt")
        at = utc(placed) if placed is not None else now
        if at > now:
            raise BadInput(f"{where}.placedAt is in the future", field="placedAt")
        out.append({"orderId": order["orderId"], "userId": order["userId"], "items": lines,
                    "status": status, "at": at})
    return out


def _change(order: dict[str, Any], stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields the shop's word sets; an item keeps the category the cart knew."""
    stored = stored or {}
    at = stored.get("completedAt") or order["at"]
    known = {i.get("productId"): i.get("categoryId") for i in stored.get("items") or []}
    items = [{"productId": i["productId"], "categoryId": known.get(i["productId"]),
              "quantity": i["quantity"], "price": i["price"], "addedAt": at}
             for i in order["items"]]
    return {"items": items, "status": order["status"], "revenue": revenue_of(items)}


async def upsert_orders(storage: Any, shop: Any, given: list[dict[str, Any]],
                        now: datetime) -> int:
    orders = checked(given, now)
    shop_id = shop.shop_id
    window = shop.settings.attribution_window_seconds
    found = await asyncio.gather(*(existing(storage, shop_id, o["userId"], o["orderId"])
                                   for o in orders))
    updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
    inserts = []
    for order, stored in zip(orders, found, strict=True):
        if stored is not None:
            updates.append((order, stored))
        else:
            inserts.append(order)
    decided = await asyncio.gather(*(facts(storage, shop_id, o["userId"], None, o["at"], window)
                                     for o in inserts))
    docs = [{"_id": shop_order_key(shop_id, o["userId"], o["orderId"]), "shopId": shop_id,
             "orderId": o["orderId"], "userId": o["userId"], "visitorId": None,
             "completedAt": o["at"], "source": "shop", **_change(o), **f}
            for o, f in zip(inserts, decided, strict=True)]
    changed = len(docs)
    if docs:
        try:
            await storage.orders.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            dup = {e["index"] for e in error.details["writeErrors"] if e["code"] == 11000}
            if len(dup) < len(error.details["writeErrors"]):
                raise
            for index in sorted(dup):  # stored meanwhile (a retry, another process)
                stored = await storage.orders.find_one({"_id": docs[index]["_id"],
                                                        "shopId": shop_id})
                updates.append((inserts[index], stored or {}))
            changed -= len(dup)
    return changed + await _update(storage, shop_id, updates)


async def _update(storage: Any, shop_id: int,
                  updates: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Set items, prices and status in place; the attribution stays as decided."""
    ops = []
    for order, stored in updates:
        change = _change(order, stored)
        if all(stored.get(k) == v for k, v in change.items()):
            continue  # nothing new: a retried call
        ops.append(UpdateOne({"_id": stored["_id"], "shopId": shop_id},
                             {"$set": {**change, "rolled": False}, "$inc": {"version": 1}}))
    if ops:
        await storage.orders.bulk_write(ops, ordered=False)
    return len(ops)
