"""Analytics queries for dashboards: check the key, compute, map to GraphQL types."""

from __future__ import annotations

from datetime import datetime

from strawberry.types import Info

from app import analytics
from schema.analytics import CategoryStat, Funnel, ProductStat, Stats, StatsBucket, StatsInterval


async def stats(
    info: Info, shop_id: int, start: datetime, end: datetime, interval: StatsInterval
) -> Stats:
    await info.context.for_shop(shop_id)
    cut = analytics.buckets(start, end, interval.value)
    data = await analytics.stats(info.context.platform.storage, shop_id, cut)
    return Stats(buckets=[StatsBucket.of(b) for b in data["buckets"]],
                 totals=StatsBucket.of(data["totals"]))


async def top_products(
    info: Info, shop_id: int, start: datetime, end: datetime, limit: int
) -> list[ProductStat]:
    await info.context.for_shop(shop_id)
    analytics.check_limit(limit)
    rows = await analytics.top_products(info.context.platform.storage, shop_id,
                                        analytics.span(start, end), limit)
    return [ProductStat(product_id=r["productId"], views=r["views"], cart_adds=r["cartAdds"],
                        purchases=r["purchases"]) for r in rows]


async def top_categories(
    info: Info, shop_id: int, start: datetime, end: datetime, limit: int
) -> list[CategoryStat]:
    await info.context.for_shop(shop_id)
    analytics.check_limit(limit)
    rows = await analytics.top_categories(info.context.platform.storage, shop_id,
                                          analytics.span(start, end), limit)
    return [CategoryStat(category_id=r["categoryId"], views=r["views"],
                         product_views=r["productViews"], cart_adds=r["cartAdds"],
                         purchases=r["purchases"]) for r in rows]


async def funnel(info: Info, shop_id: int, start: datetime, end: datetime) -> Funnel:
    await info.context.for_shop(shop_id)
    data = await analytics.funnel(info.context.platform.storage, shop_id,
                                  analytics.span(start, end))
    return Funnel(sessions=data["sessions"], with_product_view=data["withProductView"],
                  with_cart_add=data["withCartAdd"], with_checkout=data["withCheckout"])
