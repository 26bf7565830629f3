"""Audiences: what an interaction costs with 100 audiences in the shop, and exits per second.

In-process, embedded store, memory broker, FakeClock, like bench/roundtrips.py and
bench/carts.py.

Interaction cost. Two shops side by side, each in its own store: one without
audiences, one with 100 (90 over products p0..p89, 10 over their categories c0..c9,
minScore 3 and 10). `platform.storage.trips` counts the round trips of one product
view by an identified customer in each state the audiences can be in. Events/s is
`tracking.track` of single product views, the two shops' runs alternating and the
ratio taken run by run (per CPU-second of this process: the machine is shared), in two
workloads: "steady", 20 customers who are members
of every audience they touch viewing again (every view lifts a followed product and
category score), and "crossing", new customers viewing a product twice (the second
view enters an audience: the worst case).

Exits per second. `kept` members, `due` of them past their exit (documents shaped as
app/audiences/membership.py writes them, with the interest values they stand for); one
`fire_due` call is one tick of the worker, counted and timed. Filling: a new audience
over an item `kept` customers are interested in, half of them above minScore; the
filling job is run to the end and timed.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app import interests
from app.audiences import definitions as audiences
from app.audiences import worker as audiences_worker
from app.audiences.membership import membership_key, new_rev
from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.core.keys import interest_key
from app.interests import Frame
from app.platform import Platform, open_store
from app.settings import Settings
from app.tracking import pipeline as tracking
from bench.common import ADMIN_KEY, SECRET

PRODUCTS, CATEGORIES, CUSTOMERS = 90, 10, 20


async def start(clock: FakeClock) -> Platform:
    settings = Settings(admin_key=ADMIN_KEY, secret=SECRET, demo_shop=True,
                        mongodb_db=f"bench_aud_{uuid.uuid4().hex[:8]}")
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    platform = await Platform.start(settings, clock=clock, storage=storage)
    await platform.shops.ensure_demo()
    return platform


async def stop(platform: Platform) -> None:
    await platform.stop()
    await platform.storage.drop()


class Shop:
    """One shop and its customers, tracking single product views."""

    def __init__(self, platform: Platform, with_audiences: bool) -> None:
        self.platform = platform
        self.with_audiences = with_audiences
        self.seq = 0

    async def setup(self) -> None:
        if self.with_audiences:
            for n in range(PRODUCTS):
                await audiences.create(self.platform, 1, f"p{n}", None, f"p{n}", 3.0)
            for n in range(CATEGORIES):
                await audiences.create(self.platform, 1, f"c{n}", f"c{n}", None, 10.0)
        for c in range(CUSTOMERS):
            await self.send(EventType.LOGIN, c, user_id=f"u{c}")

    async def send(self, type_: EventType, customer: int, **fields: Any) -> None:
        self.seq += 1
        await tracking.track(self.platform, [EventInput(type=type_, context=Context(
            shop_id=1, visitor_id=f"v{customer}", source_id="site", event_id=f"e{self.seq}"),
            **fields)])

    async def view(self, customer: int, product: int | str, category: str = "") -> None:
        await self.send(EventType.PRODUCT_VIEW, customer, product_id=f"p{product}",
                        category_id=category or f"c{int(product) % CATEGORIES}")

    async def counted_view(self, customer: int, product: int | str, category: str = "") -> int:
        await self.platform.shops.require(1)  # the shop cache is warm: not the event's cost
        trips = self.platform.storage.trips
        trips.reset()
        await self.view(customer, product, category)
        return trips.total

    async def warm(self) -> None:
        """Every customer views every product twice: a member of every audience after."""
        for product in range(PRODUCTS):
            for customer in range(CUSTOMERS):
                await self.view(customer, product)
                await self.view(customer, product)

    async def steady(self, events: int) -> float:
        """Events/s of members viewing what they follow (the common case)."""
        began = time.process_time()
        for i in range(events):
            await self.view(i % CUSTOMERS, (i * 7 + i // CUSTOMERS) % PRODUCTS)
        return events / (time.process_time() - began)

    async def crossing(self, events: int, run: int) -> float:
        """Events/s of new customers viewing a product twice: the second view enters."""
        customers = range(1000 * (run + 1), 1000 * (run + 1) + events // 2)
        for c in customers:
            await self.send(EventType.LOGIN, c, user_id=f"x{c}")
        began = time.process_time()
        for c in customers:
            await self.view(c, c % PRODUCTS)
            await self.view(c, c % PRODUCTS)
        return 2 * len(customers) / (time.process_time() - began)


async def interaction(events: int, runs: int) -> dict[str, Any]:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    plain, followed = Shop(await start(clock), False), Shop(await start(clock), True)
    try:
        for shop in (plain, followed):
            await shop.setup()
        trips = {
            "0 audiences": await plain.counted_view(0, 1),
            "100 audiences, none over the product or category viewed":
                await followed.counted_view(0, "-other", "elsewhere"),
            # customer 1 views p1 (in c1) three times: product score 2, 4, 6 (minScore 3)
            "over what is viewed, below minScore": await followed.counted_view(1, 1),
            "entering": await followed.counted_view(1, 1),
            "a member, lifted again": await followed.counted_view(1, 1),
        }
        for shop in (plain, followed):
            await shop.warm()
        steady: dict[str, list[float]] = {"0": [], "100": []}
        crossing: dict[str, list[float]] = {"0": [], "100": []}
        for run in range(runs):  # side by side: the two shops' runs alternate
            steady["0"].append(await plain.steady(events))
            steady["100"].append(await followed.steady(events))
            crossing["0"].append(await plain.crossing(events, run))
            crossing["100"].append(await followed.crossing(events, run))
        return {"trips": trips, "events": events,
                "steady": {**steady, "ratio": _ratios(steady)},
                "crossing": {**crossing, "ratio": _ratios(crossing)}}
    finally:
        await stop(plain.platform)
        await stop(followed.platform)


def _ratios(eps: dict[str, list[float]]) -> list[float]:
    return [b / a for a, b in zip(eps["0"], eps["100"], strict=True)]


def seed(frame: Frame, now: datetime, audience: dict[str, Any], kept: int, due: int
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Members of one audience and the interest values they stand for: `due` of them
    left minScore a moment ago, the others leave within days."""
    theta = audience["minScore"]
    members, values = [], []
    for n in range(kept):
        score = theta * (0.999 if n < due else 1.5 + n % 7)
        stored = frame.threshold(score, now)
        user = f"m{n}"
        values.append({"_id": interest_key(1, user, interests.PRODUCT, "p"), "shopId": 1,
                       "userId": user, "kind": interests.PRODUCT, "itemId": "p",
                       "decayed": stored, "views": 1, "lastInteractionAt": now})
        exit_at = frame.falls_below(stored, theta)
        members.append({"_id": membership_key(1, audience["audienceId"], user), "shopId": 1,
                        "audienceId": audience["audienceId"], "userId": user,
                        "visitorId": f"v{n}", "member": True, "episode": 1, "stored": stored,
                        "exitAt": exit_at, "enteredAt": now - timedelta(days=1),
                        "dueAt": exit_at, "pending": [], "rev": new_rev()})
    return members, values


async def exits(kept: int, due: int) -> dict[str, Any]:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    platform = await start(clock)
    try:
        audience = await audiences.create(platform, 1, "p fans", None, "p", 3.0)
        await platform.storage.audienceJobs.delete_many({})
        shop = await platform.shops.require(1)
        members, values = seed(shop.interest_frame, clock.now(), audience, kept, due)
        await platform.storage.memberships.raw.insert_many(members)
        await platform.storage.interests.raw.insert_many(values)
        platform.storage.trips.reset()
        began = time.process_time()
        fired = await audiences_worker.fire_due(platform)
        seconds = time.process_time() - began
        trips = platform.storage.trips.total
        # Filling: a second audience over the same item; half of the kept customers qualify.
        theta = 3.0 * 1.5 * 1.0001
        await audiences.create(platform, 1, "p keen", None, "p", theta)
        began = time.process_time()
        entered = 0
        while (n := await audiences_worker.run_jobs(platform)) or await \
                platform.storage.audienceJobs.count_documents({"pass": 1}):
            entered += n
        fill_seconds = time.process_time() - began
        return {"kept": kept, "due": due, "fired": fired, "seconds": seconds, "trips": trips,
                "exits_per_second": fired / seconds, "entered": entered,
                "fill_per_second": entered / fill_seconds}
    finally:
        await stop(platform)


async def measure(events: int = 2000, runs: int = 3, kept: int = 10_000,
                  due: int = 2_000) -> dict[str, Any]:
    return {"interaction": await interaction(events, runs),
            "exits": [await exits(kept, due) for _ in range(runs)]}
