"""GraphQL output types; each maps a stored document to the contract's fields."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app.analytics import reading
from app.attribution import edge_touch
from app.core import EventType, utc
from app.shops import Shop as DomainShop
from schema.attribution import Attribution, OrderStatus, Touch

EventType = strawberry.enum(EventType)


@strawberry.enum
class CartStatus(Enum):
    EMPTY = "EMPTY"
    ACTIVE = "ACTIVE"
    ABANDONED = "ABANDONED"
    ORDERED = "ORDERED"


def _time(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def json_value(value: str | None) -> Any:
    """A JSON value as stored (text), for a JSON field."""
    return json.loads(value) if value else None


@strawberry.type
class TrackResult:
    event_id: strawberry.ID
    duplicate: bool
    session_id: strawberry.ID
    new_session: bool
    user_id: str | None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class EventSource:
    source_id: str
    name: str
    domain: str | None
    active: bool


@strawberry.type
class ShopSettings:
    session_timeout_seconds: int
    abandoned_cart_delay_seconds: int
    anonymous_history_days: int
    allowed_origins: list[str]
    require_signed_identify: bool
    interest_weights: JSON
    interest_half_life_seconds: int
    attribution_window_seconds: int = strawberry.field(
        default=604_800, description="How far back an order's attribution looks (seconds).")


@strawberry.type
class Shop:
    shop_id: int
    name: str
    default_source_id: str
    sources: list[EventSource]
    settings: ShopSettings
    identify_secret: str

    @classmethod
    def of(cls, shop: DomainShop) -> Shop:
        return cls(
            shop_id=shop.shop_id,
            name=shop.name,
            default_source_id=shop.default_source_id,
            sources=[EventSource(source_id=x.source_id, name=x.name, domain=x.domain,
                                 active=x.active) for x in shop.sources],
            settings=ShopSettings(**dataclasses.asdict(shop.settings)),
            identify_secret=shop.identify_secret,
        )


@strawberry.type
class ShopCreated:
    shop: Shop
    api_key: str


@strawberry.type
class CartItem:
    product_id: str
    category_id: str | None
    quantity: int
    price: float | None
    added_at: datetime

    @classmethod
    def of(cls, d: dict[str, Any]) -> CartItem:
        return cls(product_id=d["productId"], category_id=d.get("categoryId"),
                   quantity=d["quantity"], price=d.get("price"), added_at=utc(d["addedAt"]))


@strawberry.type
class Cart:
    items: list[CartItem]
    status: CartStatus
    updated_at: datetime | None

    @classmethod
    def of(cls, doc: dict[str, Any] | None) -> Cart:
        view = reading.cart_view(doc)
        return cls(items=[CartItem.of(i) for i in view["items"]],
                   status=CartStatus(view["status"]), updated_at=_time(view["updatedAt"]))

    @classmethod
    def of_view(cls, view: dict[str, Any]) -> Cart:
        return cls(items=[CartItem.of(i) for i in view.get("items", [])],
                   status=CartStatus(view.get("status", "ACTIVE")),
                   updated_at=_time(view.get("updatedAt")))


@strawberry.type
class Order:
    order_id: str
    items: list[CartItem]
    completed_at: datetime
    revenue: float = strawberry.field(
        default=0.0, description="The sum of price x quantity of its items (no price: 0).")
    status: OrderStatus = OrderStatus.PLACED
    attribution: Attribution | None = strawberry.field(
        default=None, description="The trigger it is attributed to, decided once when stored.")

    @classmethod
    def of(cls, d: dict[str, Any]) -> Order:
        items = d.get("items", [])
        revenue = d.get("revenue")
        if revenue is None:  # orders stored before revenue was
            revenue = sum((i.get("price") or 0) * i.get("quantity", 1) for i in items)
        return cls(order_id=d["orderId"], items=[CartItem.of(i) for i in items],
                   completed_at=utc(d["completedAt"]), revenue=float(revenue),
                   status=OrderStatus(d.get("status") or "PLACED"),
                   attribution=Attribution.of(d.get("attribution")))


@strawberry.type
class CategoryInterest:
    category_id: str
    score: float
    views: int
    product_views: int
    cart_adds: int
    purchases: int
    last_interaction_at: datetime


@strawberry.type
class ProductInterest:
    product_id: str
    category_id: str | None
    score: float
    views: int
    cart_adds: int
    purchases: int
    last_interaction_at: datetime

    @classmethod
    def of_trigger(cls, d: dict[str, Any]) -> ProductInterest:
        """A product as a trigger carries it (contract names, as at the moment it fired)."""
        return cls(product_id=d["productId"], category_id=d.get("categoryId"),
                   score=d["score"], views=d.get("views", 0), cart_adds=d.get("cartAdds", 0),
                   purchases=d.get("purchases", 0),
                   last_interaction_at=utc(d["lastInteractionAt"]))


@strawberry.type
class InterestMap:
    categories: list[CategoryInterest]
    products: list[ProductInterest]

    @classmethod
    def of(cls, data: dict[str, list[dict[str, Any]]]) -> InterestMap:
        return cls(
            categories=[CategoryInterest(
                category_id=d["itemId"], score=d["score"], views=d.get("views", 0),
                product_views=d.get("productViews", 0), cart_adds=d.get("cartAdds", 0),
                purchases=d.get("purchases", 0),
                last_interaction_at=utc(d["lastInteractionAt"])) for d in data["categories"]],
            products=[ProductInterest(
                product_id=d["itemId"], category_id=d.get("categoryId"), score=d["score"],
                views=d.get("views", 0), cart_adds=d.get("cartAdds", 0),
                purchases=d.get("purchases", 0),
                last_interaction_at=utc(d["lastInteractionAt"])) for d in data["products"]],
        )


@strawberry.type
class Customer:
    user_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    visitor_ids: list[str]
    shop_id: strawberry.Private[int]

    @classmethod
    def of(cls, d: dict[str, Any]) -> Customer:
        return cls(user_id=d["userId"], first_seen_at=utc(d["firstSeenAt"]),
                   last_seen_at=utc(d["lastSeenAt"]), visitor_ids=d.get("visitorIds", []),
                   shop_id=d["shopId"])

    @strawberry.field
    async def cart(self, info: Info) -> Cart | None:
        doc = await reading.cart(info.context.platform, self.shop_id, user_id=self.user_id)
        return Cart.of(doc) if doc else None

    @strawberry.field
    async def interest_map(self, info: Info, limit: int | None = 20) -> InterestMap:
        return InterestMap.of(await reading.interest_map(
            info.context.platform, self.shop_id, self.user_id, 20 if limit is None else limit))

    @strawberry.field(description="The customer's first session, where it came from.")
    async def first_touch(self, info: Info) -> Touch | None:
        return Touch.of(await edge_touch(info.context.platform.storage, self.shop_id,
                                                 self.user_id, first=True))

    @strawberry.field(description="The customer's latest session, where it came from.")
    async def last_touch(self, info: Info) -> Touch | None:
        return Touch.of(await edge_touch(info.context.platform.storage, self.shop_id,
                                                 self.user_id, first=False))

    @strawberry.field
    async def orders(self, info: Info) -> list[Order]:
        return [Order.of(d) for d in await reading.orders(info.context.platform, self.shop_id,
                                                          self.user_id)]


@strawberry.type
class Visitor:
    visitor_id: str
    user_id: str | None
    first_seen_at: datetime
    last_seen_at: datetime

    @classmethod
    def of(cls, d: dict[str, Any]) -> Visitor:
        return cls(visitor_id=d["visitorId"], user_id=d.get("userId"),
                   first_seen_at=utc(d["firstSeenAt"]), last_seen_at=utc(d["lastSeenAt"]))


@strawberry.type
class Event:
    event_id: strawberry.ID
    type: EventType
    visitor_id: str
    user_id: str | None
    session_id: strawberry.ID
    source_id: str
    occurred_at: datetime
    received_at: datetime
    category_id: str | None
    product_id: str | None
    page_name: str | None
    order_id: str | None
    event_name: str | None
    quantity: int | None
    price: float | None
    properties: JSON | None
    url: str | None

    @classmethod
    def of(cls, d: dict[str, Any]) -> Event:
        return cls(
            event_id=d["eventId"], type=EventType(d["type"]), visitor_id=d["visitorId"],
            user_id=d.get("userId"), session_id=d["sessionId"], source_id=d["sourceId"],
            occurred_at=utc(d["occurredAt"]), received_at=utc(d["receivedAt"]),
            category_id=d.get("categoryId"), product_id=d.get("productId"),
            page_name=d.get("pageName"), order_id=d.get("orderId"),
            event_name=d.get("eventName"), quantity=d.get("quantity"), price=d.get("price"),
            properties=json_value(d.get("properties")), url=d.get("url"),
        )


@strawberry.type
class CustomerConnection:
    nodes: list[Customer]
    page_info: PageInfo


@strawberry.type
class EventConnection:
    nodes: list[Event]
    page_info: PageInfo
