"""Orders' revenue, status and attribution, from either side that stores them first.

An order is stored by the tracker's checkout (app/tracking/effects.py) or by the
shop's systems (`upsertOrders`), whichever comes first. A customer's order has one
key on both sides (`shop_order_key`), so the second insert meets a duplicate key:
- a checkout then leaves the order the shop stored as it is;
- `upsertOrders` updates an order the checkout stored in place (its items,
  prices and status replace the cart's) and keeps its attribution.

The attribution is decided when the order document is first written, and is part
of that one insert (deterministic `_id`): a retry, another process or the other
side finds the decision made. What it is decided from is read through indexes:
the customer's latest session opened by a trigger link within the window (CLICK),
else the latest trigger delivered within the window (VIEW), held-out triggers and
order confirmations aside. The order's channel is that of its customer's session
at the time (the checkout's own session).

Every order carries `rolled: false` until the rollups count it (rollups.py);
a change of status or items sets it again, and the rollups count the difference.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Any

from app.attribution.decide import decide
from app.core import order_key

STATUSES = ("PLACED", "PAID", "CANCELLED", "RETURNED")
COUNTED = ("PLACED", "PAID")  # cancelled and returned orders leave the reports
NOT_A_CAUSE = ("ORDER_COMPLETED",)  # a confirmation does not bring the next order


def revenue_of(items: list[dict[str, Any]]) -> float:
    return round(sum((i.get("price") or 0) * (i.get("quantity") or 0) for i in items), 6)


def shop_order_key(shop_id: int, user_id: str, order_id: str) -> str:
    """A customer's order: `~` is in no visitor id, so no anonymous checkout's key."""
    return f"{shop_id}:~{user_id}:{order_id}"


def order_key_of(shop_id: int, user_id: str | None, visitor_id: str, order_id: str) -> str:
    """The checkout's order key: the customer's (as upsertOrders makes it), else the
    anonymous visitor's."""
    if user_id:
        return shop_order_key(shop_id, user_id, order_id)
    return order_key(shop_id, visitor_id, order_id)


def _who(user_id: str | None, visitor_id: str | None) -> dict[str, Any]:
    either = [{"userId": user_id}] if user_id else []
    if visitor_id:
        either.append({"visitorId": visitor_id})
    return {"$or": either} if len(either) > 1 else either[0]


async def marks_at(storage: Any, shop_id: int, user_id: str | None, visitor_id: str | None,
                   at: datetime, window_seconds: int) -> dict[str, Any]:
    """The customer's latest click and latest delivered trigger inside the window."""
    since = at - timedelta(seconds=window_seconds)
    who = _who(user_id, visitor_id)
    clicks, views = await asyncio.gather(
        storage.sessions.find({"shopId": shop_id, **who, "triggerId": {"$type": "string"},
                               "startedAt": {"$gte": since, "$lte": at}},
                              {"triggerId": 1, "triggerRuleId": 1, "triggerType": 1,
                               "triggerFiredAt": 1, "startedAt": 1}
                              ).sort("startedAt", -1).limit(1).to_list(1),
        storage.triggers.find({"shopId": shop_id, **who,
                               "firedAt": {"$gte": since, "$lte": at},
                               "heldOut": {"$ne": True}, "type": {"$nin": list(NOT_A_CAUSE)}},
                              {"ruleId": 1, "type": 1, "firedAt": 1}
                              ).sort("firedAt", -1).limit(1).to_list(1))
    marks: dict[str, Any] = {}
    if clicks:
        s = clicks[0]
        marks["click"] = {"triggerId": s["triggerId"], "ruleId": s.get("triggerRuleId"),
                          "type": s.get("triggerType"), "at": s["startedAt"],
                          "firedAt": s.get("triggerFiredAt") or s["startedAt"]}
    if views:
        t = views[0]
        marks["view"] = {"triggerId": t["_id"], "ruleId": t.get("ruleId"), "type": t["type"],
                         "at": t["firedAt"], "firedAt": t["firedAt"]}
    return marks


async def channel_at(storage: Any, shop_id: int, user_id: str | None, visitor_id: str | None,
                     at: datetime, session_id: str | None = None) -> str | None:
    """The channel of the order's session: the checkout's own, else the latest before it."""
    query: dict[str, Any] = {"shopId": shop_id}
    if session_id is not None:
        query["sessionId"] = session_id
        query["visitorId"] = visitor_id
    else:
        query.update(_who(user_id, visitor_id), startedAt={"$lte": at})
    found = await storage.sessions.find(query, {"channel": 1}).sort("startedAt", -1) \
        .limit(1).to_list(1)
    return found[0].get("channel") if found else None


async def facts(storage: Any, shop_id: int, user_id: str | None, visitor_id: str | None,
                at: datetime, window_seconds: int, session_id: str | None = None
                ) -> dict[str, Any]:
    """What a new order document carries besides its items: decided once, here."""
    marks, channel = await asyncio.gather(
        marks_at(storage, shop_id, user_id, visitor_id, at, window_seconds),
        channel_at(storage, shop_id, user_id, visitor_id, at, session_id))
    attribution = decide(marks, at, window_seconds)
    return {"attribution": attribution, "channel": channel or "DIRECT", "rolled": False,
            "window": window_seconds, "version": 0}


async def existing(storage: Any, shop_id: int, user_id: str, order_id: str
                   ) -> dict[str, Any] | None:
    """The customer's order of that id, stored by either side (an order a checkout stored
    before customers' orders had one key has its visitor's: found by these fields)."""
    found = await storage.orders.find({"shopId": shop_id, "orderId": order_id,
                                       "userId": user_id}).limit(1).to_list(1)
    return found[0] if found else None


def check_price(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value)
                             and 0 <= value <= 1e12)
