"""Live triggers for integrations, with replay from a cursor (app/triggers/feed.py `follow`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from schema.triggers import Trigger, TriggerType


async def triggers(
    info: Info, shop_id: int, types: list[TriggerType] | None = None,
    names: list[str] | None = None, after: strawberry.ID | None = None,
) -> AsyncGenerator[Trigger, None]:
    principal = await info.context.authorize(shop_id)
    platform = info.context.platform
    with platform.streams.holding("subscriptions", principal.key_id):  # app/access/streams.py
        feed = platform.feed.follow(
            shop_id, after,
            types=[t.value for t in types] if types else None,
            names=names or None,
        )
        try:
            async for doc in feed:
                yield Trigger.of(doc)
        finally:
            await feed.aclose()  # leaves the broker channel at once, not when collected
