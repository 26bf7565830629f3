"""Trigger rules: list, create, change, delete (shop key or admin key)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from schema.rules import TriggerRule, TriggerRuleInput


async def trigger_rules(info: Info, shop_id: int) -> list[TriggerRule]:
    await info.context.authorize(shop_id)
    ruleset = await info.context.platform.rules.listed(shop_id)
    return [TriggerRule.of(rule, ruleset) for rule in ruleset.rules]


async def create_trigger_rule(info: Info, shop_id: int, rule: TriggerRuleInput) -> TriggerRule:
    await info.context.authorize(shop_id)
    created, ruleset = await info.context.platform.rules.create(shop_id, rule.given())
    return TriggerRule.of(created, ruleset)


async def update_trigger_rule(
    info: Info, shop_id: int, rule_id: strawberry.ID, rule: TriggerRuleInput
) -> TriggerRule:
    await info.context.authorize(shop_id)
    updated, ruleset = await info.context.platform.rules.update(shop_id, str(rule_id),
                                                                rule.given())
    return TriggerRule.of(updated, ruleset)


async def delete_trigger_rule(info: Info, shop_id: int, rule_id: strawberry.ID) -> bool:
    await info.context.authorize(shop_id)
    return await info.context.platform.rules.delete(shop_id, str(rule_id))
