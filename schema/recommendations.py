"""GraphQL types of recommendations (CONTRACT.md section 13)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from app.recommendations import STRATEGIES
from schema.catalog import Product

RecommendationStrategy = strawberry.enum(Enum("RecommendationStrategy",
                                              {s: s for s in STRATEGIES}))


@strawberry.type
class Recommendation:
    product_id: str
    score: float
    product: Product | None

    @classmethod
    def of(cls, d: dict[str, Any]) -> Recommendation:
        return cls(product_id=d["productId"], score=float(d["score"]),
                   product=Product.from_doc(d["product"]) if d.get("product") else None)
