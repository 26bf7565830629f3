"""GraphQL pages of the catalog: the products connection, and what the dashboard's
product card shows (price history, the customers interested)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.catalog import Product
from schema.types import PageInfo


@strawberry.type
class ProductConnection:
    nodes: list[Product]
    page_info: PageInfo


@strawberry.type(description="A price the product had from `at` on (the last 50 kept).")
class PricePoint:
    at: datetime
    price: float | None


@strawberry.type(description="A customer's interest in one product (the interest map's).")
class InterestedCustomer:
    user_id: str
    score: float
    views: int
    cart_adds: int
    purchases: int
    last_interaction_at: datetime
