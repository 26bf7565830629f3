"""Recommendations for a shop's key (the storefront's public door is GET /recommendations)."""

from __future__ import annotations

from strawberry.types import Info

from app.recommendations import Ask, recommend
from resolvers import null_means_default
from schema.recommendations import Recommendation, RecommendationStrategy


@null_means_default
async def recommendations(
    info: Info, shop_id: int, strategy: RecommendationStrategy, product_id: str | None = None,
    user_id: str | None = None, visitor_id: str | None = None, category_id: str | None = None,
    limit: int | None = 10,
) -> list[Recommendation]:
    await info.context.authorize(shop_id)
    platform = info.context.platform
    shop = await platform.shops.require(shop_id)
    ask = Ask(shop_id, strategy.value, product_id=product_id, user_id=user_id,
              visitor_id=visitor_id, category_id=category_id,
              limit=10 if limit is None else limit)
    found = await recommend(platform.storage, shop.interest_frame, platform.clock.now(), ask)
    return [Recommendation.of(r) for r in found]
