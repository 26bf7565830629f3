"""Trigger rules through the API: defaults, changes, bad input, limits, keys (section 7)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.platform import Platform
from tests.support.api import ADMIN_KEY, Api
from tests.support.rule_helpers import (
    CREATE,
    DELETE,
    UPDATE,
    create_rule,
    default_id,
    rules_of,
    update_rule,
)

TYPES = ["ABANDONED_CART", "ABANDONED_BROWSE", "ABANDONED_CATEGORY", "SECTION_VISITED",
         "CUSTOM_EVENT", "ORDER_COMPLETED"]
SETTINGS = """mutation($x: ShopSettingsInput!) { updateShopSettings(shopId: 1, settings: $x)
  { settings { abandonedCartDelaySeconds } } }"""


def summary(rules: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["ruleId"], r["type"], r["enabled"], r["match"], r["delaySeconds"],
             r["capSeconds"]) for r in rules]


async def test_a_new_shop_has_one_enabled_rule_of_each_type(
    api: Api, shop: dict[str, Any]
) -> None:
    rules = await rules_of(api, shop["key"])
    assert summary(rules) == [
        ("default:ABANDONED_CART", "ABANDONED_CART", True, [], 3600, 0),
        ("default:ABANDONED_BROWSE", "ABANDONED_BROWSE", True, [], 1800, 0),
        ("default:ABANDONED_CATEGORY", "ABANDONED_CATEGORY", True, [], 1800, 0),
        ("default:SECTION_VISITED", "SECTION_VISITED", True, [], None, 0),
        ("default:CUSTOM_EVENT", "CUSTOM_EVENT", True, [], None, 0),
        ("default:ORDER_COMPLETED", "ORDER_COMPLETED", True, [], None, 0),
    ]
    assert all(r["title"] and r["createdAt"] for r in rules)


async def test_a_shop_from_before_rules_gets_the_defaults_once_whoever_reads_first(
    api: Api, platform: Platform
) -> None:
    # As an upgrade finds it: a shop document, and no rules document.
    await api.admin('mutation { createShop(name: "Old", shopId: 7) { apiKey } }')
    await platform.storage.triggerRules.delete_many({})
    other = await Platform.start(platform.settings, clock=platform.clock,
                                 storage=platform.storage)
    try:
        first, second = await asyncio.gather(platform.rules.stored(7), other.rules.stored(7))
    finally:
        await other.stop()
    assert [r.rule_id for r in first] == [default_id(t) for t in TYPES]
    assert first == second
    assert await platform.storage.triggerRules.count_documents({}) == 1


async def test_create_update_and_delete_a_rule(api: Api, shop: dict[str, Any]) -> None:
    key = shop["key"]
    created = await create_rule(api, key, type="SECTION_VISITED", title="Black Friday",
                                match=["action_black_friday", " sale "], capSeconds=86400)
    assert created["ruleId"].startswith("r-")
    assert (created["enabled"], created["match"], created["delaySeconds"],
            created["capSeconds"]) == (True, ["action_black_friday", "sale"], None, 86400)
    # Fields given replace; the others stay.
    updated = await update_rule(api, key, created["ruleId"], type="SECTION_VISITED",
                                enabled=False)
    assert {**created, "enabled": False} == updated
    updated = await update_rule(api, key, created["ruleId"], type="SECTION_VISITED", match=[],
                                capSeconds=0, title="Any section")
    assert (updated["match"], updated["capSeconds"], updated["title"]) == ([], 0, "Any section")
    assert (await rules_of(api, key))[-1] == updated
    browse = await create_rule(api, key, type="ABANDONED_BROWSE", match=["shoes"])
    assert browse["delaySeconds"] == 1800  # the type's default
    data = await api.data(DELETE, {"s": 1, "id": created["ruleId"]}, key=key)
    assert data["deleteTriggerRule"] is True
    assert [r["ruleId"] for r in await rules_of(api, key)][-1] == browse["ruleId"]
    # Deleting the defaults sticks: they are not seeded again.
    for type_ in TYPES:
        await api.data(DELETE, {"s": 1, "id": default_id(type_)}, key=key)
    assert [r["ruleId"] for r in await rules_of(api, key)] == [browse["ruleId"]]


async def test_the_default_cart_rule_and_the_shop_setting_are_one_delay(
    api: Api, shop: dict[str, Any]
) -> None:
    key = shop["key"]
    cart = default_id("ABANDONED_CART")
    await api.data(SETTINGS, {"x": {"abandonedCartDelaySeconds": 120}}, key=key)
    assert (await rules_of(api, key))[0]["delaySeconds"] == 120
    updated = await update_rule(api, key, cart, type="ABANDONED_CART", delaySeconds=45)
    assert updated["delaySeconds"] == 45
    shop_data = await api.data("{ shop(shopId: 1) { settings { abandonedCartDelaySeconds } } }",
                               key=key)
    assert shop_data["shop"]["settings"]["abandonedCartDelaySeconds"] == 45
    # Another cart rule keeps its own delay, taken from the shop when it was created.
    mine = await create_rule(api, key, type="ABANDONED_CART")
    await api.data(SETTINGS, {"x": {"abandonedCartDelaySeconds": 600}}, key=key)
    rules = {r["ruleId"]: r["delaySeconds"] for r in await rules_of(api, key)}
    assert (rules[cart], rules[mine["ruleId"]]) == (600, 45)


BAD_RULES = [
    ({"type": "SECTION_VISITED", "delaySeconds": 60}, "delaySeconds"),
    ({"type": "ORDER_COMPLETED", "delaySeconds": 1}, "delaySeconds"),
    ({"type": "ABANDONED_CART", "match": ["x"]}, "match"),
    ({"type": "ORDER_COMPLETED", "match": ["o1"]}, "match"),
    ({"type": "ABANDONED_BROWSE", "delaySeconds": 0}, "delaySeconds"),
    ({"type": "ABANDONED_BROWSE", "delaySeconds": -5}, "delaySeconds"),
    ({"type": "ABANDONED_BROWSE", "delaySeconds": 2**31 - 1}, "delaySeconds"),
    ({"type": "SECTION_VISITED", "capSeconds": -1}, "capSeconds"),
    ({"type": "SECTION_VISITED", "capSeconds": 2**31 - 1}, "capSeconds"),
    ({"type": "CUSTOM_EVENT", "match": [f"e{n}" for n in range(101)]}, "match"),
    ({"type": "CUSTOM_EVENT", "match": [""]}, "match"),
    ({"type": "CUSTOM_EVENT", "match": ["x" * 129]}, "match"),
    ({"type": "CUSTOM_EVENT", "match": ["a\nb"]}, "match"),
    ({"type": "CUSTOM_EVENT", "title": "t" * 201}, "title"),
    ({"type": "AUDIENCE_ENTERED"}, "type"),
]


@pytest.mark.parametrize(("rule", "field"), BAD_RULES, ids=[f for _, f in BAD_RULES])
async def test_bad_input_is_refused_and_changes_nothing(
    api: Api, shop: dict[str, Any], rule: dict[str, Any], field: str
) -> None:
    key = shop["key"]
    before = await rules_of(api, key)
    error = await api.error(CREATE, {"s": 1, "r": rule}, key=key)
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_INPUT", field)
    target = default_id(rule["type"]) if rule["type"] in TYPES else default_id("CUSTOM_EVENT")
    error = await api.error(UPDATE, {"s": 1, "id": target, "r": rule}, key=key)
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert await rules_of(api, key) == before


async def test_a_rule_cannot_change_type_and_unknown_ids_are_not_found(
    api: Api, shop: dict[str, Any]
) -> None:
    key = shop["key"]
    before = await rules_of(api, key)
    error = await api.error(UPDATE, {"s": 1, "id": default_id("SECTION_VISITED"),
                                     "r": {"type": "CUSTOM_EVENT"}}, key=key)
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_INPUT", "type")
    for query, variables in (
        (UPDATE, {"s": 1, "id": "r-nope", "r": {"type": "CUSTOM_EVENT", "enabled": False}}),
        (DELETE, {"s": 1, "id": "r-nope"}),
        (DELETE, {"s": 1, "id": "x" * 10_000}),
    ):
        error = await api.error(query, variables, key=key)
        assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.error(CREATE, {"s": 99, "r": {"type": "CUSTOM_EVENT"}}, key=ADMIN_KEY)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await rules_of(api, key) == before


async def test_at_most_100_rules_per_shop(api: Api, shop: dict[str, Any]) -> None:
    key = shop["key"]
    for n in range(94):  # with the six defaults: 100
        await create_rule(api, key, type="CUSTOM_EVENT", match=[f"e{n}"])
    error = await api.error(CREATE, {"s": 1, "r": {"type": "CUSTOM_EVENT"}}, key=key)
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert len(await rules_of(api, key)) == 100
    await api.data(DELETE, {"s": 1, "id": default_id("CUSTOM_EVENT")}, key=key)
    await create_rule(api, key, type="CUSTOM_EVENT", match=["last"])
    assert len(await rules_of(api, key)) == 100


async def test_rules_are_the_shops_own(api: Api, shop: dict[str, Any]) -> None:
    other = await api.admin('mutation { createShop(name: "B", shopId: 2) { apiKey } }')
    their_key = other["createShop"]["apiKey"]
    for query, variables in (
        ("query($s: Int!) { triggerRules(shopId: $s) { ruleId } }", {"s": 1}),
        (CREATE, {"s": 1, "r": {"type": "CUSTOM_EVENT"}}),
        (UPDATE, {"s": 1, "id": default_id("CUSTOM_EVENT"), "r": {"type": "CUSTOM_EVENT"}}),
        (DELETE, {"s": 1, "id": default_id("CUSTOM_EVENT")}),
    ):
        error = await api.error(query, variables, key=their_key)
        assert error["extensions"]["code"] == "FORBIDDEN"
        error = await api.error(query, variables)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert len(await rules_of(api, ADMIN_KEY)) == 6
    assert len(await rules_of(api, their_key, shop_id=2)) == 6
