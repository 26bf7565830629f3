"""Session documents: written when a session opens, closed with their final counters
when the next one opens, and restored for a retried batch.

The current session lives on the visitor document (app/tracking/sessions.py); these are the
documents `Query.sessions` reads.
"""

from __future__ import annotations

from typing import Any

from pymongo import UpdateOne

from app import abandonment
from app.attribution import classify, own_domains, source_of
from app.backends.storage import Storage
from app.core import from_ms, session_key
from app.tracking.item import Item
from app.tracking.sessions import Current, Segment


async def write(
    storage: Storage,
    shop_id: int,
    visitor_id: str,
    before: dict[str, Any] | None,
    segments: list[Segment],
    items: list[Item],
    watch: abandonment.Watch | None = None,
) -> None:
    """Record sessions that open, and close the ones they follow.

    The current session's counters live on the visitor document; a session
    document gets its final counters when the next one opens (and, with `watch`,
    the abandoned-browse state of a session that closes while still watched).
    """
    ops: list[UpdateOne] = []
    previous = Current.from_visitor(before)
    opened = [s for s in segments if not s.continues_stored]
    if not opened:
        return

    def carried(seg: Segment | None, stored: dict[str, Any] | None) -> dict[str, Any]:
        if watch is None:
            return {}
        marks = watch.marks[seg.first:seg.first + seg.size] if seg else []
        last_ms = seg.last_ms if seg else previous.last_ms if previous else 0
        watched = abandonment.carried(stored, marks, last_ms, watch.delays)
        return {"$set": watched} if watched else {}

    if previous and not segments[0].continues_stored:
        ops.append(_close(shop_id, visitor_id, before, previous.session_id, previous.last_ms,
                          previous.events, carried(None, before)))
    for seg in segments:
        if seg is segments[-1]:
            break
        if seg.continues_stored:
            ops.append(_close(shop_id, visitor_id, before, seg.session_id, seg.last_ms,
                              seg.count, carried(seg, before)))
    for seg in opened:
        head = items[seg.first]
        doc = {
            "sessionId": seg.session_id,
            "shopId": shop_id,
            "visitorId": visitor_id,
            "userId": head.user_id,
            "sourceId": head.source_id,
            "startedAt": from_ms(seg.start_ms),
            "landingUrl": head.event.context.url,
            "referrer": head.event.context.referrer,
            # Its channel, decided once (app/attribution/touches.py).
            **await source_of(storage, shop_id, own_domains(head.shop), head.event.context.url,
                              head.event.context.referrer),
        }
        watched = carried(seg, None) if seg is not segments[-1] else {}
        ops.append(UpdateOne(
            {"_id": session_key(shop_id, seg.session_id), "shopId": shop_id},
            {"$setOnInsert": doc, **_counters(seg.last_ms, seg.count), **watched},
            upsert=True,
        ))
    await storage.sessions.bulk_write(ops, ordered=True)


def _close(shop_id: int, visitor_id: str, stored: dict[str, Any] | None, session_id: str,
           last_ms: int, events: int, watched: dict[str, Any]) -> UpdateOne:
    """The session's final counters (and, in `watched`, its abandoned-browse state); its
    document is made if its opener has not yet."""
    head = stored or {}
    return UpdateOne(
        {"_id": session_key(shop_id, session_id), "shopId": shop_id},
        {"$setOnInsert": {"sessionId": session_id, "shopId": shop_id, "visitorId": visitor_id,
                          "userId": head.get("userId"), "sourceId": head.get("sSource"),
                          "startedAt": from_ms(head.get("sStartMs", last_ms)),
                          "landingUrl": head.get("sLanding"),
                          "referrer": head.get("sReferrer"), "rolled": False,
                          **classify(head.get("sLanding"), head.get("sReferrer")).doc()},
         **_counters(last_ms, events), **watched},
        upsert=True,
    )


def _counters(last_ms: int, events: int) -> dict[str, Any]:
    """A session's counters only grow: `$max`, so a writer that read them earlier than
    another (two requests of one visitor at once) cannot take them back."""
    return {"$max": {"lastEventAt": from_ms(last_ms), "eventsCount": events}}




async def restore(
    storage: Storage, shop_id: int, visitor_id: str, before: dict[str, Any] | None,
    replays: list[Item],
) -> None:
    """The session documents of retried events, in case their first attempt failed first.

    Written only where missing ($setOnInsert), as the first attempt would have written
    them; the current session's counters are the ones its first attempt left.
    """
    heads: dict[str, Item] = {}
    for item in replays:
        heads.setdefault(item.session_id, item)
    if not heads:
        return
    current = Current.from_visitor(before)
    ops = []
    for session_id, head in heads.items():
        start_ms = int(session_id.rsplit(".", 1)[1])
        doc = {"sessionId": session_id, "shopId": shop_id, "visitorId": visitor_id,
               "userId": head.user_id, "sourceId": head.source_id,
               "startedAt": from_ms(start_ms), "landingUrl": head.event.context.url,
               "referrer": head.event.context.referrer,
               **await source_of(storage, shop_id, own_domains(head.shop),
                                 head.event.context.url, head.event.context.referrer)}
        if current is not None and current.session_id == session_id:
            doc.update(lastEventAt=from_ms(current.last_ms), eventsCount=current.events)
        ops.append(UpdateOne({"_id": session_key(shop_id, session_id), "shopId": shop_id},
                             {"$setOnInsert": doc}, upsert=True))
    await storage.sessions.bulk_write(ops, ordered=False)
