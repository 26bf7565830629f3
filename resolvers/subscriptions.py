"""Live triggers for integrations, with replay from a cursor (app/triggers.py `follow`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from strawberry.types import Info

from schema import types


async def triggers(
    info: Info, shop_id: int, trigger_types: list[types.TriggerType] | None,
    names: list[str] | None, after: str | None,
) -> AsyncGenerator[types.Trigger, None]:
    await info.context.for_shop(shop_id)
    feed = info.context.platform.triggers.follow(
        shop_id, after,
        types=[t.value for t in trigger_types] if trigger_types else None,
        names=names or None,
    )
    try:
        async for doc in feed:
            yield types.Trigger.of(doc)
    finally:
        await feed.aclose()  # leaves the broker channel at once, not when collected
