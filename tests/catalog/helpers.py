"""What the catalog trigger tests do through the public API."""

from __future__ import annotations

import json
from typing import Any

from tests.support.api import Api

RULE = """mutation($r: TriggerRuleInput!) { createTriggerRule(shopId: 1, rule: $r) {
  ruleId type minDropPercent lookbackDays capSeconds match } }"""
UPSERT = """mutation($p: [ProductInput!]!) { upsertProducts(shopId: 1, products: $p) {
  received created updated unchanged rejected } }"""
TRIGGERS = """query($types: [TriggerType!]) { triggers(shopId: 1, types: $types, first: 500) {
  nodes { triggerId type ruleId userId properties
          products { productId product { productId name price oldPrice imageUrl url
                                         currency available } } } } }"""


async def rule(api: Api, key: str, **fields: Any) -> dict[str, Any]:
    return (await api.data(RULE, {"r": fields}, key))["createTriggerRule"]


async def upsert(api: Api, key: str, *products: dict[str, Any]) -> dict[str, Any]:
    return (await api.data(UPSERT, {"p": list(products)}, key))["upsertProducts"]


async def event(api: Api, type_: str, visitor: str, **fields: Any) -> None:
    await api.data("mutation($e: [TrackInput!]!) { track(events: $e) { eventId } }",
                   {"e": [{"type": type_, "context": {"shopId": 1, "visitorId": visitor},
                           **fields}]})


async def customer(api: Api, user: str) -> str:
    """A visitor identified as `user`; returns the visitor id."""
    visitor = f"v-{user}"
    await event(api, "LOGIN", visitor, userId=user)
    return visitor


async def viewed(api: Api, user: str, product: str, category: str = "shoes") -> str:
    visitor = await customer(api, user)
    await event(api, "PRODUCT_VIEW", visitor, productId=product, categoryId=category)
    return visitor


async def fired(api: Api, key: str, *types: str) -> list[dict[str, Any]]:
    data = await api.data(TRIGGERS, {"types": list(types) or None}, key)
    nodes = data["triggers"]["nodes"][::-1]
    for node in nodes:
        if isinstance(node["properties"], str):
            node["properties"] = json.loads(node["properties"])
    return nodes
