"""Two processes at once, interleaved at every storage call of one of them
(tests/support/races.py): rollups count each fact once, a checkout and the shop's
upsertOrders store one order with one attribution."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app import analytics
from app.attribution import fold, trigger_performance, upsert_orders
from app.platform import Platform
from app.tracking import pipeline as tracking
from tests.attribution.test_durability import RULE, setup, users, visit
from tests.support.races import interleavings


async def run_both_ways(prepare: Any, one: Any, two: Any, check: Any) -> None:
    runs, failures = 0, []
    for held, other in ((one, two), (two, one)):
        done, failed = await interleavings(prepare, held, other, check)
        runs += done
        failures += failed
    assert runs > 4, runs
    assert not failures, "\n".join(failures)


def no_errors(*results: Any) -> list[str]:
    return [f"a writer failed: {r!r}" for r in results if isinstance(r, Exception)]


async def test_two_folds_at_once_count_every_fact_once() -> None:
    async def prepare(platform: Platform) -> None:
        await setup(platform)
        for step in range(2):
            for user in users():
                await tracking.track(platform, visit(user, 1)[step])
            platform.clock.advance(seconds=60)

    async def folding(platform: Platform) -> Any:
        return await fold(platform.storage, platform.clock.now())

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = no_errors(*results)
        now = platform.clock.now()
        rules = list((await platform.rules.listed(1)).rules)
        rows = await trigger_performance(platform.storage, now, 1, rules,
                                         now - timedelta(days=1), now + timedelta(days=1))
        [row] = [r for r in rows if r["rule_id"] == RULE]
        got = (row["triggers"], row["delivered"], row["held_out"], row["orders"],
               row["revenue"], row["customers"], row["holdout_customers"])
        if got != (3, 2, 1, 2, 20.0, 2, 1):
            problems.append(f"counted {got}")
        span = analytics.span(now - timedelta(days=1), now + timedelta(days=1))
        products = await analytics.top_products(platform.storage, 1, span, 10, now)
        if [(p["productId"], p["purchases"]) for p in products] != [("p1", 3)]:
            problems.append(f"purchases {products}")  # the orders' day buckets: once each
        return problems

    await run_both_ways(prepare, folding, folding, check)


async def test_a_checkout_and_the_shop_s_upsert_store_one_order_attributed_once() -> None:
    user = users()[1]

    async def prepare(platform: Platform) -> None:
        await setup(platform)
        await tracking.track(platform, visit(user, 1)[0])  # the trigger
        platform.clock.advance(seconds=60)

    async def checkout(platform: Platform) -> Any:
        return await tracking.track(platform, visit(user, 1)[1])

    async def shop_side(platform: Platform) -> Any:
        shop = await platform.shops.require(1)
        given = [{"orderId": f"o-{user}", "userId": user, "status": "PAID",
                  "items": [{"productId": "p1", "quantity": 1, "price": 7.0}]}]
        return await upsert_orders(platform.storage, shop, given, platform.clock.now())

    async def check(platform: Platform, *results: Any) -> list[str]:
        problems = no_errors(*results)
        stored = await platform.storage.db.orders.find({"orderId": f"o-{user}"}).to_list(None)
        if len(stored) != 1:
            return [*problems, f"{len(stored)} orders"]
        [order] = stored
        if (order.get("attribution") or {}).get("kind") != "VIEW":
            problems.append(f"attribution {order.get('attribution')}")
        if order["status"] != "PAID" and order.get("eventKey") is None:
            problems.append(f"status {order['status']}")
        return problems

    await run_both_ways(prepare, checkout, shop_side, check)
