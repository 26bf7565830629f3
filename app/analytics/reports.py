"""The dashboard's reports, read from the rollups: stats, top products and categories, funnel.

A report first folds the shop's pending events (rollups.fold), then reads: its cost
grows with the buckets and items it answers, never with the events stored. While the
shop's rollups are rebuilt (rebuild.py) that fold leaves the shop alone: a report shows
the figures of the moment (a day being rebuilt reads low until its refold).

A range [from, to) is covered by pieces (`cover`): whole days (day documents),
whole hours (hour documents), and at most two partial hours at its edges, counted
from the raw events of those minutes (recount's figures, bounded by an hour of
traffic; the funnel steps of the sessions started there, whenever taken, as an hour
document counts them, from the events of the visitors who started them). Top lists
are covered by whole days and, at the edges, the raw events of the partial days; the
purchases of the items listed, by the performance rollups' day buckets (kinds "dp",
"dc", by key) and the orders of the partial days. Sessions and triggers per hour come
from the performance rollups' shop-wide buckets (kind "t", by key), which the caller
folds first (resolvers/analytics.py).

Visitors are exact per bucket (one document's counter, or, for a bucket made of
several pieces, the union of their exact lists while each holds every visitor); the
union of pieces with more than PUSH_LIMIT visitors is the HyperLogLog estimate of
their merged registers (sketch.py, within 2%): `totals.visitors` of a range with
more than a thousand visitors a day, as section 10 of the contract allows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import app.analytics.recount as recount
from app.analytics.ranges import (
    CART_ADD,
    CATEGORY_VIEW,
    CHECKOUT,
    COUNTED,
    FIGURES,
    PRODUCT_VIEW,
    Buckets,
    Span,
    check_limit,
)
from app.analytics.rollups import (
    PURCHASED_CATEGORY,
    PURCHASED_PRODUCT,
    bucket_id,
    fold,
    hashed,
    hour_of,
    performance_id,
    session_start,
)
from app.analytics.sketch import add as add_to_sketch
from app.analytics.sketch import estimate, merge
from app.backends.storage import Storage
from app.core import to_ms, utc

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# A report folds what is pending before it reads, for this long at most (a page past it):
# what tracking just stored is counted in the answer; a backlog (an import of many
# thousands of events) is left to the fold worker, and the report shows it as it lands.
FOLD_SECONDS = 0.5
STEPS = ("withProductView", "withCartAdd", "withCheckout")
STEP_TYPES = {"withProductView": PRODUCT_VIEW, "withCartAdd": CART_ADD,
              "withCheckout": CHECKOUT}


@dataclass
class Distinct:
    """Visitors of a piece: their count, the exact set while known, HyperLogLog registers."""

    count: int = 0
    exact: set[str] | None = field(default_factory=set)
    registers: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of_doc(cls, doc: dict[str, Any], figure: str, listed: str, regs: str) -> Distinct:
        count = int(doc.get("n", {}).get(figure, 0))
        ids = doc.get(listed) or []
        return cls(count, set(ids) if len(ids) >= count else None, dict(doc.get(regs) or {}))


def union(parts: list[Distinct]) -> int:
    """Distinct visitors over pieces: exact when each piece's set is, else estimated."""
    parts = [p for p in parts if p.count]
    if len(parts) <= 1:
        return parts[0].count if parts else 0
    if all(p.exact is not None for p in parts):
        return len(set().union(*(p.exact or set() for p in parts)))
    return estimate(merge(p.registers for p in parts))


@dataclass
class Piece:
    """What one piece of a range adds: counters, sessions and triggers, visitors."""

    counts: dict[str, int] = field(default_factory=dict)
    visitors: Distinct = field(default_factory=Distinct)
    identified: Distinct = field(default_factory=Distinct)


# -- covering a range ------------------------------------------------------------------


def _ceil(at: datetime, step: timedelta) -> datetime:
    floor = _floor(at, step)
    return floor if floor == at else _after(floor, step)


def _after(at: datetime, step: timedelta) -> datetime:
    """at + step, or the calendar's last instant past it (a range may end at 9999-12-31)."""
    try:
        return at + step
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _floor(at: datetime, step: timedelta) -> datetime:
    hour = hour_of(at)
    return hour if step == HOUR else hour.replace(hour=0)


def cover(span: Span) -> list[tuple[str, datetime, datetime]]:
    """(kind, start, end) pieces of a span: "raw" partial hours, "h" hours, "d" days."""
    a, b = span.start, span.end
    h0, h1 = _ceil(a, HOUR), _floor(b, HOUR)
    if h0 >= h1:
        return [("raw", a, b)]
    pieces = [("raw", a, h0)] if a < h0 else []
    d0, d1 = _ceil(h0, DAY), _floor(h1, DAY)
    if d0 < d1:
        pieces += _steps("h", h0, d0, HOUR) + _steps("d", d0, d1, DAY) + _steps("h", d1, h1, HOUR)
    else:
        pieces += _steps("h", h0, h1, HOUR)
    return pieces + ([("raw", h1, b)] if h1 < b else [])


def _steps(kind: str, a: datetime, b: datetime, step: timedelta) -> list[tuple[str, datetime,
                                                                              datetime]]:
    out, at = [], a
    while at < b:
        out.append((kind, at, _after(at, step)))
        at = _after(at, step)
        if at == datetime.max.replace(tzinfo=UTC):
            break  # the calendar's end: no step starts after it
    return out


# -- reading the pieces ----------------------------------------------------------------


class Reader:
    """The documents a report's pieces need, read in a few round trips."""

    def __init__(self, storage: Storage, shop_id: int) -> None:
        self.storage, self.shop_id = storage, shop_id
        self.docs: dict[str, dict[str, Any]] = {}
        self.totals: dict[datetime, dict[str, int]] = {}  # sessions, triggers per hour
        self.raw: dict[tuple[datetime, datetime], Piece] = {}

    async def load(self, pieces: list[tuple[str, datetime, datetime]], span: Span,
                   visitors: bool = True) -> None:
        """Read what the pieces need; without `visitors`, the counters alone (the funnel)."""
        ids = [bucket_id(self.shop_id, kind, a) for kind, a, _ in pieces if kind != "raw"]
        raws = sorted({(a, b) for kind, a, b in pieces if kind == "raw"})
        found, hours, parts = await asyncio.gather(
            self._find(ids, visitors), self._hourly(span),
            asyncio.gather(*(self._raw(a, b) for a, b in raws)))
        self.docs = found
        self.totals = hours
        self.raw = dict(zip(raws, parts, strict=True))

    async def _find(self, ids: list[str], visitors: bool) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        # The visitor lists and registers are most of a busy bucket's size: read if needed
        # (the registers only for a union beyond the lists: `registers_if_needed`).
        fields = {"applied": 0, "hv": 0, "hi": 0} if visitors else {"n": 1}
        docs = await self.storage.rollups.find(
            {"shopId": self.shop_id, "_id": {"$in": ids}}, fields).to_list(None)
        return {d["_id"]: d for d in docs}

    async def registers_if_needed(self) -> None:
        """The HyperLogLog registers of the documents read, when one of them has more
        visitors than its exact list holds (a union is then estimated from registers)."""
        if not any(int((d.get("n") or {}).get(figure, 0)) > len(d.get(listed) or [])
                   for d in self.docs.values()
                   for figure, listed in (("visitors", "vs"), ("identifiedVisitors", "is"))):
            return
        found = await self.storage.rollups.find(
            {"shopId": self.shop_id, "_id": {"$in": list(self.docs)}},
            {"hv": 1, "hi": 1}).to_list(None)
        for doc in found:
            self.docs[doc["_id"]].update({k: doc[k] for k in ("hv", "hi") if k in doc})

    async def _hourly(self, span: Span) -> dict[datetime, dict[str, int]]:
        """Sessions and triggers of each whole hour of the span: the performance rollups'
        shop buckets (kind "t"), plus what a rebuild counted from before them ("t0")."""
        hours = [to_ms(a) for _, a, _ in _steps("h", hour_of(span.start), span.end, HOUR)]
        # By key, as the hour buckets are read (`_find`): the hours asked, not the shop's.
        ids = [performance_id(self.shop_id, kind, "all", ms) for ms in hours
               for kind in ("t", "t0")]
        docs = await self.storage.performance.find(
            {"shopId": self.shop_id, "_id": {"$in": ids}}, {"hour": 1, "n": 1}).to_list(None)
        out: dict[datetime, dict[str, int]] = {}
        for doc in docs:
            hour = out.setdefault(utc(doc["hour"]), {})
            for name, n in (doc.get("n") or {}).items():
                hour[name] = hour.get(name, 0) + int(n)
        return out

    async def _raw(self, a: datetime, b: datetime) -> Piece:
        return await raw_piece(self.storage, self.shop_id, Span(a, b))

    def piece(self, kind: str, a: datetime, b: datetime) -> Piece:
        if kind == "raw":
            return self.raw[(a, b)]
        doc = self.docs.get(bucket_id(self.shop_id, kind, a), {})
        n = doc.get("n", {})
        counts = {name: int(n.get(name, 0)) for name in (*COUNTED, *STEPS)}
        for name in ("sessions", "triggers"):
            counts[name] = sum(self.totals.get(a + i * HOUR, {}).get(name, 0)
                               for i in range((b - a) // HOUR))
        return Piece(counts, Distinct.of_doc(doc, "visitors", "vs", "hv"),
                     Distinct.of_doc(doc, "identifiedVisitors", "is", "hi"))


def combine(pieces: list[Piece]) -> dict[str, int]:
    """The figures of a span made of pieces."""
    out = {name: sum(p.counts.get(name, 0) for p in pieces)
           for name in (*COUNTED, *STEPS, "sessions", "triggers")}
    out["visitors"] = union([p.visitors for p in pieces])
    out["identifiedVisitors"] = union([p.identified for p in pieces])
    return out


async def raw_piece(storage: Storage, shop_id: int, span: Span) -> Piece:
    """A partial hour's figures from its raw events, sessions and triggers."""
    events, started, triggers = await asyncio.gather(
        storage.events.find({"shopId": shop_id, **span.match("occurredAt")},
                            {"type": 1, "visitorId": 1, "userId": 1}).to_list(None),
        storage.sessions.find({"shopId": shop_id, **span.match("startedAt")},
                              {"visitorId": 1}).to_list(None),
        storage.triggers.count_documents({"shopId": shop_id, **span.match("firedAt")}),
    )
    steps = await raw_steps(storage, shop_id, span, {s["visitorId"] for s in started})
    piece = Piece({name: 0 for name in COUNTED})
    piece.counts.update(sessions=len(started), triggers=int(triggers), **steps)
    by_type = {kind: name for name, kind in COUNTED.items()}
    for event in events:
        if event.get("type") in by_type:
            piece.counts[by_type[event["type"]]] += 1
        _see(piece.visitors, event.get("visitorId") or "")
        if event.get("userId") is not None:
            _see(piece.identified, event.get("visitorId") or "")
    return piece


async def raw_steps(storage: Storage, shop_id: int, span: Span,
                    visitors: set[str]) -> dict[str, int]:
    """Of the sessions started in a partial hour (by these visitors), those with each
    funnel step taken whenever, as an hour document counts them (rollups.py): not only
    in the partial hour, where a session going on past it would lose its later steps.
    Read by visitor, from the span's start on: their events, not the shop's."""
    if not visitors:
        return dict.fromkeys(STEPS, 0)
    events = await storage.events.find(
        {"shopId": shop_id, "visitorId": {"$in": sorted(visitors)},
         "occurredAt": {"$gte": _naive(span.start)}, "type": {"$in": list(STEP_TYPES.values())}},
        {"type": 1, "sessionId": 1}).to_list(None)
    step_of = {kind: name for name, kind in STEP_TYPES.items()}
    reached: dict[str, set[str]] = {name: set() for name in STEPS}
    for event in events:
        session = event.get("sessionId")
        if session and span.start <= session_start(session) < span.end:
            reached[step_of[event["type"]]].add(session)
    return {name: len(sessions) for name, sessions in reached.items()}


def _see(distinct: Distinct, visitor: str) -> None:
    assert distinct.exact is not None
    key = hashed(visitor)
    if key not in distinct.exact:
        distinct.exact.add(key)
        distinct.count += 1
        add_to_sketch(distinct.registers, visitor)


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


# -- the reports -----------------------------------------------------------------------


async def stats(storage: Storage, shop_id: int, cut: Buckets,
                now: datetime | None = None) -> dict[str, Any]:
    """Per bucket and in total: visitors, sessions, identified visitors, counts of events."""
    await fold(storage, now or datetime.now(UTC), shop_id, seconds=FOLD_SECONDS)
    spans = [Span(max(at, cut.span.start), min(_after(at, cut.step), cut.span.end))
             for at in cut.starts()]
    covers = [cover(s) for s in spans]
    whole = cover(cut.span)
    reader = Reader(storage, shop_id)
    await reader.load([p for c in covers for p in c] + whole, cut.span)
    await reader.registers_if_needed()
    rows = []
    for at, pieces in zip(cut.starts(), covers, strict=True):
        figures = combine([reader.piece(*p) for p in pieces])
        rows.append({"start": at, **{name: figures[name] for name in FIGURES}})
    total = {"start": cut.span.start,
             **{name: sum(row[name] for row in rows) for name in FIGURES}}
    whole_figures = combine([reader.piece(*p) for p in whole])
    total["visitors"] = whole_figures["visitors"]
    total["identifiedVisitors"] = whole_figures["identifiedVisitors"]
    return {"buckets": rows, "totals": total}


async def funnel(storage: Storage, shop_id: int, within: Span,
                 now: datetime | None = None) -> dict[str, int]:
    """Sessions started in the span; of them, those with a product view, cart add, checkout
    (a step counts in the hour its session started, whenever it was taken)."""
    await fold(storage, now or datetime.now(UTC), shop_id, seconds=FOLD_SECONDS)
    pieces = cover(within)
    reader = Reader(storage, shop_id)
    await reader.load(pieces, within, visitors=False)
    figures = combine([reader.piece(*p) for p in pieces])
    return {"sessions": figures["sessions"], **{name: figures[name] for name in STEPS}}


# -- top lists -------------------------------------------------------------------------


async def _tops(storage: Storage, shop_id: int, within: Span, kind: str,
                types: dict[str, str], field_name: str) -> dict[str, dict[str, int]]:
    """Per item (product or category): its figures over the span's days."""
    a, b = within.start, within.end
    d0, d1 = _ceil(a, DAY), _floor(b, DAY)
    days = d0 < d1
    edges = [e for e in (Span(a, d0), Span(d1, b)) if e.start < e.end] if days else [within]
    docs, raws = await asyncio.gather(
        storage.rollups.find({"shopId": shop_id, "kind": kind,
                              "at": {"$gte": _naive(d0), "$lt": _naive(d1)}},
                             {"key": 1, "n": 1}).to_list(None) if days else _none(),
        asyncio.gather(*(storage.events.find(
            {"shopId": shop_id, "type": {"$in": list(types)}, **edge.match("occurredAt")},
            {"type": 1, field_name: 1}).to_list(None) for edge in edges)))
    out: dict[str, dict[str, int]] = {}
    for doc in docs:
        row = out.setdefault(doc["key"], dict.fromkeys(types.values(), 0))
        for name, n in (doc.get("n") or {}).items():
            row[name] = row.get(name, 0) + int(n)
    for event in (e for part in raws for e in part):
        if event.get(field_name) is None:
            continue
        row = out.setdefault(str(event[field_name]), dict.fromkeys(types.values(), 0))
        row[types[event["type"]]] += 1
    return out


async def _purchases(storage: Storage, shop_id: int, within: Span, field_name: str,
                     keys: list[str]) -> dict[str, int]:
    """Order lines per product (or category) among `keys`: the performance rollups' day
    buckets (app/attribution/contributions.py, read by key: the days asked times the
    items listed), and the orders of the partial days at the edges."""
    if not keys:
        return {}
    a, b = within.start, within.end
    d0, d1 = _ceil(a, DAY), _floor(b, DAY)
    if d0 >= d1:
        return await recount.purchases(storage, shop_id, within, field_name, keys)
    kind = PURCHASED_PRODUCT if field_name == "productId" else PURCHASED_CATEGORY
    days = [to_ms(at) for _, at, _ in _steps("d", d0, d1, DAY)]
    edges = [e for e in (Span(a, d0), Span(d1, b)) if e.start < e.end]
    docs, raws = await asyncio.gather(
        storage.performance.find({"shopId": shop_id, "_id": {"$in": [
            performance_id(shop_id, kind, key, ms) for key in keys for ms in days]}},
            {"key": 1, "n": 1}).to_list(None),
        asyncio.gather(*(recount.purchases(storage, shop_id, e, field_name, keys)
                         for e in edges)))
    out: dict[str, int] = {}
    for doc in docs:
        out[doc["key"]] = out.get(doc["key"], 0) + int((doc.get("n") or {}).get("purchases", 0))
    for part in raws:
        for key, n in part.items():
            out[key] = out.get(key, 0) + n
    return out


async def _none() -> list[dict[str, Any]]:
    return []


async def top_products(storage: Storage, shop_id: int, within: Span, limit: int,
                       now: datetime | None = None) -> list[dict[str, Any]]:
    """Products by views (then cart adds, then id), with their cart adds and purchases."""
    check_limit(limit)
    await fold(storage, now or datetime.now(UTC), shop_id, seconds=FOLD_SECONDS)
    rows = await _tops(storage, shop_id, within, "p",
                       {PRODUCT_VIEW: "views", CART_ADD: "cartAdds"}, "productId")
    ranked = sorted(rows.items(), key=lambda kv: (-kv[1]["views"], -kv[1]["cartAdds"], kv[0]))
    ranked = [(k, r) for k, r in ranked if r["views"] or r["cartAdds"]][:limit]
    bought = await _purchases(storage, shop_id, within, "productId", [k for k, _ in ranked])
    return [{"productId": k, "views": r["views"], "cartAdds": r["cartAdds"],
             "purchases": bought.get(k, 0)} for k, r in ranked]


async def top_categories(storage: Storage, shop_id: int, within: Span, limit: int,
                         now: datetime | None = None) -> list[dict[str, Any]]:
    """Categories by views (then product views, cart adds, id), with purchases."""
    check_limit(limit)
    await fold(storage, now or datetime.now(UTC), shop_id, seconds=FOLD_SECONDS)
    rows = await _tops(storage, shop_id, within, "c",
                       {CATEGORY_VIEW: "views", PRODUCT_VIEW: "productViews",
                        CART_ADD: "cartAdds"}, "categoryId")
    ranked = sorted(rows.items(), key=lambda kv: (-kv[1]["views"], -kv[1]["productViews"],
                                                  -kv[1]["cartAdds"], kv[0]))
    ranked = [(k, r) for k, r in ranked if any(r.values())][:limit]
    bought = await _purchases(storage, shop_id, within, "categoryId", [k for k, _ in ranked])
    return [{"categoryId": k, "views": r["views"], "productViews": r["productViews"],
             "cartAdds": r["cartAdds"], "purchases": bought.get(k, 0)} for k, r in ranked]
