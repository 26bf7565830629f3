"""The product views of a visitor's batch, for co-occurrence (app/recommendations).

The visitor update stores each session's window of products viewed (`sViews`). From
the visitor as the batch found it and the batch's sessions, `annotate` gives each new
product view's event document the products it pairs with (`co: [[product, category]]`,
empty for a product already in the window) and `coAt`, the mark the fold worker
(app/recommendations/fold.py) finds it by. The pairs travel in the event's own insert:
no extra round trip, and no state between two writes for a failure to fall into. A
retried batch starts from the same stored window, so it computes the same pairs; a
duplicate is not inserted again, so it adds nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.core import EventType
from app.recommendations import View, remembered, session_partners

if TYPE_CHECKING:
    from app.tracking.item import Item
    from app.tracking.sessions import Segment


def window_of(items: list[Item]) -> list[dict[str, Any] | None]:
    """Each event's product view (`{p, c}`), None for other events: what the visitor
    update adds to the session's window."""
    return [{"p": i.event.product_id, "c": i.event.category_id}
            if i.event.type == EventType.PRODUCT_VIEW and i.event.product_id else None
            for i in items]


def annotate(before: dict[str, Any] | None, segments: list[Segment], items: list[Item],
             now: datetime) -> None:
    for seg in segments:
        window = remembered((before or {}).get("sViews")) if seg.continues_stored else []
        mine = [i for i in items[seg.first: seg.first + seg.size]
                if i.event.type == EventType.PRODUCT_VIEW and i.event.product_id]
        views = [View(i.event.product_id or "", i.event.category_id, i.at, i.doc["_id"])
                 for i in mine]
        partnered, _ = session_partners(window, views)
        pairs: dict[int, list[Any]] = {}  # by window entry: each `[p, c]` made once
        for item, (_, partners) in zip(mine, partnered, strict=True):
            item.doc["co"] = [_pair(pairs, w) for w in partners]
            item.doc["coAt"] = now


def _pair(pairs: dict[int, list[Any]], entry: dict[str, Any]) -> list[Any]:
    """The `[product, category]` of a window entry. A view pairs with up to 19 entries the
    views before it named too: the docs share one list each (nothing changes them; they
    are copied when stored), not 19 new lists a view (and the collections they set off)."""
    pair = pairs.get(id(entry))  # the entries live as long as `partnered`: ids are unique
    if pair is None:
        pair = pairs[id(entry)] = [entry["p"], entry.get("c")]
    return pair
