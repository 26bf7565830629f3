"""Analytics queries for dashboards: check the key, compute, map to GraphQL types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from app import analytics
from resolvers import null_means_default
from schema.analytics import CategoryStat, Funnel, ProductStat, Stats, StatsBucket, StatsInterval

# `from` is a Python keyword: the arguments keep their contract names in the schema.
From = Annotated[datetime, strawberry.argument(name="from")]
To = Annotated[datetime, strawberry.argument(name="to")]


@null_means_default
async def stats(
    info: Info, shop_id: int, start: From, end: To,
    interval: StatsInterval | None = StatsInterval.DAY,
) -> Stats:
    """Traffic per hour or day in [from, to), in UTC buckets."""
    await info.context.authorize(shop_id)
    cut = analytics.buckets(start, end, (interval or StatsInterval.DAY).value)
    data = await analytics.stats(info.context.platform.storage, shop_id, cut)
    return Stats(buckets=[StatsBucket.of(b) for b in data["buckets"]],
                 totals=StatsBucket.of(data["totals"]))


@null_means_default
async def top_products(
    info: Info, shop_id: int, start: From, end: To, limit: int | None = 10
) -> list[ProductStat]:
    """Products by views in [from, to)."""
    await info.context.authorize(shop_id)
    rows = await analytics.top_products(info.context.platform.storage, shop_id,
                                        analytics.span(start, end), limit or 0)
    return [ProductStat(product_id=r["productId"], views=r["views"], cart_adds=r["cartAdds"],
                        purchases=r["purchases"]) for r in rows]


@null_means_default
async def top_categories(
    info: Info, shop_id: int, start: From, end: To, limit: int | None = 10
) -> list[CategoryStat]:
    """Categories by views in [from, to)."""
    await info.context.authorize(shop_id)
    rows = await analytics.top_categories(info.context.platform.storage, shop_id,
                                          analytics.span(start, end), limit or 0)
    return [CategoryStat(category_id=r["categoryId"], views=r["views"],
                         product_views=r["productViews"], cart_adds=r["cartAdds"],
                         purchases=r["purchases"]) for r in rows]


async def funnel(info: Info, shop_id: int, start: From, end: To) -> Funnel:
    """Sessions started in [from, to) and how many reached each step."""
    await info.context.authorize(shop_id)
    data = await analytics.funnel(info.context.platform.storage, shop_id,
                                  analytics.span(start, end))
    return Funnel(sessions=data["sessions"], with_product_view=data["withProductView"],
                  with_cart_add=data["withCartAdd"], with_checkout=data["withCheckout"])
