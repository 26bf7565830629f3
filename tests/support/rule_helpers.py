"""What the trigger-rule tests do through the public API: rules, events, triggers read back."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api

RULE_FIELDS = "ruleId type title enabled match delaySeconds capSeconds createdAt"
RULES = f"query($s: Int!) {{ triggerRules(shopId: $s) {{ {RULE_FIELDS} }} }}"
CREATE = f"""mutation($s: Int!, $r: TriggerRuleInput!) {{
  createTriggerRule(shopId: $s, rule: $r) {{ {RULE_FIELDS} }} }}"""
UPDATE = f"""mutation($s: Int!, $id: ID!, $r: TriggerRuleInput!) {{
  updateTriggerRule(shopId: $s, ruleId: $id, rule: $r) {{ {RULE_FIELDS} }} }}"""
DELETE = "mutation($s: Int!, $id: ID!) { deleteTriggerRule(shopId: $s, ruleId: $id) }"
TRIGGERS = """query($types: [TriggerType!]) {
  triggers(shopId: 1, types: $types, first: 500) {
    nodes { triggerId type ruleId userId visitorId name categoryId
            products { productId categoryId score views cartAdds purchases }
            cart { status items { productId } } }
  }
}"""


def default_id(type_: str) -> str:
    return f"default:{type_}"


async def rules_of(api: Api, key: str, shop_id: int = 1) -> list[dict[str, Any]]:
    return (await api.data(RULES, {"s": shop_id}, key=key))["triggerRules"]


async def create_rule(api: Api, key: str, shop_id: int = 1, **rule: Any) -> dict[str, Any]:
    return (await api.data(CREATE, {"s": shop_id, "r": rule}, key=key))["createTriggerRule"]


async def update_rule(api: Api, key: str, rule_id: str, shop_id: int = 1,
                      **rule: Any) -> dict[str, Any]:
    data = await api.data(UPDATE, {"s": shop_id, "id": rule_id, "r": rule}, key=key)
    return data["updateTriggerRule"]


async def set_delay(api: Api, key: str, type_: str, seconds: int) -> None:
    await update_rule(api, key, default_id(type_), type=type_, delaySeconds=seconds)


async def track(api: Api, type_: str, visitor: str = "v1", **fields: Any) -> dict[str, Any]:
    """One event through the public batch mutation, as the tracker sends it."""
    context: dict[str, Any] = {"shopId": 1, "visitorId": visitor}
    for name in ("eventId", "occurredAt"):
        if name in fields:
            context[name] = fields.pop(name)
    data = await api.data(
        "mutation($e: [TrackInput!]!) { track(events: $e) { eventId duplicate sessionId "
        "userId } }", {"e": [{"type": type_, "context": context, **fields}]})
    return data["track"][0]


async def view(api: Api, visitor: str, product: str, category: str = "shoes") -> dict[str, Any]:
    return await track(api, "PRODUCT_VIEW", visitor, categoryId=category, productId=product)


async def view_category(api: Api, visitor: str, category: str) -> dict[str, Any]:
    return await track(api, "CATEGORY_VIEW", visitor, categoryId=category)


async def login(api: Api, visitor: str, user: str) -> dict[str, Any]:
    return await track(api, "LOGIN", visitor, userId=user)


async def listed(api: Api, key: str, *types: str) -> list[dict[str, Any]]:
    """The shop's triggers, oldest first."""
    data = await api.data(TRIGGERS, {"types": list(types) or None}, key=key)
    return data["triggers"]["nodes"][::-1]
