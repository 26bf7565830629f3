"""Storage round trips per tracked event, per event type, and per batch of 100.

In-process: `app.tracking.pipeline.track` on a Platform with the embedded store, the
memory broker and a FakeClock; `platform.storage.trips` counts every storage
call (one call = one round trip on MongoDB). Each case uses a fresh visitor.
The shop is read once before counting (the shop cache holds it for 5 s), so a
count is what the event itself costs.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.platform import Platform, open_store
from app.settings import Settings
from app.tracking import pipeline as tracking
from bench.common import ADMIN_KEY, SECRET

FIELDS: dict[EventType, dict[str, Any]] = {
    EventType.VISIT: {},
    EventType.PRODUCT_VIEW: {"category_id": "shoes", "product_id": "p1"},
    EventType.CATEGORY_VIEW: {"category_id": "shoes"},
    EventType.SECTION_VIEW: {"page_name": "sale"},
    EventType.LOGIN: {"user_id": "LOGIN"},
    EventType.REGISTRATION: {"user_id": "LOGIN"},
    EventType.CART_ADD: {"category_id": "shoes", "product_id": "p1", "quantity": 1,
                         "price": 10.0},
    EventType.CART_REMOVE: {"product_id": "p1"},
    EventType.CART_CLEAR: {},
    EventType.CHECKOUT: {"order_id": "ORDER"},
    EventType.CUSTOM: {"event_name": "quiz_done", "properties": {"score": 3}},
}

CASES = ("anonymous, first of session", "anonymous, continuing",
         "identified, first of session", "identified, continuing")


@dataclass
class Counted:
    trips: int
    by_collection: dict[str, int]


class Counter_:
    """Tracks events in-process and counts the round trips of each call."""

    def __init__(self, platform: Platform, clock: FakeClock) -> None:
        self.platform = platform
        self.clock = clock
        self.seq = itertools.count()

    def event(self, type_: EventType, visitor: str, **fields: Any) -> EventInput:
        n = next(self.seq)
        values = {**FIELDS[type_], **fields}
        if values.get("user_id") == "LOGIN":
            values["user_id"] = f"u-{visitor}"
        if values.get("order_id") == "ORDER":
            values["order_id"] = f"o{n}"
        return EventInput(type=type_, context=Context(
            shop_id=1, visitor_id=visitor, source_id="site", event_id=f"rt{n}",
            url="https://shop.example/p/1"), **values)

    async def track(self, events: list[EventInput]) -> Counted:
        # Warm the shop and rules caches (5 s): not the event's cost.
        await self.platform.rules.ruleset(await self.platform.shops.require(1))
        trips = self.platform.storage.trips
        trips.reset()
        outcomes = await tracking.track(self.platform, events)
        errors = [o.error for o in outcomes if o.error is not None]
        if errors:
            raise RuntimeError(f"tracking failed: {errors[0]}")
        counted = Counted(trips.total, dict(trips.by_collection))
        trips.reset()
        return counted

    async def setup(self, visitor: str, identified: bool, first_of_session: bool,
                    type_: EventType) -> None:
        """Bring a fresh visitor to the state the case starts from (not counted)."""
        if identified:
            await self.track([self.event(EventType.LOGIN, visitor)])
        elif not first_of_session:
            await self.track([self.event(EventType.VISIT, visitor)])
        if type_ in (EventType.CART_REMOVE, EventType.CART_CLEAR, EventType.CHECKOUT):
            await self.track([self.event(EventType.CART_ADD, visitor)])
        if first_of_session and (identified or type_ in (
                EventType.CART_REMOVE, EventType.CART_CLEAR, EventType.CHECKOUT)):
            self.clock.advance(seconds=1801)  # past the session timeout


async def start_platform() -> tuple[Platform, FakeClock]:
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    settings = Settings(admin_key=ADMIN_KEY, secret=SECRET, demo_shop=True,
                        mongodb_db=f"bench_{uuid.uuid4().hex[:8]}",
                        rate_tracker_per_ip=1e9, burst_tracker_per_ip=10**9,
                        rate_tracker_per_visitor=1e9, burst_tracker_per_visitor=10**9)
    storage = open_store(settings.mongodb_url, settings.mongodb_db)
    platform = await Platform.start(settings, clock=clock, storage=storage)
    await platform.shops.ensure_demo()
    return platform, clock


def realistic_batch(c: Counter_, visitor: str) -> list[EventInput]:
    """100 events of one visitor's visit: browsing, a login half-way, a cart and a checkout."""
    kinds = ([EventType.VISIT] + [EventType.PRODUCT_VIEW] * 30 + [EventType.CATEGORY_VIEW] * 10
             + [EventType.SECTION_VIEW] * 4 + [EventType.CART_ADD] * 3
             + [EventType.CART_REMOVE] + [EventType.LOGIN]
             + [EventType.PRODUCT_VIEW] * 30 + [EventType.CATEGORY_VIEW] * 10
             + [EventType.CART_ADD] * 3 + [EventType.CUSTOM] * 5 + [EventType.CHECKOUT]
             + [EventType.SECTION_VIEW])
    assert len(kinds) == 100
    return [c.event(k, visitor, product_id=f"p{i % 7}") if k in (
        EventType.PRODUCT_VIEW, EventType.CART_ADD, EventType.CART_REMOVE)
        else c.event(k, visitor) for i, k in enumerate(kinds)]


async def measure() -> dict[str, Any]:
    """Round trips per event type and case, per batch of 100, and of a duplicate."""
    platform, clock = await start_platform()
    try:
        c = Counter_(platform, clock)
        table: dict[str, dict[str, Counted]] = {}
        for type_ in EventType:
            row: dict[str, Counted] = {}
            for case in CASES:
                identified = case.startswith("identified")
                first = case.endswith("first of session")
                visitor = f"rt-{type_.value.lower()}-{len(row)}-{next(c.seq)}"
                await c.setup(visitor, identified, first, type_)
                row[case] = await c.track([c.event(type_, visitor)])
            table[type_.value] = row
        # The same eventId again.
        visitor = f"rt-dup-{next(c.seq)}"
        event = c.event(EventType.PRODUCT_VIEW, visitor)
        await c.track([event])
        again = EventInput(type=event.type, context=Context(
            shop_id=1, visitor_id=visitor, source_id="site", event_id=event.context.event_id),
            category_id="shoes", product_id="p1")
        duplicate = await c.track([again])

        batches: dict[str, Counted] = {}
        visitor = f"rt-b100-{next(c.seq)}"
        batches["100 product views, anonymous, new visitor"] = await c.track(
            [c.event(EventType.PRODUCT_VIEW, visitor, product_id=f"p{i}") for i in range(100)])
        batches["100 product views, anonymous, continuing"] = await c.track(
            [c.event(EventType.PRODUCT_VIEW, visitor, product_id=f"p{i}") for i in range(100)])
        visitor = f"rt-b100i-{next(c.seq)}"
        await c.track([c.event(EventType.LOGIN, visitor)])
        batches["100 product views, identified, continuing"] = await c.track(
            [c.event(EventType.PRODUCT_VIEW, visitor, product_id=f"p{i}") for i in range(100)])
        visitor = f"rt-b100m-{next(c.seq)}"
        batches["100 mixed (browse, cart, login half-way, checkout), new visitor"] = \
            await c.track(realistic_batch(c, visitor))
        batches["100 product views over 10 sessions"] = await _sessions_batch(c, clock)
        return {"table": table, "duplicate": duplicate, "batches": batches}
    finally:
        await platform.stop()
        await platform.storage.drop()


async def _sessions_batch(c: Counter_, clock: FakeClock) -> Counted:
    """100 events of one visitor that fall into 10 sessions (occurredAt 31 min apart)."""
    visitor = f"rt-b100t-{next(c.seq)}"
    await c.track([c.event(EventType.PRODUCT_VIEW, visitor)])
    clock.advance(hours=60)
    start = clock.now() - timedelta(hours=50)
    events = []
    for i in range(100):
        e = c.event(EventType.PRODUCT_VIEW, visitor)
        e.context.occurred_at = start + timedelta(minutes=31 * (i // 10), seconds=i % 10)
        events.append(e)
    return await c.track(events)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, dict[str, Counted]] = result["table"]
    worst = Counter({t: max(c.trips for c in row.values()) for t, row in table.items()})
    plain = {t: n for t, n in worst.items() if t not in ("LOGIN", "REGISTRATION")}
    return {"worst_by_type": dict(worst), "max_any": max(worst.values()),
            "max_non_identifying": max(plain.values()),
            "max_batch": max(b.trips for b in result["batches"].values())}
