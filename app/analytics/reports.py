"""Analytics for dashboards: traffic per hour or day, top products and categories, the funnel.

Every figure is computed by a MongoDB aggregation over indexed fields, so the
server reads only the shop's documents in the asked range. The pipelines use
stages and operators that both MongoDB and the embedded store (mongomock)
implement: `$dateTrunc` is not among them, so a bucket is numbered by
arithmetic on dates, `floor((t - origin) / step)`, where `$subtract` of two
dates gives milliseconds on both.

What each figure counts (times are UTC; a range is [from, to)):
- buckets start on whole UTC hours or days; the first starts at `from`
  truncated to the hour or day, and counts only what is at or after `from`;
- visitors: distinct `visitorId`s with an event in the bucket (in `totals`:
  in the whole range, so not the sum of the buckets); identified visitors: those
  with an event filed under a customer;
- sessions: sessions that started in the bucket;
- product and category views, cart adds, checkouts: events of that type;
- triggers: triggers fired (`firedAt`) in the bucket;
- top products / categories: events in the range, `purchases` = order lines
  of orders completed in the range;
- funnel: sessions that started in the range, and of them those with a product
  view, a cart add, a checkout in the range (each step counted on its own).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.backends.storage import Storage
from app.core import BadInput, start_ms_of, to_ms, utc

HOUR, DAY = "HOUR", "DAY"
STEPS = {HOUR: timedelta(hours=1), DAY: timedelta(days=1)}
MAX_BUCKETS = {HOUR: 744, DAY: 366}  # a month of hours, a leap year of days
MAX_SPAN = timedelta(days=366)  # the widest range of the top lists and the funnel
MAX_LIMIT = 100

PRODUCT_VIEW, CATEGORY_VIEW = "PRODUCT_VIEW", "CATEGORY_VIEW"
CART_ADD, CHECKOUT = "CART_ADD", "CHECKOUT"
COUNTED = {"productViews": PRODUCT_VIEW, "categoryViews": CATEGORY_VIEW,
           "cartAdds": CART_ADD, "checkouts": CHECKOUT}
FIGURES = ("visitors", "sessions", "identifiedVisitors", *COUNTED, "triggers")


@dataclass(frozen=True)
class Span:
    """A range of time [start, end), in UTC."""

    start: datetime
    end: datetime

    def match(self, field: str) -> dict[str, Any]:
        return {field: {"$gte": _naive(self.start), "$lt": _naive(self.end)}}


@dataclass(frozen=True)
class Buckets:
    """A span cut into hours or days; bucket i starts at origin + i * step."""

    span: Span
    origin: datetime
    step: timedelta
    count: int

    def starts(self) -> list[datetime]:
        return [self.origin + i * self.step for i in range(self.count)]

    def index_of(self, field: str) -> dict[str, Any]:
        """The bucket number of a date field, as an aggregation expression."""
        step_ms = int(self.step.total_seconds() * 1000)
        return {"$floor": {"$divide": [{"$subtract": [f"${field}", _naive(self.origin)]},
                                       step_ms]}}


def _naive(value: datetime) -> datetime:
    """A UTC time as stored: both stores read a naive datetime in a pipeline as UTC."""
    return value.replace(tzinfo=None)


def _utc(value: datetime, name: str) -> datetime:
    try:
        return utc(value)
    except OverflowError:  # an offset at the calendar's edge, e.g. 0001-01-01T00:00+01:00
        raise BadInput(f"{name} is out of range", field=name) from None


def span(start: datetime, end: datetime) -> Span:
    """The range [from, to), checked: from before to, and at most MAX_SPAN wide."""
    start, end = _utc(start, "from"), _utc(end, "to")
    if start >= end:
        raise BadInput("from must be before to", field="from")
    if end - start > MAX_SPAN:
        raise BadInput(f"the range is wider than {MAX_SPAN.days} days", field="to")
    return Span(start, end)


def buckets(start: datetime, end: datetime, interval: str) -> Buckets:
    """The range cut into UTC hours or days; BAD_INPUT past MAX_BUCKETS of them."""
    if interval not in STEPS:
        raise BadInput("interval must be HOUR or DAY", field="interval")
    start, end = _utc(start, "from"), _utc(end, "to")
    if start >= end:
        raise BadInput("from must be before to", field="from")
    origin = start.replace(minute=0, second=0, microsecond=0)
    if interval == DAY:
        origin = origin.replace(hour=0)
    step = STEPS[interval]
    count = math.ceil((end - origin) / step)
    if count > MAX_BUCKETS[interval]:
        raise BadInput(f"at most {MAX_BUCKETS[interval]} {interval.lower()} buckets "
                       f"(this range has {count})", field="to")
    return Buckets(Span(start, end), origin, step, count)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit must be from 1 to {MAX_LIMIT}", field="limit")


def _keep(*fields: str) -> dict[str, Any]:
    """A `$project` of the fields a pipeline reads, right after its `$match`."""
    return {"$project": dict.fromkeys(fields, 1)}


def _is(event_type: str) -> dict[str, Any]:
    return {"$cond": [{"$eq": ["$type", event_type]}, 1, 0]}


# 1 when the event was filed under a customer (userId set and not null), else 0.
_IDENTIFIED = {"$cond": [{"$eq": [{"$ifNull": ["$userId", None]}, None]}, 0, 1]}


# -- stats ---------------------------------------------------------------------------


async def _aggregate(collection: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return await collection.aggregate(pipeline, allowDiskUse=True).to_list(None)


async def stats(storage: Storage, shop_id: int, cut: Buckets) -> dict[str, Any]:
    """Per bucket and in total: visitors, sessions, identified visitors, counts of events."""
    events = {"shopId": shop_id, **cut.span.match("occurredAt")}
    per_bucket = [
        {"$match": events},
        _keep("occurredAt", "visitorId", "userId", "type"),
        {"$group": {"_id": {"b": cut.index_of("occurredAt"), "v": "$visitorId"},
                    "identified": {"$max": _IDENTIFIED},
                    **{name: {"$sum": _is(kind)} for name, kind in COUNTED.items()}}},
        {"$group": {"_id": "$_id.b", "visitors": {"$sum": 1},
                    "identifiedVisitors": {"$sum": "$identified"},
                    **{name: {"$sum": f"${name}"} for name in COUNTED}}},
    ]
    distinct = [
        {"$match": events},
        _keep("visitorId", "userId"),
        {"$group": {"_id": "$visitorId", "identified": {"$max": _IDENTIFIED}}},
        {"$group": {"_id": None, "visitors": {"$sum": 1},
                    "identifiedVisitors": {"$sum": "$identified"}}},
    ]
    by_bucket, totals, sessions, triggers = await asyncio.gather(
        _aggregate(storage.events, per_bucket),
        _aggregate(storage.events, distinct),
        _aggregate(storage.sessions, _count_per_bucket(shop_id, cut, "startedAt")),
        _aggregate(storage.triggers, _count_per_bucket(shop_id, cut, "firedAt")),
    )
    rows = [{"start": at, **dict.fromkeys(FIGURES, 0)} for at in cut.starts()]
    for doc in by_bucket:
        rows[int(doc["_id"])].update({k: int(v) for k, v in doc.items() if k != "_id"})
    for name, docs in (("sessions", sessions), ("triggers", triggers)):
        for doc in docs:
            rows[int(doc["_id"])][name] = int(doc["n"])
    total = {"start": cut.span.start,
             **{name: sum(row[name] for row in rows) for name in FIGURES}}
    total["visitors"] = int(totals[0]["visitors"]) if totals else 0
    total["identifiedVisitors"] = int(totals[0]["identifiedVisitors"]) if totals else 0
    return {"buckets": rows, "totals": total}


def _count_per_bucket(shop_id: int, cut: Buckets, field: str) -> list[dict[str, Any]]:
    return [
        {"$match": {"shopId": shop_id, **cut.span.match(field)}},
        _keep(field),
        {"$group": {"_id": cut.index_of(field), "n": {"$sum": 1}}},
    ]


# -- top lists -----------------------------------------------------------------------


async def _purchases(
    storage: Storage, shop_id: int, within: Span, field: str, ids: list[str]
) -> dict[str, int]:
    """Order lines per product (or category) among `ids`, of orders completed in the span."""
    if not ids:
        return {}
    docs = await _aggregate(storage.orders, [
        {"$match": {"shopId": shop_id, **within.match("completedAt")}},
        _keep(f"items.{field}"),
        {"$unwind": "$items"},
        {"$match": {f"items.{field}": {"$in": ids}}},
        {"$group": {"_id": f"$items.{field}", "n": {"$sum": 1}}},
    ])
    return {d["_id"]: int(d["n"]) for d in docs}


async def top_products(
    storage: Storage, shop_id: int, within: Span, limit: int
) -> list[dict[str, Any]]:
    """Products by views (then cart adds, then id), with their cart adds and purchases."""
    check_limit(limit)
    docs = await _aggregate(storage.events, [
        {"$match": {"shopId": shop_id, "type": {"$in": [PRODUCT_VIEW, CART_ADD]},
                    **within.match("occurredAt")}},
        _keep("productId", "type"),
        {"$group": {"_id": "$productId", "views": {"$sum": _is(PRODUCT_VIEW)},
                    "cartAdds": {"$sum": _is(CART_ADD)}}},
        {"$sort": {"views": -1, "cartAdds": -1, "_id": 1}},
        {"$limit": limit},
    ])
    bought = await _purchases(storage, shop_id, within, "productId", [d["_id"] for d in docs])
    return [{"productId": d["_id"], "views": int(d["views"]), "cartAdds": int(d["cartAdds"]),
             "purchases": bought.get(d["_id"], 0)} for d in docs]


async def top_categories(
    storage: Storage, shop_id: int, within: Span, limit: int
) -> list[dict[str, Any]]:
    """Categories by views (then product views, cart adds, id), with purchases."""
    check_limit(limit)
    docs = await _aggregate(storage.events, [
        {"$match": {"shopId": shop_id, "type": {"$in": [CATEGORY_VIEW, PRODUCT_VIEW, CART_ADD]},
                    **within.match("occurredAt")}},
        _keep("categoryId", "type"),
        {"$group": {"_id": "$categoryId", "views": {"$sum": _is(CATEGORY_VIEW)},
                    "productViews": {"$sum": _is(PRODUCT_VIEW)},
                    "cartAdds": {"$sum": _is(CART_ADD)}}},
        {"$sort": {"views": -1, "productViews": -1, "cartAdds": -1, "_id": 1}},
        {"$limit": limit},
    ])
    bought = await _purchases(storage, shop_id, within, "categoryId", [d["_id"] for d in docs])
    return [{"categoryId": d["_id"], "views": int(d["views"]),
             "productViews": int(d["productViews"]), "cartAdds": int(d["cartAdds"]),
             "purchases": bought.get(d["_id"], 0)} for d in docs]


# -- funnel --------------------------------------------------------------------------


async def funnel(storage: Storage, shop_id: int, within: Span) -> dict[str, int]:
    """Sessions started in the span; of them, those with a product view, cart add, checkout."""
    steps = [
        {"$match": {"shopId": shop_id, "type": {"$in": [PRODUCT_VIEW, CART_ADD, CHECKOUT]},
                    **within.match("occurredAt")}},
        _keep("sessionId", "type"),
        {"$group": {"_id": "$sessionId", "p": {"$max": _is(PRODUCT_VIEW)},
                    "c": {"$max": _is(CART_ADD)}, "o": {"$max": _is(CHECKOUT)}}},
        # Events in the span may belong to a session that began before it.
        {"$set": {"startMs": start_ms_of("$_id")}},
        {"$match": {"startMs": {"$gte": to_ms(within.start), "$lt": to_ms(within.end)}}},
        {"$group": {"_id": None, "withProductView": {"$sum": "$p"},
                    "withCartAdd": {"$sum": "$c"}, "withCheckout": {"$sum": "$o"}}},
    ]
    started, reached = await asyncio.gather(
        storage.sessions.count_documents({"shopId": shop_id, **within.match("startedAt")}),
        _aggregate(storage.events, steps),
    )
    out = {"sessions": int(started), "withProductView": 0, "withCartAdd": 0, "withCheckout": 0}
    if reached:
        out.update({k: int(v) for k, v in reached[0].items() if k != "_id"})
    return out

