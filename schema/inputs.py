"""GraphQL input types, and their translation into the domain's event inputs."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.events import Context, EventInput
from schema.types import EventType


@strawberry.input
class TrackContext:
    shop_id: int
    visitor_id: str
    source_id: str | None = None
    event_id: str | None = None
    occurred_at: datetime | None = None
    url: str | None = None
    referrer: str | None = None
    identity_token: str | None = None
    sent_at: datetime | None = strawberry.field(
        default=None, description="The client's clock when it sent this; corrects clock skew."
    )

    def to_domain(self) -> Context:
        return Context(
            shop_id=self.shop_id, visitor_id=self.visitor_id, source_id=self.source_id,
            event_id=self.event_id, occurred_at=self.occurred_at, sent_at=self.sent_at,
            url=self.url, referrer=self.referrer, identity_token=self.identity_token,
        )


@strawberry.input
class TrackInput:
    type: EventType
    context: TrackContext
    category_id: str | None = None
    product_id: str | None = None
    page_name: str | None = None
    user_id: str | None = None
    user_hash: str | None = None
    quantity: int | None = None
    price: float | None = None
    order_id: str | None = None
    event_name: str | None = None
    properties: JSON | None = None

    def to_domain(self) -> EventInput:
        return EventInput(
            type=self.type, context=self.context.to_domain(), category_id=self.category_id,
            product_id=self.product_id, page_name=self.page_name, user_id=self.user_id,
            user_hash=self.user_hash, quantity=self.quantity, price=self.price,
            order_id=self.order_id, event_name=self.event_name, properties=self.properties,
        )


@strawberry.input
class ShopSettingsInput:
    session_timeout_seconds: int | None = None
    abandoned_cart_delay_seconds: int | None = None
    anonymous_history_days: int | None = None
    allowed_origins: list[str] | None = None
    require_signed_identify: bool | None = None
    interest_weights: JSON | None = strawberry.field(
        default=None,
        description="Interest weights by name (categoryView, productViewProduct, "
        "productViewCategory, cartAddProduct, cartAddCategory, purchaseProduct, "
        "purchaseCategory).",
    )

    def to_changes(self) -> dict[str, object]:
        return {
            "sessionTimeoutSeconds": self.session_timeout_seconds,
            "abandonedCartDelaySeconds": self.abandoned_cart_delay_seconds,
            "anonymousHistoryDays": self.anonymous_history_days,
            "allowedOrigins": self.allowed_origins,
            "requireSignedIdentify": self.require_signed_identify,
            "interestWeights": self.interest_weights,
        }
