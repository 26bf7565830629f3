"""Abandoned browse and category view: what a session viewed, kept with its own write.

A session is watched while it could still turn out abandoned: it viewed a
product (ABANDONED_BROWSE) or a category and no product (ABANDONED_CATEGORY),
and had no cart add and no checkout. Its `wDueMs` is its last event + the first
quiet time of those rules (ms since the epoch, null when nothing can fire); the
worker (app/abandonment/browse_worker.py) finds what is due through an index on it.

Where the state lives, so that the hot path pays no extra round trip:
- the visitor's current session: on the visitor document, in the same atomic
  update that sessionizes the batch (app/tracking/sessions.py `visitor_update`), since a
  late event must move `wDueMs` and a cart add must clear it at once;
- a session that closes while still watched: moved onto its session document by
  the write that closes it (app/tracking/sessions.py `write`), which happens anyway.

Fields (on both): wP the products viewed, wC the categories viewed (a product
view counts for its category too), each in viewing order and cut to its last
MAX_VIEWS entries, wX a cart add or checkout happened, and wDueMs; session
documents also get wLastMs. The trigger's category is the one most viewed among
those (the latest viewed on a tie), counted when it fires: plain lists keep the
update small (the lists in the main stage, `wDueMs` in one short stage after it),
cheap on MongoDB and on the embedded store alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core import EventInput, EventType
from app.triggers import ABANDONED_BROWSE, ABANDONED_CATEGORY, RuleSet

MAX_VIEWS = 20  # the last product and category views a session keeps
WATCHED = ("wP", "wC", "wX", "wDueMs")


@dataclass(frozen=True)
class Mark:
    """What one tracked event tells about its session."""

    product_id: str | None = None  # a product view
    category_id: str | None = None  # a category view, or a product view's category
    blocks: bool = False  # a cart add or a checkout: no abandoned browse or category


def mark(event_type: EventType, product_id: str | None, category_id: str | None) -> Mark:
    if event_type == EventType.PRODUCT_VIEW:
        return Mark(product_id, category_id)
    if event_type == EventType.CATEGORY_VIEW:
        return Mark(None, category_id)
    if event_type in (EventType.CART_ADD, EventType.CHECKOUT):
        return Mark(blocks=True)
    return Mark()


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
    def of(cls, events: list[EventInput], ruleset: RuleSet) -> Watch:
        return cls([mark(e.type, e.product_id, e.category_id) for e in events], Delays.of(ruleset))


@dataclass
class Seen:
    """What a session viewed so far."""

    products: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    blocked: bool = False

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Seen:
        doc = doc or {}
        return cls(list(doc.get("wP") or []), list(doc.get("wC") or []), bool(doc.get("wX")))

    def add(self, marks: list[Mark]) -> Seen:
        for m in marks:
            self.blocked = self.blocked or m.blocks
            if m.product_id:
                self.products.append(m.product_id)
            if m.category_id:
                self.categories.append(m.category_id)
        del self.products[:-MAX_VIEWS], self.categories[:-MAX_VIEWS]
        return self

    def kind(self) -> str | None:
        """Which abandonment this session could be, if any."""
        if self.blocked:
            return None
        if self.products:
            return ABANDONED_BROWSE
        return ABANDONED_CATEGORY if self.categories else None

    def due_ms(self, last_ms: int, delays: Delays) -> int | None:
        kind = self.kind()
        if kind is None:
            return None
        delay = delays.browse if kind == ABANDONED_BROWSE else delays.category
        return None if delay is None else last_ms + delay * 1000

    def distinct_products(self) -> list[str]:
        """The products viewed, each once, in the order first viewed."""
        return list(dict.fromkeys(self.products))

    def top_category(self) -> str | None:
        """The category viewed most; the latest viewed on a tie."""
        counts: dict[str, int] = {}
        latest: dict[str, int] = {}
        for position, category in enumerate(self.categories):
            counts[category] = counts.get(category, 0) + 1
            latest[category] = position
        return max(counts, key=lambda c: (counts[c], latest[c]), default=None)

    def fields(self, last_ms: int, delays: Delays) -> dict[str, Any]:
        """The state as stored on a closed session's document."""
        return {"wP": self.products, "wC": self.categories, "wX": self.blocked,
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


def visitor_fields(marks: list[Mark], continues: Any) -> dict[str, Any]:
    """The current session's views, for the visitor update's main stage.

    `continues` is an expression (or False): whether the batch continues the stored
    session. Kept small: the embedded store copies and parses the whole update for
    every event.
    """
    batch = Seen().add(marks)

    def either(stored: Any, fresh: Any) -> Any:
        return fresh if continues is False else {"$cond": [continues, stored, fresh]}

    def appended(name: str, values: list[str]) -> Any:
        if not values:
            return either(f"${name}", [])
        return either({"$slice": [{"$concatArrays": [_stored(name, []), _lit(values)]},
                                  -MAX_VIEWS]}, _lit(values))

    return {
        "wP": appended("wP", batch.products),
        "wC": appended("wC", batch.categories),
        # A cart add or checkout stays for the rest of the session.
        "wX": True if batch.blocked else either(_stored("wX", False), False),
    }


def due_stage(delays: Delays) -> dict[str, Any]:
    """The stage after it: when the session falls due, from what it viewed and its last event."""
    def after(delay: int | None) -> Any:
        return None if delay is None else {"$add": ["$sLastMs", delay * 1000]}

    def seen(name: str) -> Any:
        return {"$gt": [{"$size": _stored(name, [])}, 0]}

    if delays.browse is None and delays.category is None:
        return {"$set": {"wDueMs": None}}
    return {"$set": {"wDueMs": {"$cond": ["$wX", None, {"$cond": [
        seen("wP"), after(delays.browse), {"$cond": [seen("wC"), after(delays.category), None]}
    ]}]}}}
