"""The fast input builder gives exactly what Strawberry's own conversion gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import convert_argument

from app.core.events import EventType
from app.server.graphql import build_schema
from app.settings import Settings
from schema.inputs import TrackContext, TrackInput

FULL = {
    "type": EventType.CART_ADD,
    "context": {
        "shopId": 3, "visitorId": "v-1", "sourceId": "app", "eventId": "e1",
        "occurredAt": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "sentAt": datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC), "url": "https://s/x",
        "referrer": "https://r/", "identityToken": "t.k",
    },
    "categoryId": "c", "productId": "p", "pageName": "pg", "userId": "u", "userHash": "h",
    "quantity": 2, "price": 9.5, "orderId": "o", "eventName": "n",
    "properties": {"a": [1, {"b": None}]},
}
REGISTRY = build_schema(Settings()).schema_converter.scalar_registry
SPARSE = {"type": EventType.VISIT, "context": {"shopId": 1, "visitorId": "v"}}


def _convert(value: dict[str, Any], fast: bool) -> Any:
    definition = TrackInput.__strawberry_definition__
    saved = (definition.from_input, TrackContext.__strawberry_definition__.from_input)
    if not fast:
        definition.from_input = None
        TrackContext.__strawberry_definition__.from_input = None
    try:
        return convert_argument(value, TrackInput, scalar_registry=REGISTRY,
                                config=StrawberryConfig())
    finally:
        definition.from_input, TrackContext.__strawberry_definition__.from_input = saved


@pytest.mark.parametrize("value", [FULL, SPARSE], ids=["every field", "required only"])
def test_fast_builder_matches_strawberry(value: dict[str, Any]) -> None:
    fast, slow = _convert(value, fast=True), _convert(value, fast=False)
    assert fast == slow
    assert isinstance(fast.context, TrackContext)


def test_every_field_is_carried() -> None:
    built = _convert(FULL, fast=True)
    assert built.to_domain().context.sent_at == FULL["context"]["sentAt"]
    assert built.properties == FULL["properties"] and built.user_hash == "h"
