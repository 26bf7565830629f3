"""Analytics queries for dashboards: check the key, compute, map to GraphQL types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app import analytics, attribution
from resolvers import null_means_default
from schema.analytics import CategoryStat, Funnel, ProductStat, Stats, StatsBucket, StatsInterval

# `from` is a Python keyword: the arguments keep their contract names in the schema.
From = Annotated[datetime, strawberry.argument(name="from")]
To = Annotated[datetime, strawberry.argument(name="to")]


async def _folded(info: Info, shop_id: int) -> tuple[Any, Any]:
    """The reports and their last arguments: from the rollups (the shop's pending sessions
    and triggers folded into the performance rollups first, whose shop-wide buckets give
    them per hour; the reports fold the events themselves), or recounted from the raw
    events when the rollups are off (TRACKER_ANALYTICS_ROLLUPS=0)."""
    platform = info.context.platform
    if not platform.settings.analytics_rollups:
        return analytics.recount, ()
    now = platform.clock.now()
    await attribution.fold(platform.storage, now, shop_id)
    return analytics, (now,)


@null_means_default
async def stats(
    info: Info, shop_id: int, start: From, end: To,
    interval: StatsInterval | None = StatsInterval.DAY,
) -> Stats:
    """Traffic per hour or day in [from, to), in UTC buckets."""
    await info.context.authorize(shop_id)
    cut = analytics.buckets(start, end, (interval or StatsInterval.DAY).value)
    reports, now = await _folded(info, shop_id)
    data = await reports.stats(info.context.platform.storage, shop_id, cut, *now)
    return Stats(buckets=[StatsBucket.of(b) for b in data["buckets"]],
                 totals=StatsBucket.of(data["totals"]))


@null_means_default
async def top_products(
    info: Info, shop_id: int, start: From, end: To, limit: int | None = 10
) -> list[ProductStat]:
    """Products by views in [from, to)."""
    await info.context.authorize(shop_id)
    reports, now = await _folded(info, shop_id)
    rows = await reports.top_products(info.context.platform.storage, shop_id,
                                      analytics.span(start, end), limit or 0, *now)
    return [ProductStat(product_id=r["productId"], views=r["views"], cart_adds=r["cartAdds"],
                        purchases=r["purchases"], shop_id=shop_id) for r in rows]


@null_means_default
async def top_categories(
    info: Info, shop_id: int, start: From, end: To, limit: int | None = 10
) -> list[CategoryStat]:
    """Categories by views in [from, to)."""
    await info.context.authorize(shop_id)
    reports, now = await _folded(info, shop_id)
    rows = await reports.top_categories(info.context.platform.storage, shop_id,
                                        analytics.span(start, end), limit or 0, *now)
    return [CategoryStat(category_id=r["categoryId"], views=r["views"],
                         product_views=r["productViews"], cart_adds=r["cartAdds"],
                         purchases=r["purchases"]) for r in rows]


async def funnel(info: Info, shop_id: int, start: From, end: To) -> Funnel:
    """Sessions started in [from, to) and how many reached each step."""
    await info.context.authorize(shop_id)
    reports, now = await _folded(info, shop_id)
    data = await reports.funnel(info.context.platform.storage, shop_id,
                                analytics.span(start, end), *now)
    return Funnel(sessions=data["sessions"], with_product_view=data["withProductView"],
                  with_cart_add=data["withCartAdd"], with_checkout=data["withCheckout"])
