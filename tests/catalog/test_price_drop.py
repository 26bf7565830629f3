"""PRICE_DROPPED: one trigger per interested customer, and nothing where nothing is due."""

from __future__ import annotations

import pytest

from app.catalog import tick
from tests.catalog.helpers import customer, event, fired, rule, upsert, viewed

SHOE = {"productId": "sku-42", "name": "Nike Pegasus 41", "categoryId": "shoes",
        "url": "https://shop.example/p/42", "imageUrl": "https://shop.example/i/42.jpg",
        "currency": "RUB"}


async def priced(api, shop, price: float) -> None:
    await upsert(api, shop["key"], {**SHOE, "price": price})


async def test_a_drop_fires_one_trigger_per_interested_customer(api, shop, platform):
    made = await rule(api, shop["key"], type="PRICE_DROPPED")
    assert (made["minDropPercent"], made["lookbackDays"]) == (5.0, 30)
    await priced(api, shop, 10000)
    for user in ("u1", "u2"):
        await viewed(api, user, "sku-42")
    visitor = await customer(api, "u3")
    await event(api, "CART_ADD", visitor, productId="sku-42", categoryId="shoes")
    await viewed(api, "u4", "other-product")
    await priced(api, shop, 8500)
    # The upsert answered before any trigger was stored.
    assert await fired(api, shop["key"], "PRICE_DROPPED") == []
    await tick(platform)
    triggers = await fired(api, shop["key"], "PRICE_DROPPED")
    assert sorted(t["userId"] for t in triggers) == ["u1", "u2", "u3"]
    for trigger in triggers:
        assert trigger["ruleId"] == made["ruleId"]
        assert trigger["properties"] == {"oldPrice": 10000, "newPrice": 8500, "dropPercent": 15}
        [item] = trigger["products"]
        assert item["product"]["name"] == "Nike Pegasus 41"
        assert item["product"]["price"] == 8500
        assert item["product"]["imageUrl"] == "https://shop.example/i/42.jpg"
    await tick(platform)
    # A second walk stores nothing more.
    assert len(await fired(api, shop["key"], "PRICE_DROPPED")) == 3


@pytest.mark.parametrize("prices", [
    [10000, 9600],  # 4 %, under the rule's 5 %
    [10000, 11000],  # a rise
    [10000, 10000],  # the same price
])
async def test_what_is_not_a_drop_enough_fires_nothing(api, shop, platform, prices):
    await rule(api, shop["key"], type="PRICE_DROPPED", minDropPercent=5)
    await priced(api, shop, prices[0])
    await viewed(api, "u1", "sku-42")
    await priced(api, shop, prices[1])
    await tick(platform)
    assert await fired(api, shop["key"], "PRICE_DROPPED") == []


async def test_a_drop_of_exactly_the_rules_minimum_fires(api, shop, platform):
    await rule(api, shop["key"], type="PRICE_DROPPED", minDropPercent=5)
    await priced(api, shop, 10000)
    await viewed(api, "u1", "sku-42")
    await priced(api, shop, 9500)  # 5 %: the least drop that fires
    await tick(platform)
    [trigger] = await fired(api, shop["key"], "PRICE_DROPPED")
    assert trigger["properties"]["dropPercent"] == 5


async def test_a_first_price_fires_nothing(api, shop, platform):
    await rule(api, shop["key"], type="PRICE_DROPPED")
    await upsert(api, shop["key"], {"productId": "sku-42", "name": "Nike"})
    await viewed(api, "u1", "sku-42")
    await priced(api, shop, 100)
    await tick(platform)
    assert await fired(api, shop["key"], "PRICE_DROPPED") == []


async def test_a_customer_who_bought_it_since_gets_nothing(api, shop, platform):
    await rule(api, shop["key"], type="PRICE_DROPPED")
    await priced(api, shop, 10000)
    visitor = await viewed(api, "buyer", "sku-42")
    await event(api, "CART_ADD", visitor, productId="sku-42", categoryId="shoes", price=10000)
    await event(api, "CHECKOUT", visitor, orderId="o-1")
    await viewed(api, "looker", "sku-42")
    await priced(api, shop, 8000)
    await tick(platform)
    assert [t["userId"] for t in await fired(api, shop["key"], "PRICE_DROPPED")] == ["looker"]


async def test_a_second_drop_inside_the_cap_fires_nothing(api, shop, platform, clock):
    await rule(api, shop["key"], type="PRICE_DROPPED", capSeconds=86400)
    await priced(api, shop, 10000)
    await viewed(api, "u1", "sku-42")
    await priced(api, shop, 9000)
    await tick(platform)
    clock.advance(hours=1)
    await priced(api, shop, 8000)
    await tick(platform)
    assert len(await fired(api, shop["key"], "PRICE_DROPPED")) == 1
    clock.advance(days=2)
    await priced(api, shop, 7000)
    await tick(platform)
    assert len(await fired(api, shop["key"], "PRICE_DROPPED")) == 2  # the cap ran out


async def test_a_view_older_than_the_lookback_and_another_category_fire_nothing(
        api, shop, platform, clock):
    await rule(api, shop["key"], type="PRICE_DROPPED", lookbackDays=7)
    await rule(api, shop["key"], type="PRICE_DROPPED", match=["jackets"])
    await priced(api, shop, 10000)
    await viewed(api, "old", "sku-42")
    clock.advance(days=8)
    await viewed(api, "new", "sku-42")
    await priced(api, shop, 5000)
    await tick(platform)
    assert [t["userId"] for t in await fired(api, shop["key"], "PRICE_DROPPED")] == ["new"]


async def test_no_rule_no_trigger_and_the_rule_is_not_a_default(api, shop, platform):
    rules = await api.data("query { triggerRules(shopId: 1) { type } }", key=shop["key"])
    assert {"PRICE_DROPPED", "BACK_IN_STOCK"}.isdisjoint(r["type"] for r in
                                                          rules["triggerRules"])
    await priced(api, shop, 10000)
    await viewed(api, "u1", "sku-42")
    await priced(api, shop, 1000)
    await tick(platform)
    assert await fired(api, shop["key"], "PRICE_DROPPED") == []


@pytest.mark.parametrize("fields, field", [
    ({"type": "PRICE_DROPPED", "minDropPercent": 0}, "minDropPercent"),
    ({"type": "PRICE_DROPPED", "minDropPercent": 100}, "minDropPercent"),
    ({"type": "PRICE_DROPPED", "lookbackDays": 366}, "lookbackDays"),
    ({"type": "BACK_IN_STOCK", "minDropPercent": 5}, "minDropPercent"),
    ({"type": "CUSTOM_EVENT", "lookbackDays": 5}, "lookbackDays"),
])
async def test_catalog_rule_fields_are_checked(api, shop, fields, field):
    error = await api.error("mutation($r: TriggerRuleInput!) { createTriggerRule(shopId: 1, "
                            "rule: $r) { ruleId } }", {"r": fields}, shop["key"])
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == field


async def test_a_rules_holdout_keeps_its_share_of_customers_out(api, shop, platform):
    await rule(api, shop["key"], type="PRICE_DROPPED", holdoutPercent=50)
    await priced(api, shop, 10000)
    for n in range(20):
        await viewed(api, f"u{n}", "sku-42")
    await priced(api, shop, 5000)
    await tick(platform)
    stored = await platform.storage.triggers.find({"type": "PRICE_DROPPED"}).to_list(None)
    held = [d for d in stored if d.get("heldOut")]
    assert len(stored) == 20 and 0 < len(held) < 20  # each stored once, some held out
