"""GraphQL types of section 12: channels, touches, order attribution, rule performance."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from importlib import import_module
from typing import Annotated, Any

import strawberry

from app.attribution import CHANNELS
from app.core import utc


def _trigger_type(value: str) -> Any:
    """schema.triggers' TriggerType (it imports schema.types, which imports this)."""
    return import_module("schema.triggers").TriggerType(value)

Channel = strawberry.enum(Enum("Channel", {c: c for c in CHANNELS}))


@strawberry.enum
class AttributionKind(Enum):
    CLICK = "CLICK"
    VIEW = "VIEW"


@strawberry.enum
class OrderStatus(Enum):
    PLACED = "PLACED"
    PAID = "PAID"
    CANCELLED = "CANCELLED"
    RETURNED = "RETURNED"


@strawberry.type
class Utm:
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None

    @classmethod
    def of(cls, d: dict[str, Any] | None) -> Utm | None:
        return cls(**{k: d.get(k) for k in ("source", "medium", "campaign", "term", "content")}) \
            if d else None


@strawberry.type
class Touch:
    channel: Channel
    utm: Utm | None
    referrer_host: str | None
    trigger_id: strawberry.ID | None
    session_id: strawberry.ID
    at: datetime

    @classmethod
    def of(cls, d: dict[str, Any] | None) -> Touch | None:
        if not d:
            return None
        return cls(channel=Channel(d["channel"]), utm=Utm.of(d.get("utm")),
                   referrer_host=d.get("referrerHost"), trigger_id=d.get("triggerId"),
                   session_id=strawberry.ID(d["sessionId"]), at=utc(d["at"]))


@strawberry.type
class Attribution:
    trigger_id: strawberry.ID
    rule_id: strawberry.ID | None
    # Lazy: schema.triggers imports schema.types, which imports this module.
    type: Annotated["TriggerType", strawberry.lazy("schema.triggers")]  # noqa: F821, UP037
    kind: AttributionKind

    @classmethod
    def of(cls, d: dict[str, Any] | None) -> Attribution | None:
        if not d:
            return None
        return cls(trigger_id=strawberry.ID(d["triggerId"]), rule_id=d.get("ruleId"),
                   type=_trigger_type(d["type"]), kind=AttributionKind(d["kind"]))


@strawberry.type
class RulePerformance:
    rule_id: strawberry.ID
    # Lazy: schema.triggers imports schema.types, which imports this module.
    type: Annotated["TriggerType", strawberry.lazy("schema.triggers")]  # noqa: F821, UP037
    title: str | None
    triggers: int
    delivered: int
    held_out: int
    clicks: int = strawberry.field(description="Sessions opened through these triggers' links.")
    orders: int = strawberry.field(
        description="Orders attributed to these triggers (CLICK or VIEW), cancelled and "
        "returned ones aside.")
    revenue: float
    conversion_rate: float = strawberry.field(
        description="Customers with a delivered trigger who ordered within the window.")
    holdout_conversion_rate: float | None = strawberry.field(
        description="The same for held-out customers; null without a holdout.")
    lift: float | None = strawberry.field(
        description="conversionRate / holdoutConversionRate - 1; null when undefined.")
    lift_low: float | None = strawberry.field(
        default=None, description="Lower end of lift's 95% interval; null without enough data.")
    lift_high: float | None = strawberry.field(
        default=None, description="Upper end of lift's 95% interval; null without enough data.")
    customers: int = strawberry.field(default=0, description="Customers with a delivered trigger.")
    holdout_customers: int = strawberry.field(default=0,
                                              description="Customers held out.")


@strawberry.type
class ChannelStat:
    channel: Channel
    sessions: int
    visitors: int
    orders: int
    revenue: float


@strawberry.input
class OrderItemInput:
    product_id: str
    quantity: int
    price: float | None = None


@strawberry.input
class OrderInput:
    order_id: str
    user_id: str
    items: list[OrderItemInput]
    status: OrderStatus | None = OrderStatus.PLACED
    placed_at: datetime | None = None
