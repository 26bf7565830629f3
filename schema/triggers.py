"""GraphQL types of triggers: the trigger as subscribed, paged and delivered."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app import triggers
from app.attribution import link as trigger_link
from app.core import utc
from schema.types import Cart, PageInfo, ProductInterest, json_value

TriggerType = strawberry.enum(Enum("TriggerType", {t: t for t in triggers.TYPES}))


@strawberry.type
class Trigger:
    trigger_id: strawberry.ID
    type: TriggerType
    shop_id: int
    user_id: str | None
    visitor_id: str
    name: str | None
    fired_at: datetime
    cart: Cart | None
    properties: JSON | None
    rule_id: strawberry.ID | None = strawberry.field(description="The rule that fired it.")
    products: list[ProductInterest] | None = strawberry.field(
        description="ABANDONED_BROWSE: the products viewed, by the customer's interest score.")
    category_id: str | None = strawberry.field(
        description="ABANDONED_BROWSE / ABANDONED_CATEGORY: the category viewed most.")
    audience_id: strawberry.ID | None = None
    score: float | None = None
    held_out: bool = strawberry.field(
        default=False, description="In its rule's holdout: stored, neither pushed nor delivered.")
    link: str | None = strawberry.field(
        default=None, description='"smc_tid=<triggerId>", to append to the shop\'s links.')

    @classmethod
    def of(cls, d: dict[str, Any]) -> Trigger:
        return cls(
            trigger_id=d["_id"], type=TriggerType(d["type"]), shop_id=d["shopId"],
            user_id=d.get("userId"), visitor_id=d["visitorId"], name=d.get("name"),
            fired_at=utc(d["firedAt"]), cart=Cart.of_view(d["cart"]) if d.get("cart") else None,
            properties=json_value(d.get("properties")), rule_id=d.get("ruleId"),
            products=None if d.get("products") is None else [
                ProductInterest.of_trigger(p) for p in d["products"]],
            category_id=d.get("categoryId"), audience_id=d.get("audienceId"),
            score=d.get("score"), held_out=bool(d.get("heldOut")),
            link=trigger_link(d["_id"]),
        )


@strawberry.type
class TriggerConnection:
    nodes: list[Trigger]
    page_info: PageInfo
