"""Abandoned sessions: one worker tick (`app.abandonment.browse_worker.fire_due_sessions`).

In-process, embedded store, memory broker, FakeClock, like bench/carts.py. The
store holds `kept` open sessions of identified customers, each on its visitor
document in the shape the tracking write leaves it (app/abandonment/watch.py: the
products and categories viewed, `wDueMs`), and each viewed product's interest
document. `due` of them fell due during the last tick interval; the others fall
due later. One call is one tick of the worker (both sources: current sessions
on visitors, closed sessions on session documents); it is counted
(`platform.storage.trips`, with the shop and its rules already cached, as they
are in a running worker) and timed.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app import interests
from app.abandonment.browse_worker import due_query, fire_due_sessions
from app.abandonment.watch import Delays, Seen, mark
from app.core.clock import FakeClock, to_ms
from app.core.events import EventType
from app.core.keys import interest_key, visitor_key
from app.indexes import ABANDONMENT_DUE
from app.platform import Platform, open_store
from app.settings import Settings
from app.triggers import model as trigger_log
from bench.common import ADMIN_KEY, SECRET

DELAYS = Delays(browse=1800, category=1800)  # the default rules


def session_docs(now: datetime, kept: int, due: int, tick: float
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Visitors with a watched current session, and the interests of what they viewed."""
    visitors, interest_docs = [], []
    for i in range(kept):
        if i < due:
            due_ms = to_ms(now) - int(tick * 1000 * (i + 0.5) / due)
        else:
            due_ms = to_ms(now) + 60_000 + (i % 3600) * 1000
        last_ms = due_ms - DELAYS.browse * 1000
        user, visitor = f"cust{i}", f"v{i}"
        products = [f"p{(i + j) % 500}" for j in range(1 + i % 3)]
        marks = [mark(EventType.PRODUCT_VIEW, p, f"c{int(p[1:]) % 20}") for p in products]
        if i % 4 == 0:
            marks.append(mark(EventType.CATEGORY_VIEW, None, "c0"))
        seen = Seen().add(marks).fields(last_ms, DELAYS)
        del seen["wLastMs"]
        visitors.append({"_id": visitor_key(1, visitor), "shopId": 1, "visitorId": visitor,
                         "userId": user, "sid": f"{visitor}.{last_ms - 60_000}",
                         "sStartMs": last_ms - 60_000, "sLastMs": last_ms, "sEvents": len(marks),
                         **seen})
        interest_docs += [{
            "_id": interest_key(1, user, interests.PRODUCT, p), "shopId": 1, "userId": user,
            "kind": interests.PRODUCT, "itemId": p, "categoryId": f"c{int(p[1:]) % 20}",
            "decayed": interests.forward(2.0 * (1 + k), now), "views": 1 + k,
            "lastInteractionAt": now - timedelta(hours=1),
        } for k, p in enumerate(products)]
    return visitors, interest_docs


async def one_tick(kept: int, due: int, tick: float = 1.0) -> dict[str, Any]:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    settings = Settings(admin_key=ADMIN_KEY, secret=SECRET, demo_shop=False,
                        mongodb_db=f"bench_sessions_{uuid.uuid4().hex[:8]}")
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    platform = await Platform.start(settings, clock=clock, storage=storage)
    try:
        await platform.shops.create("Bench", 1)
        await platform.rules.ruleset(await platform.shops.require(1))  # warm, as in a worker
        now = clock.now()
        visitors, interest_docs = session_docs(now, kept, due, tick)
        await storage.visitors.raw.insert_many(visitors)
        await storage.interests.raw.insert_many(interest_docs)
        published: list[float] = []
        async with platform.broker.subscribe(trigger_log.channel(1)) as live:
            storage.trips.reset()
            began = time.perf_counter()
            fired = await fire_due_sessions(platform)
            seconds = time.perf_counter() - began
            trips, by_collection = storage.trips.total, dict(storage.trips.by_collection)
            while len(published) < fired:
                message = await live.get(1.0)
                assert json.loads(message)["type"] == "ABANDONED_BROWSE"
                published.append(time.perf_counter())
        waited = [(to_ms(now) - v["wDueMs"]) / 1000 for v in visitors[:due]]
        left = await storage.visitors.raw.count_documents(due_query(to_ms(now)))
        return {"fired": fired, "published": len(published), "trips": trips,
                "by_collection": by_collection, "tick_seconds": seconds, "still_due": left,
                "due_to_fired_max": max(waited) + (max(published) - began if published else 0)}
    finally:
        await platform.stop()
        await storage.drop()


def index_and_query() -> dict[str, Any]:
    """The due-time query a tick makes, and the index that serves it (for the report)."""
    doc = ABANDONMENT_DUE.document
    return {"query": json.dumps(due_query(1_772_366_400_000)),
            "index": json.dumps({"key": dict(doc["key"]), "name": doc["name"],
                                 "partialFilterExpression": doc["partialFilterExpression"]})}


async def measure(kept: int = 10_000, due: int = 1_000, runs: int = 3) -> dict[str, Any]:
    return {"kept": kept, "due": due, **index_and_query(),
            "runs": [await one_tick(kept, due) for _ in range(runs)]}
