"""GraphQL input types, and their translation into the domain's event inputs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig

from app.core import Context, EventInput
from schema.types import EventType


@strawberry.input
class TrackContext:
    shop_id: int
    visitor_id: str
    source_id: str | None = None
    event_id: str | None = None
    occurred_at: datetime | None = None
    url: str | None = None
    referrer: str | None = None
    identity_token: str | None = None
    sent_at: datetime | None = strawberry.field(
        default=None, description="The client's clock when it sent this; corrects clock skew."
    )

    def to_domain(self) -> Context:
        return Context(**{f.python_name: getattr(self, f.python_name)
                          for f in self.__strawberry_definition__.fields})  # type: ignore[attr-defined]


@strawberry.input
class TrackInput:
    type: EventType
    context: TrackContext
    category_id: str | None = None
    product_id: str | None = None
    page_name: str | None = None
    user_id: str | None = None
    user_hash: str | None = None
    quantity: int | None = None
    price: float | None = None
    order_id: str | None = None
    event_name: str | None = None
    properties: JSON | None = None

    def to_domain(self) -> EventInput:
        fields = {f.python_name: getattr(self, f.python_name)
                  for f in self.__strawberry_definition__.fields}  # type: ignore[attr-defined]
        return EventInput(**{**fields, "context": self.context.to_domain()})


@strawberry.input
class ShopSettingsInput:
    session_timeout_seconds: int | None = None
    abandoned_cart_delay_seconds: int | None = None
    anonymous_history_days: int | None = None
    allowed_origins: list[str] | None = None
    require_signed_identify: bool | None = None
    interest_weights: JSON | None = strawberry.field(
        default=None,
        description="Interest weights by name (categoryView, productViewProduct, "
        "productViewCategory, cartAddProduct, cartAddCategory, purchaseProduct, "
        "purchaseCategory).",
    )
    interest_half_life_seconds: int | None = None
    attribution_window_seconds: int | None = None

    def to_changes(self) -> dict[str, object]:
        """The settings given, by their ShopSettings field names (None = unchanged)."""
        return {f.python_name: getattr(self, f.python_name)
                for f in self.__strawberry_definition__.fields}  # type: ignore[attr-defined]


def _fast_input(cls: type, nested: dict[str, type]) -> None:
    """Build `cls` straight from the values graphql-core has already coerced and checked.

    Strawberry would otherwise resolve every field's type again for every item
    of every request, the bulk of a batch's GraphQL cost (bench/FINDINGS.md).
    The field list comes from the type itself, so no field can be left out.
    """
    names = StrawberryConfig().name_converter
    fields = [(f.python_name, names.from_field(f))
              for f in cls.__strawberry_definition__.fields]  # type: ignore[attr-defined]

    def build(target: type, value: Mapping[str, Any], context: Any) -> Any:
        kwargs = {}
        for python_name, graphql_name in fields:
            if graphql_name in value:
                item = value[graphql_name]
                inner = nested.get(python_name)
                if inner is not None and item is not None:
                    item = inner.__strawberry_definition__.from_input(inner, item, context)
                kwargs[python_name] = item
        return target(**kwargs)

    cls.__strawberry_definition__.from_input = build  # type: ignore[attr-defined]


_fast_input(TrackContext, {})
_fast_input(TrackInput, {"context": TrackContext})
