"""Hours and days that closed: their dense sketches, written by a worker before a report asks.

A closed hour or day bucket with DENSE_FROM visitors or more keeps its registers dense as
well (reports.py, `dense.<figure>`), and a union of such buckets merges those. A report
that finds one without writes it (`Reader.complete`); left to reports, the first one of a
month merging thirty busy days would write thirty, and take several times as long as the
next. So a worker (`keep_dense`, every CLOSING_SECONDS) writes them first, for the buckets
of every shop that closed in the last RECENT: one query for each scale, served by the
partial index `rollups_busy` (app/indexes.py: only hour and day buckets with DENSE_FROM
visitors or more, by kind and start), then one guarded update per bucket
(`reports.dense_updates`).

Invariants: a sketch is written only over the counts it was made from (a visitor counted
between the read and the write makes the write miss: reports write it later); a failed
write changes no answer (reports read the lists and registers while no sketch matches the
bucket's counts). A visitor counted late into a closed bucket makes its sketch stale:
reports read the lists and registers then, and write the sketch anew.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import app.analytics.reports as reports
from app.analytics.rollups import day_of, hour_of
from app.core import utc

CLOSING_SECONDS = 300.0  # how often the worker looks
RECENT = {"h": timedelta(hours=6), "d": timedelta(days=2)}  # a worker down that long misses none
BUSY = "rollups_busy"  # the index (app/indexes.py), its threshold reports.DENSE_FROM


async def keep_dense(storage: Any, now: datetime) -> int:
    """Write the dense sketches of busy buckets that closed lately, of every shop; how many
    updates were sent (some may miss: a visitor counted since)."""
    now = utc(now)
    sent = 0
    for kind, closed in (("h", hour_of(now)), ("d", day_of(now))):
        docs = await storage.rollups.find(
            {"kind": kind, "at": {"$gte": closed - RECENT[kind], "$lt": closed},
             "n.visitors": {"$gte": reports.DENSE_FROM}, "dense": {"$exists": False}},
            {"shopId": 1, "n": 1, "hv": 1, "hi": 1}).to_list(None)
        by_shop: dict[int, list[dict[str, Any]]] = {}
        for doc in docs:
            by_shop.setdefault(doc["shopId"], []).append(doc)
        for shop_id, some in sorted(by_shop.items()):
            ops = reports.dense_updates(shop_id, some)
            await storage.rollups.bulk_write(ops, ordered=False)
            sent += len(ops)
    return sent
