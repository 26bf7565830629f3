"""The Schema: Query, Mutation and Subscription, wired to the resolvers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.scalars import JSON
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, Info
from strawberry.types import ExecutionResult as StrawberryExecutionResult
from strawberry.types.graphql import OperationType

from app.errors import TrackerError
from app.events import EventInput
from app.events import EventType as Kind
from app.settings import Settings
from resolvers import admin, analytics, reading, subscriptions, tracking
from schema import types
from schema.analytics import CategoryStat, Funnel, ProductStat, Stats, StatsInterval
from schema.inputs import ShopSettingsInput, TrackContext, TrackInput

log = logging.getLogger("tracker.graphql")
T = TypeVar("T")
# `from` is a Python keyword: the argument keeps its contract name in the schema.
From = Annotated[datetime, strawberry.argument(name="from")]
To = Annotated[datetime, strawberry.argument(name="to")]


def _or(value: T | None, default: T) -> T:
    """An optional argument sent as null means its default."""
    return default if value is None else value


def _event(kind: Kind, context: TrackContext, **fields: object) -> EventInput:
    return EventInput(type=kind, context=context.to_domain(), **fields)  # type: ignore[arg-type]


@strawberry.type
class Query:
    @strawberry.field
    async def shop(self, info: Info, shop_id: int) -> types.Shop | None:
        return await reading.shop(info, shop_id)

    @strawberry.field
    async def customer(self, info: Info, shop_id: int, user_id: str) -> types.Customer | None:
        return await reading.customer(info, shop_id, user_id)

    @strawberry.field
    async def customers(
        self, info: Info, shop_id: int, first: int | None = 20, after: str | None = None
    ) -> types.CustomerConnection:
        return await reading.customers(info, shop_id, _or(first, 20), after)

    @strawberry.field
    async def visitor(self, info: Info, shop_id: int, visitor_id: str) -> types.Visitor | None:
        return await reading.visitor(info, shop_id, visitor_id)

    @strawberry.field
    async def sessions(
        self, info: Info, shop_id: int, user_id: str | None = None,
        visitor_id: str | None = None, first: int | None = 20, after: str | None = None,
    ) -> types.SessionConnection:
        return await reading.sessions(info, shop_id, user_id, visitor_id, _or(first, 20), after)

    @strawberry.field
    async def events(
        self, info: Info, shop_id: int, user_id: str | None = None,
        visitor_id: str | None = None, types: list[types.EventType] | None = None,
        first: int | None = 50, after: str | None = None,
    ) -> types.EventConnection:
        return await reading.events(info, shop_id, user_id, visitor_id, types, _or(first, 50),
                                    after)

    @strawberry.field
    async def interest_map(
        self, info: Info, shop_id: int, user_id: str, limit: int | None = 20
    ) -> types.InterestMap:
        return await reading.interest_map(info, shop_id, user_id, _or(limit, 20))

    @strawberry.field
    async def cart(
        self, info: Info, shop_id: int, user_id: str | None = None, visitor_id: str | None = None
    ) -> types.Cart | None:
        return await reading.cart(info, shop_id, user_id, visitor_id)

    @strawberry.field
    async def triggers(
        self, info: Info, shop_id: int, types: list[types.TriggerType] | None = None,
        after: str | None = None, first: int | None = 50,
    ) -> types.TriggerConnection:
        return await reading.triggers(info, shop_id, types, after, _or(first, 50))

    @strawberry.field(description="Traffic per hour or day in [from, to), UTC buckets.")
    async def stats(
        self, info: Info, shop_id: int, start: From, end: To,
        interval: StatsInterval | None = StatsInterval.DAY,
    ) -> Stats:
        return await analytics.stats(info, shop_id, start, end, _or(interval, StatsInterval.DAY))

    @strawberry.field(description="Products by views in [from, to).")
    async def top_products(
        self, info: Info, shop_id: int, start: From, end: To, limit: int | None = 10
    ) -> list[ProductStat]:
        return await analytics.top_products(info, shop_id, start, end, _or(limit, 10))

    @strawberry.field(description="Categories by views in [from, to).")
    async def top_categories(
        self, info: Info, shop_id: int, start: From, end: To, limit: int | None = 10
    ) -> list[CategoryStat]:
        return await analytics.top_categories(info, shop_id, start, end, _or(limit, 10))

    @strawberry.field
    async def funnel(self, info: Info, shop_id: int, start: From, end: To) -> Funnel:
        return await analytics.funnel(info, shop_id, start, end)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def start_visit(self, info: Info, context: TrackContext) -> types.TrackResult:
        return await tracking.track_one(info, _event(Kind.VISIT, context))

    @strawberry.mutation
    async def view_product(
        self, info: Info, context: TrackContext, category_id: str, product_id: str
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.PRODUCT_VIEW, context, category_id=category_id,
                         product_id=product_id))

    @strawberry.mutation
    async def view_category(
        self, info: Info, context: TrackContext, category_id: str
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.CATEGORY_VIEW, context, category_id=category_id))

    @strawberry.mutation
    async def view_section(
        self, info: Info, context: TrackContext, page_name: str
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.SECTION_VIEW, context, page_name=page_name))

    @strawberry.mutation
    async def login(
        self, info: Info, context: TrackContext, user_id: str, user_hash: str | None = None
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.LOGIN, context, user_id=user_id, user_hash=user_hash))

    @strawberry.mutation
    async def register(
        self, info: Info, context: TrackContext, user_id: str, user_hash: str | None = None
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.REGISTRATION, context, user_id=user_id, user_hash=user_hash))

    @strawberry.mutation
    async def add_to_cart(
        self, info: Info, context: TrackContext, category_id: str, product_id: str,
        quantity: int = 1, price: float | None = None,
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.CART_ADD, context, category_id=category_id,
                         product_id=product_id, quantity=quantity, price=price))

    @strawberry.mutation
    async def remove_from_cart(
        self, info: Info, context: TrackContext, product_id: str
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.CART_REMOVE, context, product_id=product_id))

    @strawberry.mutation
    async def clear_cart(self, info: Info, context: TrackContext) -> types.TrackResult:
        return await tracking.track_one(info, _event(Kind.CART_CLEAR, context))

    @strawberry.mutation
    async def complete_checkout(
        self, info: Info, context: TrackContext, order_id: str
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.CHECKOUT, context, order_id=order_id))

    @strawberry.mutation
    async def track_event(
        self, info: Info, context: TrackContext, event_name: str, properties: JSON | None = None
    ) -> types.TrackResult:
        return await tracking.track_one(
            info, _event(Kind.CUSTOM, context, event_name=event_name, properties=properties))

    @strawberry.mutation(description="A batch of at most 100 events, applied in order.")
    async def track(
        self, info: Info, events: list[TrackInput], sent_at: datetime | None = None
    ) -> list[types.TrackResult | None]:
        return await tracking.track_batch(info, events, sent_at)

    @strawberry.mutation
    async def create_shop(
        self, info: Info, name: str, shop_id: int | None = None
    ) -> types.ShopCreated:
        return await admin.create_shop(info, name, shop_id)

    @strawberry.mutation
    async def update_shop_settings(
        self, info: Info, shop_id: int, settings: ShopSettingsInput
    ) -> types.Shop:
        return await admin.update_shop_settings(info, shop_id, settings)

    @strawberry.mutation
    async def add_event_source(
        self, info: Info, shop_id: int, source_id: str, name: str, domain: str | None = None,
        make_default: bool | None = False, active: bool | None = True,
    ) -> types.Shop:
        return await admin.add_event_source(info, shop_id, source_id, name, domain,
                                            bool(make_default), _or(active, True))

    @strawberry.mutation
    async def issue_identity_token(
        self, info: Info, shop_id: int, user_id: str, ttl_days: int | None = 30
    ) -> str:
        return await admin.issue_identity_token(info, shop_id, user_id, _or(ttl_days, 30))

    @strawberry.mutation
    async def import_events(
        self, info: Info, shop_id: int, events: list[TrackInput]
    ) -> list[types.TrackResult | None]:
        return await tracking.import_events(info, shop_id, events)

    @strawberry.mutation
    async def forget_customer(self, info: Info, shop_id: int, user_id: str) -> bool:
        return await admin.forget_customer(info, shop_id, user_id)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def triggers(
        self, info: Info, shop_id: int, types: list[types.TriggerType] | None = None,
        names: list[str] | None = None, after: strawberry.ID | None = None,
    ) -> AsyncGenerator[types.Trigger, None]:
        async for trigger in subscriptions.triggers(info, shop_id, types, names, after):
            yield trigger


class TrackerSchema(strawberry.Schema):
    """Gives every error the contract's code; unexpected ones become INTERNAL with an id."""

    async def execute(self, *args: Any, **kwargs: Any) -> StrawberryExecutionResult:
        # A subscription is served by subscribe() (WebSocket) or stream() (multipart);
        # a plain HTTP request would run its resolver as a field and fail. Refused here,
        # it is a 400 BAD_INPUT ("subscriptions are not allowed when using POST").
        allowed = kwargs.get("allowed_operation_types") or DEFAULT_ALLOWED_OPERATION_TYPES
        kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        return await super().execute(*args, **kwargs)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            code_error(error)


def code_error(error: GraphQLError) -> None:
    original = error.original_error
    if isinstance(original, TrackerError):
        error.extensions = {**(error.extensions or {}), **original.extensions}
        return
    if original is None or isinstance(original, GraphQLError):
        # Parsing and validation: the document or its variables are wrong.
        error.extensions = {**(error.extensions or {}), "code": "BAD_INPUT"}
        return
    error_id = uuid.uuid4().hex[:12]
    log.error("internal error %s", error_id, exc_info=original)
    error.message = f"internal error; reference {error_id}"
    error.extensions = {"code": "INTERNAL", "errorId": error_id}


def build_schema(settings: Settings) -> TrackerSchema:
    extensions = [
        ParserCache(maxsize=1024),
        ValidationCache(maxsize=1024),
        QueryDepthLimiter(max_depth=12),
        MaxAliasesLimiter(max_alias_count=30),
        MaxTokensLimiter(max_token_count=4000),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection())
    return TrackerSchema(query=Query, mutation=Mutation, subscription=Subscription,
                         extensions=extensions)


__all__ = ["ShopSettingsInput", "build_schema"]
