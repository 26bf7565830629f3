"""Event and cart triggers through their rules: matches, disabled rules, several rules, caps.

Section 7: a trigger fires only through an enabled rule and carries its id; the
default rules keep section 4's behaviour and trigger ids.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.abandonment.cart_worker import fire_due
from app.core.clock import FakeClock
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking
from tests.support.api import Api
from tests.support.rule_helpers import (
    create_rule,
    default_id,
    listed,
    login,
    track,
    update_rule,
)


async def test_section_and_custom_event_rules_fire_on_their_names_only(
    api: Api, shop: dict[str, Any]
) -> None:
    key = shop["key"]
    friday = await create_rule(api, key, type="SECTION_VISITED", match=["action_black_friday"])
    quiz = await create_rule(api, key, type="CUSTOM_EVENT", match=["quiz_done", "quiz_left"])
    await track(api, "SECTION_VIEW", pageName="action_black_friday", eventId="s1")
    await track(api, "SECTION_VIEW", pageName="home", eventId="s2")
    await track(api, "CUSTOM", eventName="quiz_done", eventId="c1")
    await track(api, "CUSTOM", eventName="newsletter", eventId="c2")
    fired = [(t["triggerId"], t["ruleId"], t["name"]) for t in await listed(api, key)]
    assert fired == [
        ("1:s1:SECTION_VISITED", default_id("SECTION_VISITED"), "action_black_friday"),
        (f"1:s1:SECTION_VISITED:{friday['ruleId']}", friday["ruleId"], "action_black_friday"),
        ("1:s2:SECTION_VISITED", default_id("SECTION_VISITED"), "home"),
        ("1:c1:CUSTOM_EVENT", default_id("CUSTOM_EVENT"), "quiz_done"),
        (f"1:c1:CUSTOM_EVENT:{quiz['ruleId']}", quiz["ruleId"], "quiz_done"),
        ("1:c2:CUSTOM_EVENT", default_id("CUSTOM_EVENT"), "newsletter"),
    ]


async def test_a_disabled_or_deleted_rule_fires_nothing(api: Api, shop: dict[str, Any]) -> None:
    key = shop["key"]
    for type_ in ("SECTION_VISITED", "ORDER_COMPLETED"):
        await update_rule(api, key, default_id(type_), type=type_, enabled=False)
    await api.data("mutation { deleteTriggerRule(shopId: 1, ruleId: \"default:CUSTOM_EVENT\") }",
                   key=key)
    await login(api, "v1", "alice")
    await track(api, "SECTION_VIEW", pageName="sale")
    await track(api, "CUSTOM", eventName="quiz_done")
    await track(api, "CART_ADD", categoryId="c", productId="p1")
    await track(api, "CHECKOUT", orderId="o1")
    assert await listed(api, key) == []
    await update_rule(api, key, default_id("ORDER_COMPLETED"), type="ORDER_COMPLETED",
                      enabled=True)
    await track(api, "CART_ADD", categoryId="c", productId="p2")
    await track(api, "CHECKOUT", orderId="o2")
    [order] = await listed(api, key)
    assert (order["type"], order["name"], order["ruleId"]) == (
        "ORDER_COMPLETED", "o2", default_id("ORDER_COMPLETED"))


async def test_a_capped_rule_fires_once_per_visitor_in_its_window(
    api: Api, shop: dict[str, Any], clock: FakeClock
) -> None:
    key = shop["key"]
    await update_rule(api, key, default_id("SECTION_VISITED"), type="SECTION_VISITED",
                      capSeconds=600)
    for page in ("a", "b", "c"):
        await track(api, "SECTION_VIEW", "v1", pageName=page)
        clock.advance(seconds=200)
    await track(api, "SECTION_VIEW", "v2", pageName="a")  # another visitor: its own window
    await track(api, "SECTION_VIEW", "v1", pageName="d")  # 600 s after "a": a new window
    fired = [(t["visitorId"], t["name"]) for t in await listed(api, key)]
    assert fired == [("v1", "a"), ("v2", "a"), ("v1", "d")]


def section_view(visitor: str, event_id: str) -> EventInput:
    return EventInput(type=EventType.SECTION_VIEW, page_name="sale",
                      context=Context(shop_id=1, visitor_id=visitor, event_id=event_id))


async def test_a_cap_holds_across_processes(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    await update_rule(api, shop["key"], default_id("SECTION_VISITED"), type="SECTION_VISITED",
                      capSeconds=3600)
    other = await Platform.start(platform.settings, clock=clock, storage=platform.storage)
    try:
        # 20 visitors, each sending two section views at once, to two processes.
        await asyncio.gather(*(
            tracking.track(p, [section_view(f"v{n}", f"e{n}-{p is other}")])
            for n in range(20) for p in (platform, other)))
    finally:
        await other.stop()
    fired = await listed(api, shop["key"])
    assert sorted(t["visitorId"] for t in fired) == sorted(f"v{n}" for n in range(20))


async def test_cart_rules_fire_each_at_its_own_delay_and_once_per_abandonment(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    key = shop["key"]
    await update_rule(api, key, default_id("ABANDONED_CART"), type="ABANDONED_CART",
                      delaySeconds=3600)
    soon = await create_rule(api, key, type="ABANDONED_CART", title="Nudge", delaySeconds=600)
    late = await create_rule(api, key, type="ABANDONED_CART", title="Last call",
                             delaySeconds=86400, enabled=False)
    await login(api, "v1", "bob")
    await track(api, "CART_ADD", categoryId="c", productId="p1")
    cart = "1:u:bob"
    clock.advance(seconds=599)
    assert await fire_due(platform) == 0
    clock.advance(seconds=1)
    assert await fire_due(platform) == 1
    status = await api.data('{ cart(shopId: 1, userId: "bob") { status } }', key=key)
    assert status["cart"]["status"] == "ACTIVE"  # abandoned only after the shop's delay
    clock.advance(seconds=3000)
    assert await fire_due(platform) == 1
    status = await api.data('{ cart(shopId: 1, userId: "bob") { status } }', key=key)
    assert status["cart"]["status"] == "ABANDONED"
    clock.advance(days=2)
    assert await fire_due(platform) == 0  # the last call is disabled
    fired = [(t["triggerId"], t["ruleId"]) for t in await listed(api, key, "ABANDONED_CART")]
    assert fired == [(f"{cart}:1:{soon['ruleId']}", soon["ruleId"]),
                     (f"{cart}:1", default_id("ABANDONED_CART"))]
    assert late["ruleId"] not in {rule for _, rule in fired}


async def test_three_cart_rules_each_fire_at_their_own_delay_in_turn(
    api: Api, shop: dict[str, Any], platform: Platform, clock: FakeClock
) -> None:
    """After a rule fires, the cart is due again at the next rule's delay, not the last's."""
    key = shop["key"]
    await update_rule(api, key, default_id("ABANDONED_CART"), type="ABANDONED_CART",
                      delaySeconds=3600)
    first = await create_rule(api, key, type="ABANDONED_CART", title="Nudge", delaySeconds=600)
    second = await create_rule(api, key, type="ABANDONED_CART", title="Reminder",
                               delaySeconds=1800)
    await login(api, "v1", "bob")
    await track(api, "CART_ADD", categoryId="c", productId="p1")
    fired_at = []
    for seconds in (600, 1200, 1800):  # to 600 s, 1800 s and 3600 s after the cart add
        clock.advance(seconds=seconds - 1)
        assert await fire_due(platform) == 0
        clock.advance(seconds=1)
        fired_at.append(await fire_due(platform))
    assert fired_at == [1, 1, 1]
    fired = [t["ruleId"] for t in await listed(api, key, "ABANDONED_CART")]
    assert fired == [first["ruleId"], second["ruleId"], default_id("ABANDONED_CART")]


async def test_in_one_batch_exactly_the_capped_triggers_are_dropped(
    api: Api, shop: dict[str, Any]
) -> None:
    """Claims are made for capped rules only; a refused claim drops its own trigger, not the
    one at its position among all the batch's triggers (an uncapped one before it)."""
    key = shop["key"]
    await update_rule(api, key, default_id("SECTION_VISITED"), type="SECTION_VISITED",
                      capSeconds=600)
    await track(api, "SECTION_VIEW", "v1", pageName="a")  # claims v1's window
    batch = [{"type": type_, "context": {"shopId": 1, "visitorId": "v1", "eventId": event_id},
              **fields} for type_, event_id, fields in (
        ("CUSTOM", "c1", {"eventName": "quiz_done"}),  # uncapped: no claim, fires
        ("SECTION_VIEW", "s1", {"pageName": "b"}),  # capped: v1 claimed the window
        ("CUSTOM", "c2", {"eventName": "quiz_left"}),
        ("SECTION_VIEW", "s2", {"pageName": "c"}))]
    await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
                   {"e": batch})
    fired = [(t["type"], t["name"]) for t in await listed(api, key)]
    assert fired == [("SECTION_VISITED", "a"), ("CUSTOM_EVENT", "quiz_done"),
                     ("CUSTOM_EVENT", "quiz_left")]
