"""Orders, attribution and the performance rollups, whatever storage call fails.

Joins the fault matrix (tests/support/faults.py): the scenario runs once without a
fault, then once per storage call N with call N failing once, each failed step
retried as its caller retries it. Every collection (orders with their attribution,
exposures, the rollups) and every answer (triggerPerformance, channels) must equal the
run without a fault: nothing counted twice, nothing lost.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from app import analytics
from app.attribution import channel_stats, fold, trigger_performance, upsert_orders
from app.backends import folds
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking
from app.triggers import held_out
from tests.support.faults import fresh_platform, retried, run_matrix

RULE = "default:SECTION_VISITED"
URL = "https://shop.example/"


def users() -> list[str]:
    held = next(f"h{i}" for i in range(100) if held_out(RULE, f"u:h{i}", 50))
    treated = [u for u in (f"t{i}" for i in range(100)) if not held_out(RULE, f"u:{u}", 50)]
    return [held, *treated[:2]]


def visit(user: str, n: int) -> list[list[EventInput]]:
    """A visit that fires the rule's trigger, and a purchase in a later request."""
    def event(type_: EventType, k: int, **fields: Any) -> EventInput:
        return EventInput(type=type_, context=Context(
            shop_id=1, visitor_id=f"v-{user}", source_id="site", event_id=f"{user}-{n}-{k}",
            url=URL, referrer="https://yandex.ru/"), **fields)
    return [[event(EventType.VISIT, 1), event(EventType.LOGIN, 2, user_id=user),
             event(EventType.SECTION_VIEW, 3, page_name="sale")],
            [event(EventType.CART_ADD, 4, product_id="p1", category_id="c1", quantity=2,
                   price=5.0),
             event(EventType.CHECKOUT, 5, order_id=f"o-{user}")]]


async def setup(platform: Platform) -> None:
    await platform.shops.create("Shop", shop_id=1)
    await platform.rules.update(1, RULE, {"type": "SECTION_VISITED", "holdout_percent": 50})


async def scenario(platform: Platform) -> tuple[Any, int]:
    retries = 0
    for step in range(2):
        for user in users():
            _, again = await retried(
                lambda u=user, s=step: tracking.track(platform, visit(u, 1)[s]))
            retries += again
        platform.clock.advance(seconds=60)
    shop, again = await retried(lambda: platform.shops.require(1))
    retries += again
    cancel = [{"orderId": f"o-{users()[1]}", "userId": users()[1], "status": "CANCELLED",
               "items": [{"productId": "p1", "quantity": 2, "price": 5.0}]}]
    changed, again = await retried(lambda: upsert_orders(platform.storage, shop, cancel,
                                                         platform.clock.now()))
    retries += again
    platform.clock.advance(seconds=30)
    now = platform.clock.now()
    _, again = await retried(lambda: fold(platform.storage, now))
    retries += again
    ruleset, again = await retried(lambda: platform.rules.listed(1))
    retries += again
    rules = list(ruleset.rules)
    start, end = now - timedelta(days=1), now + timedelta(days=1)
    rows, again = await retried(lambda: trigger_performance(platform.storage, now, 1, rules,
                                                            start, end))
    channels, more = await retried(lambda: channel_stats(platform.storage, now, 1, start, end))
    # Purchases: the day buckets the same fold writes from the orders (the top lists').
    products, most = await retried(lambda: analytics.top_products(
        platform.storage, 1, analytics.span(start, end), 10, now))
    return ((changed, [r for r in rows if r["triggers"]], channels, products),
            retries + again + more + most)


async def test_orders_attribution_and_rollups_survive_any_failed_call() -> None:
    failures, faults, retries = await run_matrix(setup, scenario)
    assert faults > 20 and retries >= faults
    assert failures == [], f"{len(failures)} of {faults} faults:\n" + "\n".join(failures)


async def test_the_scenario_counts_what_happened() -> None:
    """The run the matrix compares against is itself right."""
    platform = await fresh_platform()
    await setup(platform)
    (changed, rows, channels, products), _ = await scenario(platform)
    await platform.stop()
    # Three orders of one line of p1 each, the cancelled one too (lines of any status).
    assert [(p["productId"], p["purchases"]) for p in products] == [("p1", 3)]
    assert changed == 1
    [row] = [r for r in rows if r["rule_id"] == RULE]
    assert (row["triggers"], row["delivered"], row["held_out"]) == (3, 2, 1)
    assert (row["orders"], row["revenue"]) == (1, 10.0)  # one of the two cancelled
    assert (row["customers"], row["holdout_customers"]) == (2, 1)
    assert (row["conversion_rate"], row["holdout_conversion_rate"]) == (1.0, 1.0)
    [search] = [c for c in channels if c["channel"] == "ORGANIC_SEARCH"]
    assert (search["sessions"], search["visitors"], search["orders"], search["revenue"]) \
        == (3, 3, 2, 20.0)


async def test_a_shop_whose_performance_batch_keeps_failing_does_not_stop_the_others_counting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    platform = await fresh_platform()
    await setup(platform)
    await platform.shops.create("Other", shop_id=2)
    await platform.rules.update(2, RULE, {"type": "SECTION_VISITED", "holdout_percent": 50})
    for step in range(2):
        for user in users():
            for shop in (1, 2):  # the same traffic in both shops
                await tracking.track(platform, [
                    replace(e, context=replace(e.context, shop_id=shop))
                    for e in visit(user, 1)[step]])
        platform.clock.advance(seconds=60)
    real = folds.apply

    async def refusing(target: Any, batch: str, buckets: Any, now: datetime) -> None:
        # Shop 1's triggers only: say, a rule's document the store refuses, every time.
        if batch.startswith("triggers:1:"):
            raise OperationFailure("object to update too large", code=10334)
        await real(target, batch, buckets, now)

    async def report(shop: int) -> list[dict[str, Any]]:
        now = platform.clock.now()
        rules = list((await platform.rules.listed(shop)).rules)
        rows = await trigger_performance(platform.storage, now, shop, rules,
                                         now - timedelta(days=1), now + timedelta(days=1))
        return [r for r in rows if r["triggers"]]

    monkeypatch.setattr(folds, "apply", refusing)
    with pytest.raises(OperationFailure):  # the worker logs it; its next run tries again
        await fold(platform.storage, platform.clock.now())
    for facts in ("triggers", "sessions", "orders"):  # shop 2's all counted by that run
        assert await getattr(platform.storage, facts).count_documents(
            {"shopId": 2, "rolled": False}) == 0, facts
        # Shop 1's wait, untouched, its sessions and orders too: orders convert the
        # exposures its triggers make, so they are not counted before them.
        assert await getattr(platform.storage, facts).count_documents(
            {"shopId": 1, "rolled": False}), facts
    for facts in ("sessions", "orders"):
        assert not await getattr(platform.storage, facts).count_documents(
            {"shopId": 1, "foldBatch": {"$exists": True}}), facts
    monkeypatch.setattr(folds, "apply", real)
    [row] = [r for r in await report(2) if r["rule_id"] == RULE]
    assert (row["triggers"], row["held_out"], row["orders"]) == (3, 1, 2)
    await fold(platform.storage, platform.clock.now())  # shop 1's turn, now it can be written
    assert await report(1) == await report(2)
    await platform.stop()
