"""GraphQL types of the dashboard's analytics (contract section 10)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from schema.catalog import Product, product_of


@strawberry.enum
class StatsInterval(Enum):
    HOUR = "HOUR"
    DAY = "DAY"


@strawberry.type
class StatsBucket:
    start: datetime
    visitors: int
    sessions: int
    identified_visitors: int
    product_views: int
    category_views: int
    cart_adds: int
    checkouts: int
    triggers: int

    @classmethod
    def of(cls, d: dict[str, Any]) -> StatsBucket:
        return cls(start=d["start"], visitors=d["visitors"], sessions=d["sessions"],
                   identified_visitors=d["identifiedVisitors"],
                   product_views=d["productViews"], category_views=d["categoryViews"],
                   cart_adds=d["cartAdds"], checkouts=d["checkouts"], triggers=d["triggers"])


@strawberry.type(description="Visitors are distinct per bucket and in totals.")
class Stats:
    buckets: list[StatsBucket]
    totals: StatsBucket


@strawberry.type
class ProductStat:
    product_id: str
    views: int
    cart_adds: int
    purchases: int
    shop_id: strawberry.Private[int | None] = None

    @strawberry.field(description="The catalog's product; null when the catalog does not "
                      "have it.")
    async def product(self, info: Info) -> Product | None:
        return await product_of(info, self.shop_id, self.product_id)


@strawberry.type
class CategoryStat:
    category_id: str
    views: int
    product_views: int
    cart_adds: int
    purchases: int


@strawberry.type(description="Sessions started in [from, to), and of them those that reached "
                             "each step in the range.")
class Funnel:
    sessions: int
    with_product_view: int
    with_cart_add: int
    with_checkout: int
