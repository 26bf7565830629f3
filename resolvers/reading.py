"""Dashboard queries: check the key, read, map to GraphQL types."""

from __future__ import annotations

from strawberry.types import Info

from app.analytics import reading
from resolvers import null_means_default
from schema import types
from schema.sessions import Session, SessionConnection
from schema.triggers import Trigger, TriggerConnection, TriggerType

_types = types  # the `types` argument (the contract's name) shadows the module in two resolvers


def _page_info(page: reading.Page) -> types.PageInfo:
    return types.PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor)


async def shop(info: Info, shop_id: int) -> types.Shop | None:
    await info.context.authorize(shop_id)
    found = await info.context.platform.shops.get(shop_id)
    return types.Shop.of(found) if found else None


async def customer(info: Info, shop_id: int, user_id: str) -> types.Customer | None:
    await info.context.authorize(shop_id)
    doc = await reading.customer(info.context.platform, shop_id, user_id)
    return types.Customer.of(doc) if doc else None


@null_means_default
async def customers(
    info: Info, shop_id: int, first: int | None = 20, after: str | None = None
) -> types.CustomerConnection:
    await info.context.authorize(shop_id)
    page = await reading.customers(info.context.platform, shop_id, first=first, after=after)
    return types.CustomerConnection(nodes=[types.Customer.of(d) for d in page.nodes],
                                    page_info=_page_info(page))


async def visitor(info: Info, shop_id: int, visitor_id: str) -> types.Visitor | None:
    await info.context.authorize(shop_id)
    doc = await reading.visitor(info.context.platform, shop_id, visitor_id)
    return types.Visitor.of(doc) if doc else None


@null_means_default
async def sessions(
    info: Info, shop_id: int, user_id: str | None = None, visitor_id: str | None = None,
    first: int | None = 20, after: str | None = None,
) -> SessionConnection:
    await info.context.authorize(shop_id)
    page = await reading.sessions(info.context.platform, shop_id, user_id=user_id,
                                  visitor_id=visitor_id, first=first, after=after)
    return SessionConnection(nodes=[Session.of(d) for d in page.nodes],
                                   page_info=_page_info(page))


@null_means_default
async def events(
    info: Info, shop_id: int, user_id: str | None = None, visitor_id: str | None = None,
    types: list[types.EventType] | None = None, first: int | None = 50,
    after: str | None = None,
) -> types.EventConnection:
    await info.context.authorize(shop_id)
    page = await reading.events(
        info.context.platform, shop_id, user_id=user_id, visitor_id=visitor_id,
        types=[t.value for t in types] if types else None, first=first, after=after)
    return _types.EventConnection(nodes=[_types.Event.of(d) for d in page.nodes],
                                  page_info=_page_info(page))


@null_means_default
async def interest_map(
    info: Info, shop_id: int, user_id: str, limit: int | None = 20
) -> types.InterestMap:
    await info.context.authorize(shop_id)
    return types.InterestMap.of(
        await reading.interest_map(info.context.platform, shop_id, user_id, limit))


async def cart(
    info: Info, shop_id: int, user_id: str | None = None, visitor_id: str | None = None
) -> types.Cart | None:
    await info.context.authorize(shop_id)
    doc = await reading.cart(info.context.platform, shop_id, user_id=user_id,
                             visitor_id=visitor_id)
    return types.Cart.of(doc) if doc else None


@null_means_default
async def triggers(
    info: Info, shop_id: int, types: list[TriggerType] | None = None,
    after: str | None = None, first: int | None = 50,
) -> TriggerConnection:
    await info.context.authorize(shop_id)
    reading.check_first(first)
    docs, more = await info.context.platform.feed.page(
        shop_id, [t.value for t in types] if types else None, after, first)
    return TriggerConnection(
        nodes=[Trigger.of(d) for d in docs],
        page_info=_types.PageInfo(has_next_page=more,
                                  end_cursor=docs[-1]["sortKey"] if docs else None))

