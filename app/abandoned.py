"""The abandoned-cart clock.

A cart is abandoned when it has items, belongs to an identified customer, and
has not changed (nor been checked out) for the shop's `abandonedCartDelaySeconds`.
Every change sets `dueAt` (app/carts.py); this worker fires what is due. The
trigger's id is the cart and its version, so when several processes find the
same due cart, only the first insert succeeds and it fires exactly once.
"""

from __future__ import annotations

from typing import Any

from pymongo import UpdateOne

from app import carts, triggers
from app.platform import Platform


async def fire_due(platform: Platform, limit: int = 1000) -> int:
    """Fire the abandoned carts that are due; returns how many fired here."""
    storage = platform.storage
    now = platform.clock.now()
    due = await storage.carts.find({"dueAt": {"$ne": None, "$lte": now}}) \
        .sort("dueAt", 1).limit(limit).to_list(limit)
    if not due:
        return 0
    fired: list[dict[str, Any]] = []
    settle: list[UpdateOne] = []
    for cart in due:
        items = carts.items_of(cart)
        # An anonymous cart waits for its visitor to be identified; merging restarts its clock.
        abandoned = bool(items) and bool(cart.get("userId"))
        if abandoned:
            fired.append(triggers.make(
                f"{cart['_id']}:{cart.get('version', 0)}", triggers.ABANDONED_CART,
                cart["shopId"], fired_at=now, visitor_id=cart.get("visitorId") or "",
                user_id=cart.get("userId"),
                cart={"items": items, "status": carts.ABANDONED, "updatedAt": cart["updatedAt"]},
            ))
        update: dict[str, Any] = {"dueAt": None}
        if abandoned:
            update["status"] = carts.ABANDONED
        settle.append(UpdateOne({"_id": cart["_id"], "version": cart.get("version", 0)},
                                {"$set": update}))
    fresh = await platform.triggers.store(fired)
    await storage.carts.bulk_write(settle, ordered=False)
    await platform.triggers.publish(fresh)
    return len(fresh)
