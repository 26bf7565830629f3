"""Co-occurrence, kept as events arrive: which products are viewed in the same session and
bought in the same order.

Design. One document per (shop, kind, product) in `cooccurrence`, kind `v` (viewed) or
`b` (bought), `_id = "<shop>:<kind>:<product>"`. It holds the product's pairs as an array
`pairs: [{p: other product, c: its category, s: stored score}]`, so "top N for product A"
is one read by `_id`. A view document also holds the product's own popularity (`views`,
`lastViewedAt`, `categoryId`), which `POPULAR` reads through an index.

Scores decay like interests (app/interests.py): a pair's stored value is the
forward-decayed count `sum 2 ** ((t - T0) / H)` in the shop's interest frame, one per
session (or order) that had both, so the stored numbers sort like the live scores and
each new co-occurrence is an addition. Popularity uses its own frame with a 7-day
half-life (a week-old view counts half).

Invariants:
- A session remembers its last WINDOW (20) product views, on the visitor document
  (`sViews`, written by the visitor update that already runs for every batch). A view
  pairs its product with the distinct products of the WINDOW - 1 = 19 views before it,
  at most 19 pairs; a product among them adds no pair, so a pair counts at most once
  per session while both products are in the window. An order pairs its first WINDOW
  distinct products.
- Every event is applied once per document: the update's filter asks that none of its
  source events is in the document's `applied` list (the last APPLIED_KEPT), and the
  update appends them; a document that had them answers with a duplicate key (its
  upsert's insert fails), and is retried per event for what is missing. A retry later
  than APPLIED_KEPT other events on one document could count again: noise in a score,
  never a lost event.
- Bounded: a product's pairs grow to at most TRIM_AT (400), then the update itself
  keeps the top CAP (200) by stored score (ties broken by product id). Forward decay makes
  a recent pair's increment larger than an old one's, so stale pairs are the ones cut.
- All of a batch's documents are written in one bulk write: one round trip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne

from app.interests import EPOCH, Frame

VIEWED, BOUGHT = "v", "b"
WINDOW = 20  # product views a session keeps; a new view pairs with the other 19 at most
CAP = 200  # pairs a product keeps after a trim
TRIM_AT = 2 * CAP  # pairs at which a product's list is trimmed back to CAP
APPLIED_KEPT = 64  # source events a document remembers as applied
POPULARITY_FRAME = Frame(EPOCH.timestamp(), 7 * 24 * 3600.0)


def doc_key(shop_id: int, kind: str, product_id: str) -> str:
    return f"{shop_id}:{kind}:{product_id}"


@dataclass
class View:
    """A product view of a session, in order."""

    product_id: str
    category_id: str | None
    at: datetime
    source: str  # the event's _id
    apply: bool = True  # False: its effects were applied before (a plain duplicate)


@dataclass
class Touch:
    """What one event adds to one product's document."""

    kind: str
    product_id: str
    source: str
    at: datetime
    category_id: str | None = None
    pairs: dict[str, tuple[float, str | None]] = field(default_factory=dict)  # other: (s, c)
    views: float = 0.0
    sources: list[str] = field(default_factory=list)  # merged: every event it adds up


def remembered(window: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The session's window as stored on the visitor (`[{p, c}]`, oldest first)."""
    return [v for v in window or [] if isinstance(v, dict) and isinstance(v.get("p"), str)]


def session_partners(window: list[dict[str, Any]], views: list[View]
                     ) -> tuple[list[tuple[View, list[dict[str, Any]]]], list[dict[str, Any]]]:
    """Each new view with the products it pairs with (`{p, c}`: the distinct products of
    the session's last WINDOW - 1 views; none when its product is among them), given the
    window before them; and the window after (what the visitor update stores, see
    `window_update`)."""
    window = list(window)
    out: list[tuple[View, list[dict[str, Any]]]] = []
    for view in views:
        if view.apply:
            recent = {w["p"]: w for w in window[-(WINDOW - 1):]}  # distinct, latest kept
            out.append((view, [] if view.product_id in recent else list(recent.values())))
        window = [*window, {"p": view.product_id, "c": view.category_id}][-WINDOW:]
    return out, window


def view_touches(view: View, partners: list[dict[str, Any]], frame: Frame) -> list[Touch]:
    """What one view adds: its product's popularity, and its pairs both ways."""
    own = Touch(VIEWED, view.product_id, view.source, view.at, view.category_id,
                views=POPULARITY_FRAME.forward(1.0, view.at))
    weight = frame.forward(1.0, view.at)
    touches = [own]
    for other in partners:
        own.pairs[other["p"]] = (weight, other.get("c"))
        touches.append(Touch(VIEWED, other["p"], view.source, view.at,
                             pairs={view.product_id: (weight, view.category_id)}))
    return touches


def session_touches(window: list[dict[str, Any]], views: list[View],
                    frame: Frame) -> tuple[list[Touch], list[dict[str, Any]]]:
    """The touches of a session's new views, and the window after them."""
    partnered, after = session_partners(window, views)
    return [t for view, partners in partnered
            for t in view_touches(view, partners, frame)], after


def order_touches(lines: list[dict[str, Any]], source: str, at: datetime,
                  frame: Frame) -> list[Touch]:
    """The touches of an order: each of its first WINDOW distinct products with the others."""
    products: dict[str, str | None] = {}
    for line in lines:
        pid = line.get("productId")
        if isinstance(pid, str) and pid and pid not in products and len(products) < WINDOW:
            products[pid] = line.get("categoryId")
    weight = frame.forward(1.0, at)
    return [Touch(BOUGHT, pid, source, at, cat,
                  pairs={o: (weight, c) for o, c in products.items() if o != pid})
            for pid, cat in products.items() if len(products) > 1]


def window_update(views: list[dict[str, Any]], continues: Any) -> dict[str, Any]:
    """The visitor-update expression of the session window after a batch's views (`{p, c}`
    of the batch's views, in order), given whether the batch continues the stored session:
    the session's last WINDOW views, as `session_partners` keeps them."""
    stored = {"$slice": [{"$concatArrays": [{"$ifNull": ["$sViews", []]},
                                            {"$literal": views}]}, -WINDOW]}
    return {"$cond": [continues, stored, {"$literal": views[-WINDOW:]}]}


def merged(touches: list[Touch], by_source: bool = False) -> dict[tuple[str, str, str], Touch]:
    """The touches per document (and per source event, with `by_source`), added up."""
    out: dict[tuple[str, str, str], Touch] = {}
    for t in touches:
        group = (t.kind, t.product_id, t.source if by_source else "")
        into = out.get(group)
        if into is None:
            out[group] = into = Touch(t.kind, t.product_id, "", t.at)
        if t.source not in into.sources:
            into.sources.append(t.source)
        into.at = max(into.at, t.at)
        into.category_id = t.category_id or into.category_id
        into.views += t.views
        for other, (score, cat) in t.pairs.items():
            before = into.pairs.get(other, (0.0, None))
            into.pairs[other] = (before[0] + score, cat or before[1])
    return out


def tag(source: str) -> str:
    """How `applied` names a source event: a hash, as an event's id holds its visitor's id
    and a product's document is nobody's to keep that (forgetCustomer does not visit it)."""
    return hashlib.sha256(source.encode()).hexdigest()[:20]


def update(shop_id: int, touch: Touch) -> UpdateOne:
    """One document's upsert, applying its source events once (see the module's docstring)."""
    sources = [tag(s) for s in touch.sources]
    fields: dict[str, Any] = {
        "shopId": shop_id, "kind": touch.kind, "productId": {"$literal": touch.product_id},
        "pairs": _merge(touch.pairs),
        "applied": {"$slice": [{"$concatArrays": [{"$ifNull": ["$applied", []]},
                                                  {"$literal": sources}]}, -APPLIED_KEPT]},
    }
    if touch.category_id:
        fields["categoryId"] = {"$literal": touch.category_id}
    if touch.views:
        fields["views"] = {"$add": [{"$ifNull": ["$views", 0.0]}, touch.views]}
        at = touch.at.astimezone(UTC)
        fields["lastViewedAt"] = {"$max": [{"$ifNull": ["$lastViewedAt", at]}, at]}
    return UpdateOne({"_id": doc_key(shop_id, touch.kind, touch.product_id), "shopId": shop_id,
                      "applied": {"$nin": sources}},
                     [{"$set": fields}, {"$set": {"pairs": _trim()}}], upsert=True)


def _merge(pairs: dict[str, tuple[float, str | None]]) -> dict[str, Any]:
    """The stored pairs plus these increments, as an update expression."""
    keys = list(pairs)
    increments = {"$literal": [{"p": k, "s": pairs[k][0]} for k in keys]}
    stored = {"$ifNull": ["$pairs", []]}
    mine = {"$filter": {"input": increments, "as": "i", "cond": {"$eq": ["$$i.p", "$$x.p"]}}}
    grown = {"$map": {"input": stored, "as": "x", "in": {
        "p": "$$x.p", "c": "$$x.c",
        # Its increment, or 0: the first of [its increments..., 0] (each product is once
        # among the increments; mongomock does not sum an array).
        "s": {"$add": ["$$x.s", {"$arrayElemAt": [{"$concatArrays": [
            {"$map": {"input": mine, "as": "j", "in": "$$j.s"}}, [0.0]]}, 0]}]}}}}
    fresh = {"$filter": {"input": {"$literal": [{"p": k, "c": pairs[k][1], "s": pairs[k][0]}
                                                for k in keys]},
                         "as": "n",
                         "cond": {"$eq": [{"$in": ["$$n.p", {"$ifNull": ["$pairs.p", []]}]},
                                          False]}}}
    return {"$concatArrays": [grown, fresh]}


def _trim() -> dict[str, Any]:
    """Past TRIM_AT pairs, the top CAP by (stored score, product): those with fewer than
    CAP before them in that order."""
    before = {"$or": [{"$gt": ["$$y.s", "$$x.s"]},
                      {"$and": [{"$eq": ["$$y.s", "$$x.s"]}, {"$lt": ["$$y.p", "$$x.p"]}]}]}
    above = {"$size": {"$filter": {"input": "$pairs", "as": "y", "cond": before}}}
    top = {"$filter": {"input": "$pairs", "as": "x", "cond": {"$lt": [above, CAP]}}}
    return {"$cond": [{"$gt": [{"$size": "$pairs"}, TRIM_AT]}, top, "$pairs"]}
