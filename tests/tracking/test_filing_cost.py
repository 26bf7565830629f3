"""Filing a visitor's anonymous history costs the same storage round trips for 10 or 10,000."""

from __future__ import annotations

from datetime import timedelta

from app.analytics import reading
from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking

BATCH = 100


async def seed(platform: Platform, clock: FakeClock, visitor: str, count: int) -> None:
    """`count` anonymous events of the last 20 days, through the pipeline, as imported."""
    start = clock.now() - timedelta(days=20)
    step = timedelta(days=19) / count
    kinds = [EventType.PRODUCT_VIEW, EventType.CATEGORY_VIEW, EventType.CART_ADD]
    for first in range(0, count, BATCH):
        batch = [
            EventInput(
                type=kinds[n % 3],
                context=Context(shop_id=1, visitor_id=visitor, event_id=f"{visitor}-{n}",
                                occurred_at=start + n * step),
                category_id=f"c{n % 7}", product_id=f"p{n % 50}")
            for n in range(first, min(first + BATCH, count))
        ]
        outcomes = await tracking.track(platform, batch, importing=True)
        assert all(o.error is None for o in outcomes)


async def login_trips(platform: Platform, visitor: str, user: str) -> dict[str, int]:
    # Both logins start with cold caches: the shop's and its rules' caches expire on the
    # wall clock, and seeding 10,000 events can take longer than their lifetime.
    platform.shops.forget(1)
    platform.rules.forget(1)
    platform.storage.trips.reset()
    [outcome] = await tracking.track(platform, [EventInput(
        type=EventType.LOGIN, context=Context(shop_id=1, visitor_id=visitor), user_id=user)])
    assert outcome.error is None and outcome.result.user_id == user
    return {"total": platform.storage.trips.total, **platform.storage.trips.by_collection}


async def filed_count(platform: Platform, user: str) -> int:
    return await platform.storage.events.count_documents({"shopId": 1, "userId": user})


async def test_filing_10_or_10000_events_costs_the_same_round_trips(
    platform: Platform, clock: FakeClock
) -> None:
    await platform.shops.create("Shop", 1)
    await seed(platform, clock, "few", 10)
    await seed(platform, clock, "many", 10_000)

    few = await login_trips(platform, "few", "alice")
    many = await login_trips(platform, "many", "bob")

    assert few == many
    assert await filed_count(platform, "alice") == 10 + 1
    assert await filed_count(platform, "bob") == 10_000 + 1
    bob = await reading.interest_map(platform, 1, "bob", limit=500)
    assert sum(p.get("views", 0) for p in bob["products"]) == 3334
    assert sum(p.get("cartAdds", 0) for p in bob["products"]) == 3333
    cart = await reading.cart(platform, 1, user_id="bob")
    assert sum(i["quantity"] for i in cart["items"].values()) == 3333
