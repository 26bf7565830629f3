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

What a union reads does not grow with the visitors: a closed hour or day with
DENSE_FROM visitors or more keeps its registers dense as well (`dense.<figure>`: the
count they were made at, and 16 KiB at most), written by the first report that merges
it. A bucket that is a piece alone is read by its counters; one a union merges and that
keeps dense sketches, without its lists and registers; a union of them is a merge
of fixed-size sketches, and their lists are read only where the union may be at most
PUSH_LIMIT (`Reader.complete`), the answer then exact. A dense sketch whose count is
no longer its bucket's (a visitor counted late) is left aside until made again.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import PyMongoError

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
from app.analytics.sketch import Dense, estimate, merge
from app.analytics.sketch import add as add_to_sketch
from app.backends import folds
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


# A closed hour or day with this many visitors keeps its registers dense as well
# (sketch.Dense, written by the first report that merges it: `Reader.complete`).
DENSE_FROM = 64
DISTINCT = {"visitors": ("vs", "hv"), "identifiedVisitors": ("is", "hi")}  # list, registers


@dataclass
class Distinct:
    """Visitors of a piece: their count, the exact set while known, HyperLogLog registers
    (sparse, or dense when the bucket keeps them so)."""

    count: int = 0
    exact: set[str] | None = field(default_factory=set)
    registers: dict[str, int] = field(default_factory=dict)
    dense: Dense | None = None

    def sketch(self) -> Dense:
        return self.dense if self.dense is not None else Dense.of(self.registers)


def union(parts: list[Distinct]) -> int:
    """Distinct visitors over pieces: exact when each piece's set is, else estimated (the
    reader has read the lists where the union may be at most PUSH_LIMIT: `complete`)."""
    parts = [p for p in parts if p.count]
    if len(parts) <= 1:
        return parts[0].count if parts else 0
    if all(p.exact is not None for p in parts):
        return len(set().union(*(p.exact or set() for p in parts)))
    if all(p.dense is None for p in parts):
        return estimate(merge(p.registers for p in parts))
    return sketch_of(parts).estimate()


def sketch_of(parts: list[Distinct]) -> Dense:
    """The dense sketch of the parts' union."""
    out = Dense()
    for part in parts:
        out = out.merge(part.sketch())
    return out


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


def dense_updates(shop_id: int, docs: list[dict[str, Any]]) -> list[UpdateOne]:
    """The updates writing these buckets' dense sketches (from their `n` and registers),
    each only while the bucket's counts are those read: a visitor counted since makes the
    write miss (the next report, or the closing worker, does it). A count changes with
    every visitor the fold counts, in the same update as the registers, so a sketch whose
    count is the bucket's is the bucket's."""
    ops = []
    for doc in docs:
        counts = {figure: int(n) for figure in DISTINCT if (n := doc["n"].get(figure))}
        kept = {f"dense.{figure}": {"n": n, "r": Dense.of(doc.get(regs) or {}).pack()}
                for figure, n in counts.items() for regs in (DISTINCT[figure][1],)}
        ops.append(UpdateOne({"_id": doc["_id"], "shopId": shop_id,
                              **{f"n.{figure}": n for figure, n in counts.items()}},
                             {"$set": kept}))
    return ops


# -- reading the pieces ----------------------------------------------------------------


class Reader:
    """The documents a report's pieces need, read in a few round trips."""

    def __init__(self, storage: Storage, shop_id: int) -> None:
        self.storage, self.shop_id = storage, shop_id
        self.docs: dict[str, dict[str, Any]] = {}
        self.totals: dict[datetime, dict[str, int]] = {}  # sessions, triggers per hour
        self.raw: dict[tuple[datetime, datetime], Piece] = {}
        self.dense: dict[tuple[str, str], Dense | None] = {}  # unpacked once per report

    async def load(self, pieces: list[tuple[str, datetime, datetime]], span: Span,
                   in_unions: frozenset[str] | set[str] = frozenset()) -> None:
        """Read what the pieces need: their counters, and the visitors (lists, registers,
        dense sketches) of those `in_unions`, the buckets a union of pieces merges."""
        ids = [bucket_id(self.shop_id, kind, a) for kind, a, _ in pieces if kind != "raw"]
        raws = sorted({(a, b) for kind, a, b in pieces if kind == "raw"})
        found, hours, parts = await asyncio.gather(
            self._find(ids, in_unions), self._hourly(span),
            asyncio.gather(*(self._raw(a, b) for a, b in raws)))
        self.docs = found
        self.totals = hours
        self.raw = dict(zip(raws, parts, strict=True))

    async def _find(self, ids: list[str], in_unions: frozenset[str] | set[str]
                    ) -> dict[str, dict[str, Any]]:
        # The visitor lists and registers are most of a busy bucket's size, and a bucket
        # that is a piece alone answers by its counter: read only where merged. There, a
        # bucket keeping dense sketches is read without them, one that does not, whole (a
        # small bucket, or an open one). Side by side.
        alone = sorted({i for i in ids if i not in in_unions})
        merging = sorted({i for i in ids if i in in_unions})
        where = {"shopId": self.shop_id}
        reads = [(alone, {}, {"n": 1}), (merging, {"dense": {"$exists": True}},
                                         {"n": 1, "dense": 1}),
                 (merging, {"dense": {"$exists": False}}, {"applied": 0})]
        found = await asyncio.gather(*(
            self.storage.rollups.find({**where, "_id": {"$in": some}, **extra},
                                      fields).to_list(None)
            for some, extra, fields in reads if some))
        return {d["_id"]: d for docs in found for d in docs}

    @staticmethod
    def in_unions(groups: list[list[tuple[str, datetime, datetime]]], shop_id: int) -> set[str]:
        """The buckets of groups of more than one piece: those a union merges."""
        return {bucket_id(shop_id, kind, a) for g in groups if len(g) > 1
                for kind, a, _ in g if kind != "raw"}

    async def complete(self, groups: list[list[tuple[str, datetime, datetime]]],
                       now: datetime) -> None:
        """Read what the unions of these groups of pieces need beyond what `load` read, and
        keep the dense sketches of closed busy buckets for the next report:
        1. the lists and registers of buckets whose dense sketch is stale (a late event
           counted a visitor since: its count is no longer the sketch's);
        2. a closed bucket read whole, with DENSE_FROM visitors or more, gets its dense
           sketches (`_keep_dense`);
        3. where a union may hold at most PUSH_LIMIT visitors (its merged sketch has that
           many registers set or fewer: each visitor sets at most one), the lists of the
           buckets read without them, for the exact answer."""
        unions = [[p for p in g if p[0] != "raw"] for g in groups
                  if sum(1 for p in g if self.piece(*p).visitors.count) > 1]
        wanted = {bucket_id(self.shop_id, kind, a): b for g in unions for kind, a, b in g}
        wanted = {bid: end for bid, end in wanted.items() if bid in self.docs}
        stale = [bid for bid in wanted if self._stale(self.docs[bid])]
        await self._more(stale, {"vs": 1, "is": 1, "hv": 1, "hi": 1})
        await self._keep_dense([bid for bid, end in wanted.items() if end <= now
                                and "hv" in self.docs[bid] and self._count(bid) >= DENSE_FROM
                                and self._stale(self.docs[bid], dense_only=True)])
        short = {bid for g in unions for bid in self._lists_needed(g)}
        await self._more(sorted(short), {"vs": 1, "is": 1})

    def _count(self, bid: str, figure: str = "visitors") -> int:
        return int((self.docs[bid].get("n") or {}).get(figure, 0))

    @staticmethod
    def _stale(doc: dict[str, Any], dense_only: bool = False) -> bool:
        """Whether a figure counted in `doc` lacks a dense sketch of its count (and, but
        with `dense_only`, its registers too)."""
        counts = doc.get("n") or {}
        kept = doc.get("dense") or {}
        return any(counts.get(figure) and (kept.get(figure) or {}).get("n") != counts[figure]
                   and (dense_only or regs not in doc)
                   for figure, (_, regs) in DISTINCT.items())

    def _lists_needed(self, group: list[tuple[str, datetime, datetime]]) -> list[str]:
        out: list[str] = []
        for figure, (listed, _) in DISTINCT.items():
            parts = [self.distinct(self.docs[bid], figure) for bid in
                     (bucket_id(self.shop_id, kind, a) for kind, a, _ in group)
                     if bid in self.docs]
            parts = [p for p in parts if p.count]
            unread = [bid for kind, a, _ in group
                      if (bid := bucket_id(self.shop_id, kind, a)) in self.docs
                      and listed not in self.docs[bid] and self._count(bid, figure)]
            if unread and sketch_of(parts).occupied() <= folds.PUSH_LIMIT:
                out += unread
        return out

    async def _more(self, ids: list[str], fields: dict[str, int]) -> None:
        if not ids:
            return
        for doc in await self.storage.rollups.find(
                {"shopId": self.shop_id, "_id": {"$in": ids}}, fields).to_list(None):
            self.docs[doc["_id"]].update(doc)
        self.dense.clear()

    async def _keep_dense(self, ids: list[str]) -> None:
        """Write these buckets' dense sketches (`dense_updates`); a failed write is the next
        report's (or the closing worker's) to do again: the answer does not need it."""
        ops = dense_updates(self.shop_id, [self.docs[bid] for bid in ids])
        if not ops:
            return
        with contextlib.suppress(PyMongoError):
            await self.storage.rollups.bulk_write(ops, ordered=False)

    def distinct(self, doc: dict[str, Any], figure: str) -> Distinct:
        listed, regs = DISTINCT[figure]
        count = int((doc.get("n") or {}).get(figure, 0))
        ids = doc.get(listed)
        if ids is None and not count:
            ids = []
        exact = set(ids) if ids is not None and len(ids) >= count else None
        return Distinct(count, exact, dict(doc.get(regs) or {}), self._dense(doc, figure))

    def _dense(self, doc: dict[str, Any], figure: str) -> Dense | None:
        key = (doc["_id"], figure)
        if key not in self.dense:
            kept = (doc.get("dense") or {}).get(figure) or {}
            count = (doc.get("n") or {}).get(figure)
            self.dense[key] = Dense.unpack(kept["r"]) if count and kept.get("n") == count \
                else None
        return self.dense[key]

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
        if not doc:
            return Piece(counts)
        return Piece(counts, self.distinct(doc, "visitors"),
                     self.distinct(doc, "identifiedVisitors"))


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
    await reader.load([p for c in covers for p in c] + whole, cut.span,
                      Reader.in_unions([*covers, whole], shop_id))
    await reader.complete([*covers, whole], now or datetime.now(UTC))
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
    await reader.load(pieces, within)
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
