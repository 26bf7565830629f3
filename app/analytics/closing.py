"""Hours and days that closed: their dense sketches, written by a worker before a report asks.

A closed hour or day bucket with DENSE_FROM visitors or more keeps its registers dense as
well (reports.py, `dense.<figure>`), and a union of such buckets merges those. A report
that finds one without writes it (`Reader.complete`); left to reports, the first one of a
month merging thirty busy days would write thirty, and take several times as long as the
next. So a worker (`keep_dense`, every CLOSING_SECONDS) writes them first, for the buckets
of every shop that closed SETTLE ago or more (the fold has counted their events by then)
and within RECENT: one query for each scale (at most LOOK buckets: the next look reads
on), served by the partial index `rollups_busy` (app/indexes.py: only hour and day
buckets with DENSE_FROM visitors or more, by kind and start), then one guarded update per
bucket (`reports.dense_updates`), shop by shop. A shop being rebuilt (leases.py) is left
alone: its buckets are deleted and counted again meanwhile.

Invariants: a sketch is written only over the counts it was made from (a visitor counted
between the read and the write makes the write miss: reports write it later); a failed
write changes no answer (reports read the lists and registers while no sketch matches the
bucket's counts), nor stops the other shops' (the next look writes it). A visitor counted
late into a closed bucket makes its sketch stale: reports read the lists and registers
then, and write the sketch anew.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

import app.analytics.leases as leases
import app.analytics.reports as reports
from app.analytics.rollups import day_of, hour_of
from app.core import utc

log = logging.getLogger(__name__)

CLOSING_SECONDS = 300.0  # how often the worker looks
SETTLE = timedelta(minutes=10)  # after its close, a bucket's last events are folded
# How far back a look reaches: a worker down for less than that misses none.
RECENT = {"h": timedelta(hours=6), "d": timedelta(days=2)}
LOOK = 500  # buckets read per scale and look


async def keep_dense(storage: Any, now: datetime) -> int:
    """Write the dense sketches of busy buckets that closed lately, of every shop; how many
    updates were applied or missed (a visitor counted since the read)."""
    settled = utc(now) - SETTLE
    rebuilt = await leases.held(storage, utc(now))
    sent = 0
    for kind, closed in (("h", hour_of(settled)), ("d", day_of(settled))):
        docs = await storage.rollups.find(
            {"kind": kind, "at": {"$gte": closed - RECENT[kind], "$lt": closed},
             "n.visitors": {"$gte": reports.DENSE_FROM}, "dense": {"$exists": False}},
            {"shopId": 1, "n": 1, "hv": 1, "hi": 1}).limit(LOOK).off_loop().to_list(LOOK)
        by_shop: dict[int, list[dict[str, Any]]] = {}
        for doc in docs:
            if doc["shopId"] not in rebuilt:
                by_shop.setdefault(doc["shopId"], []).append(doc)
        for shop_id, some in sorted(by_shop.items()):
            sent += await _write(storage, shop_id, some)
    return sent


async def _write(storage: Any, shop_id: int, docs: list[dict[str, Any]]) -> int:
    """One shop's sketches; a failure is logged, and left to the next look."""
    ops = reports.dense_updates(shop_id, docs)
    try:
        await storage.rollups.bulk_write(ops, ordered=False)
    except PyMongoError:
        log.warning("dense sketches of shop %s not written; the next look retries", shop_id,
                    exc_info=True)
        return 0
    return len(ops)
