"""Live interest audiences: define, delete, list, page through members."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app import audiences
from resolvers import null_means_default
from schema import types
from schema.audiences import Audience, AudienceInput


async def audiences_(info: Info, shop_id: int) -> list[Audience]:
    await info.context.authorize(shop_id)
    return [Audience.of(a) for a in await audiences.listed(info.context.platform, shop_id)]


@null_means_default
async def audience_members(
    info: Info, shop_id: int, audience_id: strawberry.ID, first: int | None = 50,
    after: str | None = None,
) -> types.CustomerConnection:
    await info.context.authorize(shop_id)
    page = await audiences.members(info.context.platform, shop_id, str(audience_id), first,
                                   after)
    return types.CustomerConnection(
        nodes=[types.Customer.of(d) for d in page.nodes],
        page_info=types.PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor))


async def create_audience(info: Info, shop_id: int, audience: AudienceInput) -> Audience:
    await info.context.authorize(shop_id)
    created = await audiences.create(info.context.platform, shop_id, audience.title,
                                     audience.category_id, audience.product_id,
                                     audience.min_score)
    return Audience.of(created)


async def delete_audience(info: Info, shop_id: int, audience_id: strawberry.ID) -> bool:
    await info.context.authorize(shop_id)
    return await audiences.delete(info.context.platform, shop_id, str(audience_id))
