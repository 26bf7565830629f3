"""Abandoned browse and category view: what a session viewed, kept with its own write.

A session is watched while it could still turn out abandoned: it viewed a
product (ABANDONED_BROWSE) or a category and no product (ABANDONED_CATEGORY),
and had no cart add and no checkout. Its `wDueMs` is its last event + the first
quiet time of those rules (ms since the epoch, null when nothing can fire); the
worker (app/abandonment_worker.py) finds what is due through an index on it.

Where the state lives, so that the hot path pays no extra round trip:
- the visitor's current session: on the visitor document, in the same atomic
  update that sessionizes the batch (app/sessions.py `visitor_update`), since a
  late event must move `wDueMs` and a cart add must clear it at once;
- a session that closes while still watched: moved onto its session document by
  the write that closes it (app/sessions.py `write`), which happens anyway.

Fields (on both): wP product ids viewed (at most MAX_PRODUCTS), wC category view
counts by category (`{id, n, t}` under an escaped key, at most MAX_CATEGORIES),
wCk the number of categories in wC, wPv / wCv product / category views, wX a cart
add or checkout happened, wDueMs. Session documents also get wLastMs.
A product view counts for its category too: the browse trigger's category is
the one most viewed, product pages included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.carts import item_key
from app.clock import to_ms
from app.events import EventType
from app.rules import RuleSet
from app.triggers import ABANDONED_BROWSE, ABANDONED_CATEGORY

if TYPE_CHECKING:
    from app.tracking import Item

MAX_PRODUCTS = 50
MAX_CATEGORIES = 50
WATCHED = ("wP", "wC", "wCk", "wPv", "wCv", "wX", "wDueMs")


@dataclass(frozen=True)
class Mark:
    """What one tracked event tells about its session."""

    at_ms: int
    product_id: str | None = None  # a product view
    category_id: str | None = None  # a category view, or a product view's category
    category_view: bool = False
    blocks: bool = False  # a cart add or a checkout: no abandoned browse or category


def mark(event_type: EventType, product_id: str | None, category_id: str | None,
         at_ms: int) -> Mark:
    if event_type == EventType.PRODUCT_VIEW:
        return Mark(at_ms, product_id, category_id)
    if event_type == EventType.CATEGORY_VIEW:
        return Mark(at_ms, None, category_id, category_view=True)
    if event_type in (EventType.CART_ADD, EventType.CHECKOUT):
        return Mark(at_ms, blocks=True)
    return Mark(at_ms)


@dataclass(frozen=True)
class Delays:
    """The first quiet time (seconds) of the shop's enabled browse and category rules."""

    browse: int | None
    category: int | None

    @classmethod
    def of(cls, ruleset: RuleSet) -> Delays:
        return cls(ruleset.first_delay(ABANDONED_BROWSE), ruleset.first_delay(ABANDONED_CATEGORY))


@dataclass(frozen=True)
class Watch:
    """A batch's events as the session state sees them (one mark per event), and the delays."""

    marks: list[Mark]
    delays: Delays

    @classmethod
    def of(cls, items: list[Item], ruleset: RuleSet) -> Watch:
        return cls([mark(i.event.type, i.event.product_id, i.event.category_id, to_ms(i.at))
                    for i in items], Delays.of(ruleset))


@dataclass
class Seen:
    """What a session viewed so far."""

    products: list[str] = field(default_factory=list)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    product_views: int = 0
    category_views: int = 0
    blocked: bool = False

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Seen:
        doc = doc or {}
        categories = {k: dict(v) for k, v in (doc.get("wC") or {}).items()}
        return cls(list(doc.get("wP") or []), categories, doc.get("wPv") or 0,
                   doc.get("wCv") or 0, bool(doc.get("wX")))

    def add(self, marks: list[Mark]) -> Seen:
        for m in marks:
            self.blocked = self.blocked or m.blocks
            if m.product_id:
                self.product_views += 1
                if m.product_id not in self.products and len(self.products) < MAX_PRODUCTS:
                    self.products.append(m.product_id)
            elif m.category_view:
                self.category_views += 1
            if m.category_id:
                key = item_key(m.category_id)
                entry = self.categories.get(key)
                if entry is None and len(self.categories) < MAX_CATEGORIES:
                    entry = self.categories[key] = {"id": m.category_id, "n": 0, "t": 0}
                if entry is not None:
                    entry["n"] += 1
                    entry["t"] = max(entry["t"], m.at_ms)
        return self

    def kind(self) -> str | None:
        """Which abandonment this session could be, if any."""
        if self.blocked:
            return None
        if self.product_views:
            return ABANDONED_BROWSE
        return ABANDONED_CATEGORY if self.category_views else None

    def due_ms(self, last_ms: int, delays: Delays) -> int | None:
        kind = self.kind()
        if kind is None:
            return None
        delay = delays.browse if kind == ABANDONED_BROWSE else delays.category
        return None if delay is None else last_ms + delay * 1000

    def top_category(self) -> str | None:
        """The category viewed most; the latest viewed on a tie."""
        if not self.categories:
            return None
        best = max(self.categories.values(), key=lambda c: (c["n"], c["t"]))
        return str(best["id"])

    def fields(self, last_ms: int, delays: Delays) -> dict[str, Any]:
        """The state as stored on a closed session's document."""
        return {"wP": self.products, "wC": self.categories, "wCk": len(self.categories),
                "wPv": self.product_views, "wCv": self.category_views, "wX": self.blocked,
                "wDueMs": self.due_ms(last_ms, delays), "wLastMs": last_ms}


def carried(before: dict[str, Any] | None, marks: list[Mark], last_ms: int,
            delays: Delays) -> dict[str, Any]:
    """The fields for the session document of a session that closes in this write.

    `before` is the visitor as it was (its current session is this one) or None for
    a session opened and closed within the batch; `marks` are this batch's events
    in it. Nothing when the session is not watched any more.
    """
    if before is not None and not marks:
        # Closed without new events: it is due when the worker last left it (perhaps never).
        if before.get("wDueMs") is None:
            return {}
        return {**{k: before.get(k) for k in WATCHED}, "wLastMs": before.get("sLastMs")}
    seen = Seen.from_doc(before).add(marks)
    watched = seen.fields(last_ms, delays)
    return watched if watched["wDueMs"] is not None else {}


def _lit(value: Any) -> dict[str, Any]:
    return {"$literal": value}


def _stored(name: str, empty: Any) -> dict[str, Any]:
    return {"$ifNull": [f"${name}", _lit(empty)]}


def visitor_fields(marks: list[Mark], continues: Any, last_expr: Any,
                   delays: Delays) -> dict[str, Any]:
    """The current session's state, for the visitor update's main stage.

    `continues` is an expression (or False): whether the batch continues the stored
    session; `last_expr` the session's last event (ms) after the batch.
    """
    batch = Seen().add(marks)

    def either(stored: Any, fresh: Any) -> Any:
        return fresh if continues is False else {"$cond": [continues, stored, fresh]}

    product_views = either({"$add": [_stored("wPv", 0), batch.product_views]},
                           batch.product_views)
    category_views = either({"$add": [_stored("wCv", 0), batch.category_views]},
                            batch.category_views)
    blocked = either({"$or": [_stored("wX", False), batch.blocked]}, batch.blocked)
    products: Any = _stored("wP", [])
    if batch.products:
        products = {"$cond": [{"$lt": [{"$size": products}, MAX_PRODUCTS]},
                              {"$setUnion": [products, _lit(batch.products)]}, products]}
    return {
        "wP": either(products, _lit(batch.products)),
        # Counts are added by the next stage (`category_stage`), which sees these.
        "wC": either(_stored("wC", {}), _lit({})),
        "wCk": either(_stored("wCk", 0), 0),
        "wPv": product_views,
        "wCv": category_views,
        "wX": blocked,
        "wDueMs": _due_expr(product_views, category_views, blocked, last_expr, delays),
    }


def _due_expr(product_views: Any, category_views: Any, blocked: Any, last_expr: Any,
              delays: Delays) -> Any:
    def after(delay: int | None) -> Any:
        return None if delay is None else {"$add": [last_expr, delay * 1000]}

    if delays.browse is None and delays.category is None:
        return None
    return {"$cond": [blocked, None, {"$cond": [
        {"$gt": [product_views, 0]}, after(delays.browse),
        {"$cond": [{"$gt": [category_views, 0]}, after(delays.category), None]}]}]}


def category_stage(marks: list[Mark]) -> dict[str, Any] | None:
    """A stage adding the batch's category views to `wC` (None when it has none).

    Each category's entry is set by its escaped key; a category not counted yet is
    added only while fewer than MAX_CATEGORIES are (`$$REMOVE` leaves it out).
    """
    batch = Seen().add(marks).categories
    if not batch:
        return None
    room = {"$lt": [_stored("wCk", 0), MAX_CATEGORIES]}
    fields: dict[str, Any] = {}
    added = []
    for key, entry in batch.items():
        count = {"$ifNull": [f"$wC.{key}.n", 0]}
        known = {"$gt": [count, 0]}
        fields[f"wC.{key}"] = {"$cond": [{"$or": [known, room]}, {
            "id": _lit(entry["id"]),
            "n": {"$add": [count, entry["n"]]},
            "t": {"$max": [{"$ifNull": [f"$wC.{key}.t", 0]}, entry["t"]]},
        }, "$$REMOVE"]}
        added.append({"$cond": [known, 0, {"$cond": [room, 1, 0]}]})
    fields["wCk"] = {"$add": [_stored("wCk", 0), *added]}
    return {"$set": fields}
