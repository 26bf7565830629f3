"""Tracker mutations: every one is the tracking pipeline on a batch of one or more events."""

from __future__ import annotations

from datetime import datetime

from strawberry.scalars import JSON
from strawberry.types import Info

from app import tracking
from app.core import MAX_BATCH, BadInput, EventInput, EventType
from schema import types
from schema.inputs import TrackContext, TrackInput


def _result(outcome: tracking.Outcome) -> types.TrackResult | Exception:
    if outcome.error is not None:
        return outcome.error
    r = outcome.result
    assert r is not None
    return types.TrackResult(event_id=r.event_id, duplicate=r.duplicate, session_id=r.session_id,
                             new_session=r.new_session, user_id=r.user_id)


async def _track_one(
    info: Info, kind: EventType, context: TrackContext, **fields: object
) -> types.TrackResult:
    ctx = info.context
    event = EventInput(type=kind, context=context.to_domain(), **fields)  # type: ignore[arg-type]
    await ctx.limit_tracker([event])
    [outcome] = await tracking.track(ctx.platform, [event], origin=ctx.origin)
    result = _result(outcome)
    if isinstance(result, Exception):
        raise result
    return result


async def start_visit(info: Info, context: TrackContext) -> types.TrackResult:
    return await _track_one(info, EventType.VISIT, context)


async def view_product(
    info: Info, context: TrackContext, category_id: str, product_id: str
) -> types.TrackResult:
    return await _track_one(info, EventType.PRODUCT_VIEW, context, category_id=category_id,
                            product_id=product_id)


async def view_category(info: Info, context: TrackContext, category_id: str) -> types.TrackResult:
    return await _track_one(info, EventType.CATEGORY_VIEW, context, category_id=category_id)


async def view_section(info: Info, context: TrackContext, page_name: str) -> types.TrackResult:
    return await _track_one(info, EventType.SECTION_VIEW, context, page_name=page_name)


async def login(
    info: Info, context: TrackContext, user_id: str, user_hash: str | None = None
) -> types.TrackResult:
    return await _track_one(info, EventType.LOGIN, context, user_id=user_id, user_hash=user_hash)


async def register(
    info: Info, context: TrackContext, user_id: str, user_hash: str | None = None
) -> types.TrackResult:
    return await _track_one(info, EventType.REGISTRATION, context, user_id=user_id,
                            user_hash=user_hash)


async def add_to_cart(
    info: Info, context: TrackContext, category_id: str, product_id: str, quantity: int = 1,
    price: float | None = None,
) -> types.TrackResult:
    return await _track_one(info, EventType.CART_ADD, context, category_id=category_id,
                            product_id=product_id, quantity=quantity, price=price)


async def remove_from_cart(
    info: Info, context: TrackContext, product_id: str
) -> types.TrackResult:
    return await _track_one(info, EventType.CART_REMOVE, context, product_id=product_id)


async def clear_cart(info: Info, context: TrackContext) -> types.TrackResult:
    return await _track_one(info, EventType.CART_CLEAR, context)


async def complete_checkout(info: Info, context: TrackContext, order_id: str) -> types.TrackResult:
    return await _track_one(info, EventType.CHECKOUT, context, order_id=order_id)


async def track_event(
    info: Info, context: TrackContext, event_name: str, properties: JSON | None = None
) -> types.TrackResult:
    return await _track_one(info, EventType.CUSTOM, context, event_name=event_name,
                            properties=properties)


async def track(
    info: Info, events: list[TrackInput], sent_at: datetime | None = None
) -> list[types.TrackResult | None]:
    ctx = info.context
    if len(events) > MAX_BATCH:  # refused as too big before it costs rate-limit tokens
        raise BadInput(f"a batch holds at most {MAX_BATCH} events", field="events")
    inputs = [e.to_domain() for e in events]
    await ctx.limit_tracker(inputs)
    outcomes = await tracking.track(ctx.platform, inputs, sent_at=sent_at, origin=ctx.origin)
    # An exception in the list becomes null at its index with an error at that path.
    return [_result(o) for o in outcomes]  # type: ignore[misc]


async def import_events(
    info: Info, shop_id: int, events: list[TrackInput]
) -> list[types.TrackResult | None]:
    ctx = info.context
    await ctx.authorize(shop_id)
    inputs = [e.to_domain() for e in events]
    for event in inputs:
        event.context.shop_id = shop_id
    outcomes = await tracking.track(ctx.platform, inputs, importing=True)
    return [_result(o) for o in outcomes]  # type: ignore[misc]
