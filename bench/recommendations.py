"""Recommendations (issue 26): answer time at scale, the cost a product view pays for
co-occurrence, and quality on generated shops.

In-process, embedded store (mongomock), memory broker, FakeClock, like bench/audiences.py.

- Answer time: `products` products in the catalog and `products * pairs` co-occurrence
  pairs (each product's document holding `pairs` pairs, as app/recommendations/pairs.py
  writes them), inserted straight into the store; `recommend` timed per call (wall
  clock, p50/p99) for ALSO_VIEWED of random products, and for POPULAR and FOR_YOU.
- Cost per product view: round trips of a view batch by collection, and tracking
  throughput (single-event `tracking.track` of product views, events per CPU-second of
  this process) with co-occurrence and without it (the session window and the pairs on
  the event switched off), the runs alternating, the ratio taken run by run; then the
  fold worker's events per CPU-second over what those runs marked.
- Quality: (a) 60% of the sessions that view A also view B: B's rank in A's ALSO_VIEWED;
  (b) a customer whose interest is 90% shoes: the share of shoes in FOR_YOU; (c) hit
  rate at 10 on a held-out split of generated sessions (sessions browse one of 50
  themes with Zipf-popular products, plus noise): given a held-out session's first
  product, is its second among the 10 that ALSO_VIEWED answers, and among POPULAR's.
"""

from __future__ import annotations

import random
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.platform import Platform, open_store
from app.recommendations import Ask, fold_all, recommend
from app.recommendations.pairs import POPULARITY_FRAME, doc_key
from app.settings import Settings
from app.tracking import pipeline as tracking
from app.tracking import session_views
from bench.common import ADMIN_KEY, SECRET

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def start(clock: FakeClock) -> Platform:
    settings = Settings(admin_key=ADMIN_KEY, secret=SECRET, demo_shop=True,
                        mongodb_db=f"bench_rec_{uuid.uuid4().hex[:8]}")
    platform = await Platform.start(settings, clock=clock,
                                    storage=open_store(settings.mongodb_url, settings.mongodb_db))
    await platform.shops.ensure_demo()
    return platform


async def stop(platform: Platform) -> None:
    await platform.stop()
    await platform.storage.drop()


class Shopper:
    """Tracks sessions of product views in shop 1, one batch per call."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.seq = 0

    def event(self, visitor: str, type_: EventType, **fields: Any) -> EventInput:
        self.seq += 1
        return EventInput(type=type_, context=Context(
            shop_id=1, visitor_id=visitor, source_id="site", event_id=f"b{self.seq}"), **fields)

    async def session(self, visitor: str, products: list[tuple[str, str]],
                      user: str | None = None) -> None:
        events = [self.event(visitor, EventType.LOGIN, user_id=user)] if user else []
        events += [self.event(visitor, EventType.PRODUCT_VIEW, product_id=p, category_id=c)
                   for p, c in products]
        outcomes = await tracking.track(self.platform, events)
        errors = [o.error for o in outcomes if o.error is not None]
        if errors:
            raise RuntimeError(f"tracking failed: {errors[0]}")


async def answer_times(products: int, pairs: int, calls: int) -> dict[str, Any]:
    clock = FakeClock(T0)
    platform = await start(clock)
    try:
        rng = random.Random(26)
        docs, catalog = [], []
        for n in range(products):
            pid = f"p{n}"
            others = rng.sample(range(products), pairs + 1)
            docs.append({"_id": doc_key(1, "v", pid), "shopId": 1, "kind": "v", "productId": pid,
                         "categoryId": f"c{n % 100}",
                         "views": POPULARITY_FRAME.forward(rng.random() * 50, T0),
                         "lastViewedAt": T0, "applied": [],
                         "pairs": [{"p": f"p{o}", "c": f"c{o % 100}", "s": rng.random() * 1e8}
                                   for o in others if o != n][:pairs]})
            catalog.append({"_id": f"1:{pid}", "shopId": 1, "productId": pid,
                            "categoryId": f"c{n % 100}", "name": pid, "price": 10.0,
                            "available": n % 20 != 0, "updatedAt": T0})
        for start_ in range(0, products, 10_000):
            await platform.storage.cooccurrence.raw.insert_many(docs[start_:start_ + 10_000])
            await platform.storage.products.raw.insert_many(catalog[start_:start_ + 10_000])
        shopper = Shopper(platform)
        await shopper.session("me", [("p1", "c1"), ("p2", "c2")], user="u1")
        frame = (await platform.shops.require(1)).interest_frame
        out: dict[str, Any] = {"products": products, "pairs": products * pairs}
        asks = {"ALSO_VIEWED": lambda i: Ask(1, "ALSO_VIEWED",
                                             product_id=f"p{rng.randrange(products)}"),
                "FOR_YOU": lambda i: Ask(1, "FOR_YOU", user_id="u1"),
                "POPULAR": lambda i: Ask(1, "POPULAR", category_id=f"c{i % 5}")}
        for name, ask in asks.items():
            times = []
            for i in range(calls if name == "ALSO_VIEWED" else max(calls // 4, 5)):
                began = time.perf_counter()
                await recommend(platform.storage, frame, clock.now(), ask(i))
                times.append((time.perf_counter() - began) * 1000)
            times.sort()
            out[name] = {"p50": times[len(times) // 2],
                         "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
                         "calls": len(times)}
        return out
    finally:
        await stop(platform)


@contextmanager
def without_cooccurrence():
    """Tracking as before issue 26: no session window, no pairs on the events."""
    window_of, annotate = session_views.window_of, session_views.annotate
    session_views.window_of = lambda items: None  # type: ignore[assignment]
    session_views.annotate = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        session_views.window_of, session_views.annotate = window_of, annotate


async def view_cost(events: int, runs: int) -> dict[str, Any]:
    clock = FakeClock(T0)
    platform = await start(clock)
    try:
        shopper = Shopper(platform)
        await platform.shops.require(1)
        await shopper.session("warm", [("p0", "c0")])
        trips = platform.storage.trips
        counted: dict[str, dict[str, int]] = {}
        for name, batch in (("view", 1), ("batch of 20 views", 20)):
            views = [(f"p{i}", "c") for i in range(batch)]
            with without_cooccurrence():  # each measured batch continues a session
                await shopper.session(f"b{batch}", [("w", "c")])
                trips.reset()
                await shopper.session(f"b{batch}", views)
                before = trips.total
            await shopper.session(f"a{batch}", [("w", "c")])
            trips.reset()
            await shopper.session(f"a{batch}", views)
            counted[name] = {"before": before, "after": trips.total,
                             "cooccurrence": trips.by_collection.get("cooccurrence", 0)}
        rates: dict[str, list[float]] = {"before": [], "after": []}
        for run in range(runs):
            for mode in ("before", "after"):
                began = time.process_time()
                for i in range(events):
                    visitor = f"{mode}{run}-{i // 10}"  # sessions of 10 views
                    if mode == "before":
                        with without_cooccurrence():
                            await shopper.session(visitor, [(f"p{i % 500}", "c")])
                    else:
                        await shopper.session(visitor, [(f"p{i % 500}", "c")])
                rates[mode].append(events / (time.process_time() - began))
        ratio = [a / b for a, b in zip(rates["after"], rates["before"], strict=True)]
        trips.reset()
        began = time.process_time()
        folded = await fold_all(platform)
        fold_rate = folded / (time.process_time() - began)
        return {"trips": counted, "rates": rates, "ratio": ratio, "events": events,
                "fold": {"events": folded, "per_cpu_second": fold_rate,
                         "trips": trips.total}}
    finally:
        await stop(platform)


async def quality(sessions: int) -> dict[str, Any]:
    clock = FakeClock(T0)
    platform = await start(clock)
    rng = random.Random(2026)
    try:
        shopper = Shopper(platform)
        frame = (await platform.shops.require(1)).interest_frame
        out: dict[str, Any] = {}

        async def ask(**kw: Any) -> list[str]:
            await fold_all(platform)
            found = await recommend(platform.storage, frame, clock.now(), Ask(1, **kw))
            return [r["productId"] for r in found]

        # (a) 60% of the sessions that view A also view B.
        for s in range(sessions):
            noise = [(f"n{rng.randrange(200)}", "n") for _ in range(4)]
            viewed = [("A", "n"), *noise] + ([("B", "n")] if s % 5 < 3 else [])
            rng.shuffle(viewed)
            await shopper.session(f"a{s}", viewed)
        top = await ask(strategy="ALSO_VIEWED", product_id="A", limit=10)
        out["b_rank"] = top.index("B") + 1 if "B" in top else None
        # (b) a customer whose interest is 90% shoes.
        for s in range(50):
            await shopper.session(f"pop{s}", [(f"shoe{rng.randrange(60)}", "shoes"),
                                              (f"hat{rng.randrange(60)}", "hats")])
        history = [(f"shoe{i}", "shoes") for i in range(9)] + [("hat0", "hats")]
        await shopper.session("fan", history, user="fan")
        mine = await ask(strategy="FOR_YOU", user_id="fan", limit=10)
        out["shoes_share"] = sum(p.startswith("shoe") for p in mine) / max(len(mine), 1)
        # (c) hit rate at 10, held-out split.
        out.update(await _hit_rates(shopper, ask, rng, sessions * 4))
        return out
    finally:
        await stop(platform)


async def _hit_rates(shopper: Shopper, ask: Any, rng: random.Random, sessions: int
                     ) -> dict[str, Any]:
    themes, per_theme = 50, 40
    weights = [1 / (k + 1) for k in range(per_theme)]  # Zipf within a theme

    def generated() -> list[tuple[str, str]]:
        theme = rng.randrange(themes)
        picks = rng.choices(range(per_theme), weights, k=6)
        viewed = [(f"t{theme}-{k}", f"t{theme}") for k in dict.fromkeys(picks)]
        if rng.random() < 0.3:  # noise: a product of another theme
            other = rng.randrange(themes)
            viewed.insert(rng.randrange(len(viewed) + 1), (f"t{other}-{rng.randrange(per_theme)}",
                                                            f"t{other}"))
        return viewed

    all_sessions = [s for s in (generated() for _ in range(sessions)) if len(s) >= 2]
    cut = int(len(all_sessions) * 0.8)
    for n, viewed in enumerate(all_sessions[:cut]):
        await shopper.session(f"h{n}", viewed)
    hits = {"ALSO_VIEWED": 0, "POPULAR": 0}
    held = all_sessions[cut:]
    for viewed in held:
        query, target = viewed[0][0], viewed[1][0]
        if target in await ask(strategy="ALSO_VIEWED", product_id=query, limit=10):
            hits["ALSO_VIEWED"] += 1
        if target in await ask(strategy="POPULAR", product_id=query, limit=10):
            hits["POPULAR"] += 1
    return {"held_out": len(held), "trained": cut,
            "hit_also_viewed": hits["ALSO_VIEWED"] / max(len(held), 1),
            "hit_popular": hits["POPULAR"] / max(len(held), 1)}


async def measure(products: int, pairs: int, calls: int, events: int, runs: int,
                  sessions: int) -> dict[str, Any]:
    return {"answers": await answer_times(products, pairs, calls),
            "views": await view_cost(events, runs),
            "quality": await quality(sessions)}
