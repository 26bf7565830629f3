"""No lost updates between processes (issue 11, point 3).

Each race runs two writers on one store, as two server processes, once for every
point of one writer at which the other can come in between (tests/support/races.py), in both
roles, and checks what a user would read afterwards. Each of these tests fails when
the conditional write or atomic operator it covers is replaced by the read-then-write
it replaced (docs/scaling.md, "No lost updates", says which interleaving breaks it).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from app.analytics import reading
from app.core.clock import utc
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking
from tests.support.races import Writer, interleavings

SHOP = 1
_ids = itertools.count()


def event(type_: EventType, visitor: str, **fields: Any) -> EventInput:
    occurred = fields.pop("occurred_at", None)
    return EventInput(type=type_, context=Context(
        shop_id=SHOP, visitor_id=visitor, source_id="site", event_id=f"e{next(_ids)}",
        occurred_at=occurred), **fields)


async def track(platform: Platform, *events: EventInput, importing: bool = False) -> None:
    outcomes = await tracking.track(platform, list(events), importing=importing)
    errors = [o.error for o in outcomes if o.error is not None]
    assert not errors, errors


def add(visitor: str, product: str) -> EventInput:
    return event(EventType.CART_ADD, visitor, category_id="c", product_id=product)


def login(visitor: str, user: str) -> EventInput:
    return event(EventType.LOGIN, visitor, user_id=user)


async def make_shop(platform: Platform) -> None:
    await platform.shops.create("Race shop", shop_id=SHOP)


async def race(setup: Writer, one: Writer, two: Writer, check: Any, both_ways: bool = True
               ) -> None:
    """The race with `one` held at each of its points, then (both_ways) `two` held."""
    orders = [(one, two), (two, one)] if both_ways else [(one, two)]
    runs, failures = 0, []
    for held, other in orders:
        done, failed = await interleavings(setup, held, other, check)
        runs += done
        failures += failed
    assert runs > 4, runs  # each writer makes several calls: many interleavings ran
    assert not failures, "\n".join(failures)


def no_errors(*results: Any) -> list[str]:
    return [f"a writer failed: {r!r}" for r in results if isinstance(r, Exception)]


def quantities(items: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item["productId"]] = out.get(item["productId"], 0) + item["quantity"]
    return out


async def test_a_cart_merge_keeps_a_change_made_from_another_device() -> None:
    """Visitor v2 logs in as u1 (its anonymous cart joins u1's) while u1 adds to the
    cart on device d1: nothing is lost, nothing counted twice."""

    async def setup(platform: Platform) -> None:
        await make_shop(platform)
        await track(platform, login("d1", "u1"), add("d1", "p1"))
        await track(platform, add("v2", "p2"))

    async def merge(platform: Platform) -> None:
        await track(platform, login("v2", "u1"))

    async def other_device(platform: Platform) -> None:
        await track(platform, add("d1", "p3"))

    async def check(platform: Platform, *results: Any) -> list[str]:
        cart = await reading.cart(platform, SHOP, user_id="u1")
        anonymous = await platform.storage.carts.find_one({"_id": f"{SHOP}:v:v2"})
        got = quantities(reading.cart_view(cart)["items"])
        problems = no_errors(*results)
        if got != {"p1": 1, "p2": 1, "p3": 1}:
            problems.append(f"u1's cart holds {got}")
        if anonymous is not None:
            problems.append("v2's anonymous cart is still there")
        return problems

    await race(setup, merge, other_device, check)


async def test_session_counters_never_go_back() -> None:
    """Two requests of one visitor at once (two tabs, or a retry still in flight): the
    first opens a session, the second adds to it and opens the next. Every session's
    stored counters match its events."""
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # the clock says 12:00

    def view(seconds: int) -> EventInput:
        return event(EventType.PRODUCT_VIEW, "v", category_id="c", product_id="p",
                     occurred_at=start + timedelta(seconds=seconds))

    async def first(platform: Platform) -> None:
        await track(platform, view(0), view(1), importing=True)

    async def second(platform: Platform) -> None:
        await track(platform, view(2), view(3 * 3600), importing=True)

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = no_errors(*results)
        storage = platform.storage
        visitor = await storage.visitors.find_one({"_id": f"{SHOP}:v"})
        events = await storage.events.find({"shopId": SHOP}).to_list(None)
        by_session: dict[str, list[Any]] = {}
        for e in events:
            by_session.setdefault(e["sessionId"], []).append(utc(e["occurredAt"]))
        for doc in await storage.sessions.find({"shopId": SHOP}).to_list(None):
            times = by_session.pop(doc["sessionId"], [])
            if doc["sessionId"] == visitor["sid"]:
                counted = visitor["sEvents"]  # the current session counts on the visitor
            else:
                counted = doc["eventsCount"]
                if utc(doc["lastEventAt"]) != max(times, default=None):
                    problems.append(f"{doc['sessionId']} ends at {doc['lastEventAt']}")
            if counted != len(times):
                problems.append(f"{doc['sessionId']}: {counted} counted, {len(times)} events")
        problems += [f"no session document for {s}" for s in by_session]
        return problems

    await race(make_shop, first, second, check)


async def test_two_shops_created_at_once_get_two_ids() -> None:
    async def create_a(platform: Platform) -> int:
        return (await platform.shops.create("A"))[0].shop_id

    async def create_b(platform: Platform) -> int:
        return (await platform.shops.create("B"))[0].shop_id

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = no_errors(*results)
        stored = await platform.storage.shops.find({}).to_list(None)
        if not problems and len({*results}) != 2:
            problems.append(f"both got shop {results[0]}")
        if sorted(d["name"] for d in stored) != ["A", "B"]:
            problems.append(f"stored: {[(d['_id'], d['name']) for d in stored]}")
        return problems

    async def nothing(platform: Platform) -> None:
        return None

    await race(nothing, create_a, create_b, check)


async def test_sources_added_at_once_are_both_kept() -> None:
    """Two processes add a source each to the same shop, each with the shop in its cache."""

    async def setup(platform: Platform) -> None:
        await make_shop(platform)

    async def add_app(platform: Platform) -> None:
        await platform.shops.get(SHOP)  # the process has the shop cached
        await platform.shops.add_source(SHOP, "app", "App", None, make_default=False)

    async def add_pos(platform: Platform) -> None:
        await platform.shops.get(SHOP)
        await platform.shops.add_source(SHOP, "pos", "Shop floor", None, make_default=True)

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = no_errors(*results)
        platform.shops.forget(SHOP)
        shop = await platform.shops.require(SHOP)
        got = sorted(s.source_id for s in shop.sources)
        if got != ["app", "pos", "site"]:
            problems.append(f"sources {got}")
        if shop.default_source_id != "pos":
            problems.append(f"default source {shop.default_source_id}")
        return problems

    await race(setup, add_app, add_pos, check)


async def test_a_checkout_and_a_cart_add_from_another_device() -> None:
    """u1 checks out on d1 while adding to the same cart on d2: each item ends up in the
    order or in the cart, once."""

    async def setup(platform: Platform) -> None:
        await make_shop(platform)
        await track(platform, login("d1", "u1"), add("d1", "p1"))
        await track(platform, login("d2", "u1"))

    async def checkout(platform: Platform) -> None:
        await track(platform, event(EventType.CHECKOUT, "d1", order_id="o1"))

    async def other_device(platform: Platform) -> None:
        await track(platform, add("d2", "p2"))

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = no_errors(*results)
        cart = reading.cart_view(await reading.cart(platform, SHOP, user_id="u1"))["items"]
        ordered = [line for o in await reading.orders(platform, SHOP, "u1")
                   for line in o["items"]]
        got = quantities(cart + ordered)
        if got != {"p1": 1, "p2": 1}:
            problems.append(f"cart {quantities(cart)} + orders {quantities(ordered)}")
        if quantities(ordered).get("p1") != 1:
            problems.append(f"order o1 holds {quantities(ordered)}")
        return problems

    await race(setup, checkout, other_device, check)
