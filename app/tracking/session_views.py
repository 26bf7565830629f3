"""The product views of a visitor's batch, for co-occurrence (app/recommendations).

The visitor update stores each session's window of products viewed (`sViews`); from
the visitor as the batch found it and the batch's sessions, `touches` gives what the
batch's views add to co-occurrence, the same pairs on a retry (which starts from the
same stored window). A duplicate applied before moves the window but adds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.core import EventType
from app.recommendations import View, remembered, session_touches, write

if TYPE_CHECKING:
    from app.backends.storage import Storage
    from app.interests import Frame
    from app.shops import Shop
    from app.tracking.item import Item
    from app.tracking.sessions import Segment


def window_of(items: list[Item]) -> list[dict[str, Any] | None]:
    """Each event's product view (`{p, c}`), None for other events: what the visitor
    update adds to the session's window."""
    return [{"p": i.event.product_id, "c": i.event.category_id}
            if i.event.type == EventType.PRODUCT_VIEW and i.event.product_id else None
            for i in items]


def touches(before: dict[str, Any] | None, segments: list[Segment], items: list[Item],
            frame: Frame) -> list[Any]:
    out: list[Any] = []
    for seg in segments:
        window = remembered((before or {}).get("sViews")) if seg.continues_stored else []
        views = [View(i.event.product_id or "", i.event.category_id, i.at, i.doc["_id"],
                      apply=not i.duplicate or i.replay)
                 for i in items[seg.first: seg.first + seg.size]
                 if i.event.type == EventType.PRODUCT_VIEW and i.event.product_id]
        if views:
            out += session_touches(window, views, frame)[0]
    return out


async def record(storage: Storage, shop: Shop, before: dict[str, Any] | None,
                 segments: list[Segment], items: list[Item]) -> None:
    """Write the batch's co-occurrence: one round trip, none without product views."""
    await write(storage.cooccurrence, shop.shop_id,
                touches(before, segments, items, shop.interest_frame))
