"""Orders' revenue and attribution over real HTTP (CONTRACT.md section 12)."""

from __future__ import annotations

import pytest

from app.triggers import held_out
from tests.attribution.helpers import (
    SHOP_URL,
    UPSERT,
    buy,
    fire_section,
    land,
    orders,
    performance,
    set_window,
    triggers,
)
from tests.support.api import Api
from tests.support.rule_helpers import update_rule

SECTION_RULE = "default:SECTION_VISITED"
DAY = ("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z")


async def fired(api: Api, key: str, user: str) -> dict:
    [t] = [t for t in await triggers(api, key) if t["userId"] == user
           and t["type"] == "SECTION_VISITED"]
    return t


async def test_an_order_after_a_trigger_click_is_a_click(api: Api, shop: dict, clock) -> None:
    key = shop["key"]
    await land(api, "d1", f"{SHOP_URL}/", user="alice")
    await fire_section(api, "d1")
    trigger = await fired(api, key, "alice")
    clock.advance(hours=2)
    await land(api, "d1", f"{SHOP_URL}/sale?{trigger['link']}", "https://mail.google.com/")
    await buy(api, "d1", "o-1", price=12.5, quantity=2)
    [order] = await orders(api, key, "alice")
    assert order["revenue"] == 25.0 and order["status"] == "PLACED"
    assert order["attribution"] == {"triggerId": trigger["triggerId"], "ruleId": SECTION_RULE,
                                    "type": "SECTION_VISITED", "kind": "CLICK"}
    row = (await performance(api, key, *DAY))[SECTION_RULE]
    assert (row["triggers"], row["delivered"], row["clicks"], row["orders"], row["revenue"]) \
        == (1, 1, 1, 1, 25.0)


async def test_an_order_after_a_delivered_trigger_and_no_click_is_a_view(
        api: Api, shop: dict, clock) -> None:
    key = shop["key"]
    await land(api, "d1", f"{SHOP_URL}/", user="bob")
    await fire_section(api, "d1")
    trigger = await fired(api, key, "bob")
    clock.advance(days=2)
    await land(api, "d1", f"{SHOP_URL}/", "https://www.google.com/")
    await buy(api, "d1", "o-2")
    [order] = await orders(api, key, "bob")
    assert order["attribution"]["kind"] == "VIEW"
    assert order["attribution"]["triggerId"] == trigger["triggerId"]


async def test_an_order_after_the_window_has_no_attribution(api: Api, shop: dict,
                                                            clock) -> None:
    key = shop["key"]
    await set_window(api, key, 3600)
    await land(api, "d1", f"{SHOP_URL}/", user="carol")
    await fire_section(api, "d1")
    clock.advance(hours=2)
    await buy(api, "d1", "o-3")
    [order] = await orders(api, key, "carol")
    assert order["attribution"] is None


async def test_an_order_exactly_the_window_after_its_trigger_is_attributed(
        api: Api, shop: dict, clock) -> None:
    key = shop["key"]
    await set_window(api, key, 3600)
    await land(api, "d1", f"{SHOP_URL}/", user="cid")
    await fire_section(api, "d1")
    trigger = await fired(api, key, "cid")
    clock.advance(seconds=3600)  # the window's last instant is inside it
    await buy(api, "d1", "o-3b")
    [order] = await orders(api, key, "cid")
    assert order["attribution"]["triggerId"] == trigger["triggerId"]


async def test_an_order_after_only_a_held_out_trigger_has_no_attribution(
        api: Api, shop: dict, clock) -> None:
    key = shop["key"]
    await update_rule(api, key, SECTION_RULE, type="SECTION_VISITED", holdoutPercent=50)
    user = next(u for u in (f"held{i}" for i in range(100))
                if held_out(SECTION_RULE, f"u:{u}", 50))
    await land(api, "d1", f"{SHOP_URL}/", user=user)
    await fire_section(api, "d1")
    trigger = await fired(api, key, user)
    assert trigger["heldOut"] is True
    clock.advance(hours=1)
    await buy(api, "d1", "o-4")
    [order] = await orders(api, key, user)
    assert order["attribution"] is None
    row = (await performance(api, key, *DAY))[SECTION_RULE]
    assert (row["triggers"], row["delivered"], row["heldOut"], row["orders"]) == (1, 0, 1, 0)
    assert (row["holdoutCustomers"], row["holdoutConversionRate"]) == (1, 1.0)


async def test_a_retried_checkout_is_attributed_once(api: Api, shop: dict, clock) -> None:
    key = shop["key"]
    await land(api, "d1", f"{SHOP_URL}/", user="dan")
    await fire_section(api, "d1")
    clock.advance(minutes=5)
    await buy(api, "d1", "o-5", event_id="checkout-1")
    await buy(api, "d1", "o-5", event_id="checkout-1")  # the same event again
    assert len(await orders(api, key, "dan")) == 1
    row = (await performance(api, key, *DAY))[SECTION_RULE]
    assert (row["orders"], row["revenue"], row["conversionRate"]) == (1, 20.0, 1.0)


async def test_an_order_known_only_from_the_shop_is_attributed_as_a_checkout_would_be(
        api: Api, shop: dict, clock) -> None:
    key = shop["key"]
    await land(api, "d1", f"{SHOP_URL}/", user="eve")
    await fire_section(api, "d1")
    trigger = await fired(api, key, "eve")
    clock.advance(hours=3)
    given = [{"orderId": "crm-1", "userId": "eve", "status": "PAID",
              "items": [{"productId": "p1", "quantity": 3, "price": 7},
                        {"productId": "p2", "quantity": 1}]}]
    assert (await api.data(UPSERT, {"o": given}, key=key))["upsertOrders"] == 1
    assert (await api.data(UPSERT, {"o": given}, key=key))["upsertOrders"] == 0  # again: no change
    [order] = await orders(api, key, "eve")
    assert (order["revenue"], order["status"]) == (21.0, "PAID")
    assert order["attribution"]["kind"] == "VIEW"
    assert order["attribution"]["triggerId"] == trigger["triggerId"]


async def test_the_shop_s_items_replace_the_cart_s_and_the_attribution_stays(
        api: Api, shop: dict, clock) -> None:
    key = shop["key"]
    await land(api, "d1", f"{SHOP_URL}/", user="fay")
    await fire_section(api, "d1")
    clock.advance(minutes=10)
    await buy(api, "d1", "o-6", price=10, quantity=1)
    [before] = await orders(api, key, "fay")
    given = [{"orderId": "o-6", "userId": "fay", "status": "PAID",
              "items": [{"productId": "p1", "quantity": 1, "price": 8.5}]}]
    assert (await api.data(UPSERT, {"o": given}, key=key))["upsertOrders"] == 1
    [after] = await orders(api, key, "fay")
    assert after["items"] == [{"productId": "p1", "quantity": 1, "price": 8.5}]
    assert (after["revenue"], after["status"]) == (8.5, "PAID")
    assert after["attribution"] == before["attribution"] and after["attribution"] is not None


@pytest.mark.parametrize("status", ["CANCELLED", "RETURNED"])
async def test_a_cancelled_or_returned_order_leaves_the_revenue_but_keeps_its_attribution(
        api: Api, shop: dict, clock, status: str) -> None:
    key = shop["key"]
    await land(api, "d1", f"{SHOP_URL}/", user="gus")
    await fire_section(api, "d1")
    clock.advance(minutes=10)
    await buy(api, "d1", "o-7", price=30, quantity=1)
    row = (await performance(api, key, *DAY))[SECTION_RULE]
    assert (row["orders"], row["revenue"]) == (1, 30.0)
    given = [{"orderId": "o-7", "userId": "gus", "status": status,
              "items": [{"productId": "p1", "quantity": 1, "price": 30}]}]
    await api.data(UPSERT, {"o": given}, key=key)
    row = (await performance(api, key, *DAY))[SECTION_RULE]
    assert (row["orders"], row["revenue"]) == (0, 0.0)
    [order] = await orders(api, key, "gus")
    assert order["status"] == status and order["attribution"]["kind"] == "VIEW"


async def test_bad_orders_are_refused_and_nothing_changes(api: Api, shop: dict) -> None:
    key = shop["key"]
    good = {"orderId": "x1", "userId": "hal", "items": [{"productId": "p1", "quantity": 1}]}
    other = {**good, "orderId": "x2"}
    for bad, field in (({**other, "orderId": ""}, "orderId"),
                       ({**other, "items": [{"productId": "p1", "quantity": 0}]}, "quantity"),
                       ({**other, "items": [{"productId": "p1", "quantity": 1, "price": -1}]},
                        "price"),
                       (good, "orderId")):
        body = await api.post(UPSERT, {"o": [good, bad]}, key=key)
        assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT", body
        assert body["errors"][0]["extensions"].get("field") == field
    body = await api.post(UPSERT, {"o": []}, key=key)
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    data = await api.data('{ customer(shopId: 1, userId: "hal") { userId } }', key=key)
    assert data["customer"] is None
