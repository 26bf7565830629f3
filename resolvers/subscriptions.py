"""Live triggers for integrations, with replay from a cursor."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Any

from strawberry.types import Info

from app import triggers as log
from schema import types

REPLAY_PAGE = 1000
REMEMBERED = 10_000


class _Seen:
    """Trigger ids already sent, so that replay and live never repeat one."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, trigger_id: str) -> bool:
        if trigger_id in self._ids:
            return False
        self._ids[trigger_id] = None
        if len(self._ids) > REMEMBERED:
            self._ids.popitem(last=False)
        return True


async def triggers(
    info: Info, shop_id: int, trigger_types: list[types.TriggerType] | None,
    names: list[str] | None, after: str | None,
) -> AsyncGenerator[types.Trigger, None]:
    await info.context.for_shop(shop_id)
    platform = info.context.platform
    wanted_types = {t.value for t in trigger_types} if trigger_types else None
    wanted_names = set(names) if names else None

    def matches(doc: dict[str, Any]) -> bool:
        return (wanted_types is None or doc["type"] in wanted_types) and (
            wanted_names is None or doc.get("name") in wanted_names)

    seen = _Seen()
    # Subscribe before reading the log: whatever the read misses was written
    # after it began, so it arrives live.
    async with platform.broker.subscribe(log.channel(shop_id)) as live:
        cursor = after
        while cursor:
            batch = await platform.triggers.after(shop_id, cursor, REPLAY_PAGE)
            for doc in batch:
                if seen.first_time(doc["_id"]) and matches(doc):
                    yield types.Trigger.of(doc)
            cursor = batch[-1]["_id"] if len(batch) == REPLAY_PAGE else None
        async for message in live:
            doc = log.decode(message)
            if doc.get("shopId") == shop_id and seen.first_time(doc["_id"]) and matches(doc):
                yield types.Trigger.of(doc)
