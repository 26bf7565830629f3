"""The reports recounted from the raw events: the reference the rollups must equal.

`stats`, `top_products`, `top_categories` and `funnel` as MongoDB aggregations over
the raw `events` (and `sessions`, `triggers`, `orders`) of a range. The reports
(reports.py) read the rollups instead, and use these only for the partial hours at
a range's edges; tests compare the two after every fault and race, and the bench
measures both. Their cost grows with the events in the range.

The pipelines use stages and operators that both MongoDB and the embedded store
(mongomock) implement: `$dateTrunc` is not among them, so a bucket is numbered by
arithmetic on dates, `floor((t - origin) / step)`, where `$subtract` of two dates
gives milliseconds on both.

What each figure counts (times are UTC; a range is [from, to)):
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
from typing import Any

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
from app.backends.storage import Storage
from app.core import start_ms_of, to_ms


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


async def purchases(
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
    bought = await purchases(storage, shop_id, within, "productId", [d["_id"] for d in docs])
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
    bought = await purchases(storage, shop_id, within, "categoryId", [d["_id"] for d in docs])
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

