"""GraphQL types of recommendations (CONTRACT.md section 13)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from app.core import utc
from app.recommendations import STRATEGIES

RecommendationStrategy = strawberry.enum(Enum("RecommendationStrategy",
                                              {s: s for s in STRATEGIES}))


@strawberry.type
class Product:
    """PROVISIONAL until the catalog's schema lands (issue 24): the same fields."""

    product_id: str
    category_id: str | None
    name: str | None
    url: str | None
    image_url: str | None
    price: float | None
    old_price: float | None
    currency: str | None
    available: bool
    updated_at: datetime

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> Product:
        at = d.get("updatedAt")
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        return cls(product_id=d["productId"], category_id=d.get("categoryId"),
                   name=d.get("name"), url=d.get("url"), image_url=d.get("imageUrl"),
                   price=d.get("price"), old_price=d.get("oldPrice"),
                   currency=d.get("currency"), available=d.get("available", True) is not False,
                   updated_at=utc(at) if at else datetime.fromtimestamp(0).astimezone())


@strawberry.type
class Recommendation:
    product_id: str
    score: float
    product: Product | None

    @classmethod
    def of(cls, d: dict[str, Any]) -> Recommendation:
        return cls(product_id=d["productId"], score=float(d["score"]),
                   product=Product.from_doc(d["product"]) if d.get("product") else None)
