"""Deterministic `_id`s, built from what the caller already knows.

The hot path addresses documents only by these ids, so uniqueness (and event
idempotency) comes from `_id` and never from a secondary unique index.
"""

from __future__ import annotations

from typing import Any


def visitor_key(shop_id: int, visitor_id: str) -> str:
    return f"{shop_id}:{visitor_id}"


def customer_key(shop_id: int, user_id: str) -> str:
    return f"{shop_id}:{user_id}"


def event_key(shop_id: int, visitor_id: str, event_id: str) -> str:
    """An event id is its visitor's own: another visitor's same id is another event."""
    return f"{shop_id}:{visitor_id}:{event_id}"


def session_key(shop_id: int, session_id: str) -> str:
    return f"{shop_id}:{session_id}"


def owner_of(user_id: str | None, visitor_id: str) -> str:
    """Who a cart belongs to: the customer once known, else the anonymous visitor."""
    return f"u:{user_id}" if user_id else f"v:{visitor_id}"


def cart_key(shop_id: int, owner: str) -> str:
    return f"{shop_id}:{owner}"


def order_key(shop_id: int, visitor_id: str, order_id: str) -> str:
    """An order id is its visitor's own: nobody else's checkout can take it first."""
    return f"{shop_id}:{visitor_id}:{order_id}"


def interest_key(shop_id: int, user_id: str, kind: str, item_id: str) -> str:
    return f"{shop_id}:{user_id}:{kind}:{item_id}"


def session_id_for(visitor_id: str, start_ms: int) -> str:
    return f"{visitor_id}.{start_ms}"


def start_ms_of(session_id: str) -> dict[str, Any]:
    """An aggregation expression: the start (ms) that `session_id_for` put in a session id.

    Visitor ids have no '.', so the start is what follows the last one.
    """
    return {"$toLong": {"$arrayElemAt": [{"$split": [session_id, "."]}, -1]}}
