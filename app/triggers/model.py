"""Triggers: what they are, how they are named, and how they travel on the broker.

Each trigger's `_id` is deterministic (the event that fired it, the cart and its
version for an abandoned cart, the session for an abandoned browse or category
view; with the rule that fired it, app/triggers/rules.py), so a second insert of the same
trigger, by a retry or by another server process, is a duplicate and not a
second trigger.
The outbox (app/triggers/outbox.py) stores and publishes them; the feed (app/triggers/feed.py)
pages through the log and follows it live.

The log is ordered by `sortKey`, a position the storing process assigns at
insert time (its clock in ms x 1000, plus a counter, never going backwards),
followed by the id. Replay with `after` and the paging of `Query.triggers` use
it, so a trigger stored later never sorts before one stored earlier in the same
process, whatever the event time (`firedAt`) it carries.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from app.core import to_ms, utc

ABANDONED_CART = "ABANDONED_CART"
ABANDONED_BROWSE = "ABANDONED_BROWSE"
ABANDONED_CATEGORY = "ABANDONED_CATEGORY"
SECTION_VISITED = "SECTION_VISITED"
CUSTOM_EVENT = "CUSTOM_EVENT"
ORDER_COMPLETED = "ORDER_COMPLETED"
AUDIENCE_ENTERED = "AUDIENCE_ENTERED"
AUDIENCE_EXITED = "AUDIENCE_EXITED"
TYPES = (ABANDONED_CART, ABANDONED_BROWSE, ABANDONED_CATEGORY, SECTION_VISITED, CUSTOM_EVENT,
         ORDER_COMPLETED, AUDIENCE_ENTERED, AUDIENCE_EXITED)  # GraphQL TriggerType


def channel(shop_id: int) -> str:
    return f"triggers:{shop_id}"


def make(
    trigger_id: str, type_: str, shop_id: int, *, fired_at: datetime, visitor_id: str,
    user_id: str | None, name: str | None = None, cart: dict[str, Any] | None = None,
    properties: Any = None, rule_id: str | None = None,
    products: list[dict[str, Any]] | None = None, category_id: str | None = None,
) -> dict[str, Any]:
    """A trigger document; `Outbox.store` gives it its place in the log."""
    return {
        "ruleId": rule_id,
        "products": products,
        "categoryId": category_id,
        "_id": trigger_id,
        "type": type_,
        "shopId": shop_id,
        "userId": user_id,
        "visitorId": visitor_id,
        "name": name,
        "firedAt": fired_at,
        "cart": cart,
        "properties": None if properties is None else json.dumps(properties),
        "published": False,
        "rolled": False,  # until the performance rollups count it (app/attribution/rollups.py)
    }


def encode(doc: dict[str, Any]) -> str:
    """A trigger as published on the broker."""
    out = {k: v for k, v in doc.items() if k not in {"published", "storedAt", "rolled"}}
    return json.dumps(out, default=_json_default, separators=(",", ":"))


def decode(message: str) -> dict[str, Any]:
    doc = json.loads(message)
    doc["firedAt"] = utc(datetime.fromisoformat(doc["firedAt"]))
    cart = doc.get("cart")
    if cart:
        for item in cart.get("items", []):
            if isinstance(item.get("addedAt"), str):
                item["addedAt"] = utc(datetime.fromisoformat(item["addedAt"]))
        if isinstance(cart.get("updatedAt"), str):
            cart["updatedAt"] = utc(datetime.fromisoformat(cart["updatedAt"]))
    for product in doc.get("products") or []:
        if isinstance(product.get("lastInteractionAt"), str):
            product["lastInteractionAt"] = utc(datetime.fromisoformat(product["lastInteractionAt"]))
    return doc


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    raise TypeError(type(value).__name__)


POSITION = re.compile(r"^\d{17}:")


def position(at: datetime) -> str:
    """The log position of time `at`: every trigger stored later sorts after it."""
    return f"{to_ms(at) * 1000:017d}"


