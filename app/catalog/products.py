"""Products: the checks on what a shop sends, and what one upsert changes.

A product is stored as one document of `products`, `_id = f"{shopId}:{productId}"`,
with the contract's fields (`shopId`, `productId`, `categoryId`, `name`, `url`,
`imageUrl`, `price`, `oldPrice`, `currency`, `available`, `updatedAt`) and `rev`,
a number that grows by one with every write that changes the product.

`plan` compares what is given with what is stored and answers, per product, the
fields to set and the change that concerns triggers: a price drop (a lower price
than the stored one; a first price is not a drop) or a return to stock (stored
`available: false`, given `true`). Each change carries a deterministic id,
`<product _id>:<rev after the write>`: the write that makes the change records it
in the same document (app/catalog/store.py), so a retried upsert finds nothing
changed and records nothing twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_PRODUCTS = 1000  # a call
MAX_ID = 128  # productId, categoryId: as tracked events allow
MAX_TEXT = 1000  # name
MAX_URL = 2048  # url, imageUrl
MAX_PRICE = 1e12
FIELDS = ("categoryId", "name", "url", "imageUrl", "price", "oldPrice", "currency", "available")
PRICE_DROP, RESTOCK = "PRICE_DROP", "RESTOCK"
HISTORY_KEPT = 50  # price changes a product remembers (the dashboard's price history)


class Rejected(ValueError):
    """One product that cannot be applied; the others can."""


def product_key(shop_id: int, product_id: str) -> str:
    return f"{shop_id}:{product_id}"


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected(f"{name} must be a string")
    value = value.strip()
    if not value:
        return None
    if len(value) > limit or any(ord(c) < 32 and c not in "\t" for c in value):
        raise Rejected(f"{name} must be at most {limit} characters, without control characters")
    return value


def _price(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(f"{name} must be a number")
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE:
        raise Rejected(f"{name} must be a number from 0 to {MAX_PRICE:g}")
    return round(float(value), 4)


def _link(value: Any, name: str) -> str | None:
    text = _text(value, name, MAX_URL)
    if text is not None and not text.lower().startswith(("http://", "https://", "//")):
        raise Rejected(f"{name} must be an http(s) address")
    return text


def checked(given: dict[str, Any]) -> dict[str, Any]:
    """The product's fields as stored, only those given (a field left out stays as it is).

    `given` uses the contract's names; a value of None means "not given", as in GraphQL
    input where a field left out and a null both leave the stored value alone.
    """
    product_id = _text(given.get("productId"), "productId", MAX_ID)
    if product_id is None:
        raise Rejected("productId is required")
    out: dict[str, Any] = {"productId": product_id}
    if given.get("categoryId") is not None:
        out["categoryId"] = _text(given["categoryId"], "categoryId", MAX_ID)
    if given.get("name") is not None:
        out["name"] = _text(given["name"], "name", MAX_TEXT)
    for name in ("url", "imageUrl"):
        if given.get(name) is not None:
            out[name] = _link(given[name], name)
    for name in ("price", "oldPrice"):
        if given.get(name) is not None:
            out[name] = _price(given[name], name)
    if given.get("currency") is not None:
        currency = _text(given["currency"], "currency", 8)
        out["currency"] = currency.upper() if currency else None
    if given.get("available") is not None:
        if not isinstance(given["available"], bool):
            raise Rejected("available must be true or false")
        out["available"] = given["available"]
    return {k: v for k, v in out.items() if v is not None or k == "productId"}


@dataclass
class Change:
    """A change that may fire triggers, as recorded in the product document."""

    change_id: str
    kind: str  # PRICE_DROP or RESTOCK
    at: datetime
    old: float | None = None
    new: float | None = None
    since: datetime | None = None  # RESTOCK: when the product went out of stock

    def to_doc(self) -> dict[str, Any]:
        return {"changeId": self.change_id, "kind": self.kind, "at": self.at,
                "old": self.old, "new": self.new, "since": self.since,
                "phase": 0, "after": None}


@dataclass
class Plan:
    """What one product's upsert does: `outcome` is created, updated or unchanged."""

    outcome: str
    set_fields: dict[str, Any]
    changes: list[Change]
    history: dict[str, Any] | None = None  # a price point for the price history


def plan(shop_id: int, given: dict[str, Any], stored: dict[str, Any] | None,
         now: datetime) -> Plan:
    """Compare a checked product with the stored one."""
    if stored is None:
        fields = {"available": True, **given}
        history = {"at": now, "price": fields["price"]} if "price" in fields else None
        return Plan("created", fields, [], history)
    diff = {k: v for k, v in given.items() if k != "productId" and stored.get(k) != v}
    if not diff:
        return Plan("unchanged", {}, [])
    rev = int(stored.get("rev", 0)) + 1
    change_id = f"{product_key(shop_id, given['productId'])}:{rev}"
    changes = []
    old_price, new_price = stored.get("price"), diff.get("price")
    if new_price is not None and old_price is not None and new_price < old_price:
        changes.append(Change(change_id, PRICE_DROP, now, old_price, new_price))
    if diff.get("available") is True and stored.get("available") is False:
        changes.append(Change(f"{change_id}:stock", RESTOCK, now,
                              since=stored.get("unavailableSince") or stored.get("updatedAt")))
    if diff.get("available") is False:
        diff["unavailableSince"] = now
    history = {"at": now, "price": new_price} if new_price is not None else None
    return Plan("updated", diff, changes, history)


def drop_percent(old: float, new: float) -> float:
    """How much lower `new` is than `old`, in percent, to two decimals."""
    return round((old - new) / old * 100, 2) if old > 0 else 0.0


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A product as triggers and webhooks carry it (the GraphQL Product's fields)."""
    return {"productId": doc["productId"], "categoryId": doc.get("categoryId"),
            "name": doc.get("name"), "url": doc.get("url"), "imageUrl": doc.get("imageUrl"),
            "price": doc.get("price"), "oldPrice": doc.get("oldPrice"),
            "currency": doc.get("currency"), "available": doc.get("available", True) is not False,
            "updatedAt": doc.get("updatedAt")}
