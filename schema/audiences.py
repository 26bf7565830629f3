"""GraphQL types of live interest audiences (contract section 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.core import utc


@strawberry.input
class AudienceInput:
    title: str
    min_score: float
    category_id: str | None = None
    product_id: str | None = None


@strawberry.type
class Audience:
    audience_id: strawberry.ID
    title: str
    category_id: str | None
    product_id: str | None
    min_score: float
    size: int
    created_at: datetime

    @classmethod
    def of(cls, d: dict[str, Any]) -> Audience:
        return cls(audience_id=strawberry.ID(d["audienceId"]), title=d["title"],
                   category_id=d.get("categoryId"), product_id=d.get("productId"),
                   min_score=d["minScore"], size=d.get("size", 0),
                   created_at=utc(d["createdAt"]))
