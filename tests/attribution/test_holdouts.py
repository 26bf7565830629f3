"""Holdouts per rule: held-out triggers are stored, counted, never pushed nor delivered."""

from __future__ import annotations

import contextlib

from app.platform import Platform
from app.triggers import channel, decode, held_out
from tests.attribution.helpers import SHOP_URL, fire_section, land, triggers
from tests.support.api import Api
from tests.support.rule_helpers import update_rule

RULE = "default:SECTION_VISITED"
DELIVERIES = """{ webhookDeliveries(shopId: 1, first: 100) { nodes { triggerId } } }"""


def customers(percent: int) -> tuple[str, str]:
    """One customer the rule holds out and one it does not."""
    users = [f"c{i}" for i in range(200)]
    return (next(u for u in users if held_out(RULE, f"u:{u}", percent)),
            next(u for u in users if not held_out(RULE, f"u:{u}", percent)))


async def test_holdout_percent_is_a_rule_field_from_0_to_90(api: Api, shop: dict) -> None:
    rule = await update_rule(api, shop["key"], RULE, type="SECTION_VISITED", holdoutPercent=20)
    data = await api.data("{ triggerRules(shopId: 1) { ruleId holdoutPercent } }",
                          key=shop["key"])
    assert {r["ruleId"]: r["holdoutPercent"] for r in data["triggerRules"]}[RULE] == 20
    assert rule["ruleId"] == RULE
    body = await api.post("mutation($r: TriggerRuleInput!) { updateTriggerRule(shopId: 1, "
                          f'ruleId: "{RULE}", rule: $r) {{ ruleId }} }}',
                          {"r": {"type": "SECTION_VISITED", "holdoutPercent": 91}},
                          key=shop["key"])
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"


async def test_a_held_out_trigger_is_stored_but_neither_pushed_nor_delivered(
        api: Api, shop: dict, platform: Platform) -> None:
    key = shop["key"]
    await platform.webhooks.add(1, "https://93.184.215.14/hook", None, None)
    await update_rule(api, key, RULE, type="SECTION_VISITED", holdoutPercent=50)
    held, treated = customers(50)
    async with platform.broker.subscribe(channel(1)) as live:
        for n, user in enumerate((held, treated)):
            await land(api, f"d{n}", f"{SHOP_URL}/", user=user)
            await fire_section(api, f"d{n}")
        # The held-out one fired first: had it been published, it would come first.
        pushed = [decode(await live.get(2.0))]
        await platform.outbox.sweep(older_than=0)  # and the sweeper leaves it too
        with contextlib.suppress(TimeoutError):
            pushed.append(decode(await live.get(0.3)))
    stored = {t["userId"]: t for t in await triggers(api, key) if t["type"] == "SECTION_VISITED"}
    assert stored[held]["heldOut"] is True and stored[treated]["heldOut"] is False
    assert [p["_id"] for p in pushed] == [stored[treated]["triggerId"]]
    queued = (await api.data(DELIVERIES, key=key))["webhookDeliveries"]["nodes"]
    ids = {d["triggerId"] for d in queued}
    assert stored[treated]["triggerId"] in ids and stored[held]["triggerId"] not in ids
