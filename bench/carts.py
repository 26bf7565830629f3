"""Abandoned carts: one worker tick (`app.abandonment.cart_worker.fire_due`) with many carts kept.

In-process, embedded store, memory broker, FakeClock. The store holds `kept`
carts shaped as app/carts.py writes them: `due` of them fell due during the
last tick interval (their `dueAt` spread over it), most of the rest fall due
later and the others are settled (`dueAt` null). One `fire_due` call is one
tick of the worker; it is counted (storage round trips, `platform.storage.trips`)
and timed, and each published trigger is timestamped as the broker delivers
it. Time from due to fired = how long the cart had been due when the tick began
(on the FakeClock) + the wall time into the tick at which its trigger was
published. The worker ticks every `abandoned_cart_tick_seconds` (1 s).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.abandonment.cart_worker import fire_due
from app.core.clock import FakeClock
from app.platform import Platform, open_store
from app.settings import Settings
from app.triggers import model as trigger_log
from bench.common import ADMIN_KEY, SECRET, percentile


def cart_docs(now: datetime, kept: int, due: int, tick: float) -> list[dict[str, Any]]:
    docs = []
    for i in range(kept):
        if i < due:
            due_at: datetime | None = now - timedelta(seconds=tick * (i + 0.5) / due)
        elif i % 3:
            due_at = now + timedelta(seconds=60 + i % 3600)
        else:
            due_at = None
        changed = (due_at or now) - timedelta(hours=1)
        items = {f"p{j}": {"productId": f"p{j}", "categoryId": f"c{j % 5}", "quantity": 1 + j,
                           "price": 10.0 + j, "addedAt": changed - timedelta(minutes=j)}
                 for j in range(1 + i % 3)}
        docs.append({
            "_id": f"1:u:cust{i}", "shopId": 1, "owner": f"u:cust{i}", "userId": f"cust{i}",
            "visitorId": f"v{i}", "items": items, "updatedAt": changed, "dueAt": due_at,
            "status": "ACTIVE" if due_at else "ABANDONED", "version": 1 + i % 4,
        })
    return docs


async def one_tick(kept: int, due: int, tick: float = 1.0) -> dict[str, Any]:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    settings = Settings(admin_key=ADMIN_KEY, secret=SECRET, demo_shop=False,
                        mongodb_db=f"bench_carts_{uuid.uuid4().hex[:8]}")
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    platform = await Platform.start(settings, clock=clock, storage=storage)
    try:
        # The shop's rules say which carts fire; a running worker has them cached.
        await platform.shops.create("Bench", 1)
        await platform.rules.ruleset(await platform.shops.require(1))
        now = clock.now()
        docs = cart_docs(now, kept, due, tick)
        due_at = {f"{d['_id']}": d["dueAt"] for d in docs[:due]}
        await storage.carts.raw.insert_many(docs)
        published: dict[str, float] = {}

        async with platform.broker.subscribe(trigger_log.channel(1)) as live:
            async def listen() -> None:
                async for message in live:
                    published[json.loads(message)["_id"]] = time.perf_counter()

            listener = asyncio.create_task(listen())
            storage.trips.reset()
            began = time.perf_counter()
            fired = await fire_due(platform)
            seconds = time.perf_counter() - began
            trips, by_collection = storage.trips.total, dict(storage.trips.by_collection)
            for _ in range(100):
                if len(published) >= fired:
                    break
                await asyncio.sleep(0.01)
            listener.cancel()
        latencies = []
        for trigger_id, at in published.items():
            cart_id = trigger_id.rsplit(":", 1)[0]
            if cart_id in due_at:
                waited = (now - due_at[cart_id]).total_seconds()
                latencies.append(waited + (at - began))
        left = await storage.carts.raw.count_documents({"dueAt": {"$lte": now}})
        return {"fired": fired, "published": len(published), "trips": trips,
                "by_collection": by_collection, "tick_seconds": seconds, "still_due": left,
                "due_to_fired_p50": percentile(latencies, 50),
                "due_to_fired_max": max(latencies) if latencies else float("nan")}
    finally:
        await platform.stop()
        await storage.drop()


async def measure(kept: int = 10_000, due: int = 1_000, runs: int = 3) -> dict[str, Any]:
    return {"kept": kept, "due": due, "runs": [await one_tick(kept, due) for _ in range(runs)]}
