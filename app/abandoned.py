"""The abandoned-cart clock.

A cart is abandoned when it has items, belongs to an identified customer, and
has not changed (nor been checked out) for the shop's `abandonedCartDelaySeconds`.
Every change sets `dueAt` and bumps `version` (app/carts.py); this worker fires
what is due. It finds due carts through the index on `dueAt`, so its cost grows
with the carts due, not with the carts kept.

Exactly once, with any number of processes: the trigger's id is the cart and its
version, so when several processes find the same due cart, only the first insert
of that id succeeds and only that process publishes it. The cart is then settled
(`dueAt` cleared, status ABANDONED) with one update conditional on the version it
had, so a change made meanwhile keeps its own clock. A process that dies between
the insert and the settling leaves the cart due; the next tick finds the trigger
stored already and only settles it (the outbox sweep publishes it if need be).

An anonymous cart that falls due is set aside (`dueAt` cleared) without firing;
identification merges it into the customer's cart and restarts the clock from
its last change (app/carts.py `merged`), so it fires then if it is still abandoned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import UpdateOne

from app import carts, triggers
from app.platform import Platform

BATCH = 1000
MAX_BATCHES = 20  # per tick; what is left waits for the next tick


def due_query(now: datetime) -> dict[str, Any]:
    """Carts due at `now`; served by the `dueAt` index (null never compares <= a date)."""
    return {"dueAt": {"$lte": now}}


def trigger_id(cart: dict[str, Any]) -> str:
    return f"{cart['_id']}:{cart.get('version', 0)}"


async def fire_due(platform: Platform, limit: int = BATCH) -> int:
    """Fire the abandoned carts that are due; returns how many fired in this process."""
    fired = 0
    for _ in range(MAX_BATCHES):
        found, fresh = await _fire_batch(platform, limit)
        fired += fresh
        if found < limit:
            break
    return fired


async def _fire_batch(platform: Platform, limit: int) -> tuple[int, int]:
    """One batch in three round trips: find, store the triggers, settle the carts."""
    storage = platform.storage
    now = platform.clock.now()
    due = await storage.carts.find(due_query(now)).sort("dueAt", 1).limit(limit).to_list(limit)
    if not due:
        return 0, 0
    fired: list[dict[str, Any]] = []
    settle: list[UpdateOne] = []
    for cart in due:
        items = carts.items_of(cart)
        abandoned = bool(items) and bool(cart.get("userId"))
        if abandoned:
            fired.append(triggers.make(
                trigger_id(cart), triggers.ABANDONED_CART, cart["shopId"], fired_at=now,
                visitor_id=cart.get("visitorId") or "", user_id=cart.get("userId"),
                cart={"items": items, "status": carts.ABANDONED, "updatedAt": cart["updatedAt"]},
            ))
        update: dict[str, Any] = {"dueAt": None}
        if abandoned:
            update["status"] = carts.ABANDONED
        settle.append(UpdateOne({"_id": cart["_id"], "shopId": cart["shopId"],
                                 "version": cart.get("version", 0)}, {"$set": update}))
    fresh = await platform.outbox.record(fired)
    await storage.carts.bulk_write(settle, ordered=False)
    return len(due), len(fresh)
