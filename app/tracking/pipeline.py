"""Tracking: one path for every event, whichever door it came in by.

    validate -> resolve shop and source -> resolve visitor (and its customer)
    -> sessionize -> store event (idempotent) -> apply effects (app/tracking/effects.py:
    cart, order, interests, identity linking in app/identity/linking.py, triggers)

A batch is handled per visitor: one visitor update, one insert of its events,
and bulk writes for the effects, so the storage round trips of a batch do not
grow with its size.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

import app.tracking.session_docs as session_docs
import app.tracking.session_views as session_views
import app.tracking.sessions as sessions
from app import abandonment, identity
from app.backends.metrics import EVENTS
from app.core import (
    IDENTIFY_TYPES,
    MAX_BATCH,
    PENDING_EXPIRY,
    BadInput,
    EventInput,
    EventType,
    Forbidden,
    TrackerError,
    correct_skew,
    event_key,
    from_ms,
    to_ms,
    utc,
    validate,
    visitor_key,
)
from app.platform import Platform
from app.tracking.effects import apply_effects
from app.tracking.item import Item, Outcome, TrackResult

# Types that, from an anonymous visitor, write nothing but the event (and its session).
PLAIN_TYPES = {EventType.VISIT, EventType.PRODUCT_VIEW, EventType.CATEGORY_VIEW}


async def track(
    platform: Platform,
    inputs: list[EventInput],
    *,
    sent_at: datetime | None = None,
    origin: str | None = None,
    importing: bool = False,
) -> list[Outcome]:
    """Track a batch of events, in order; an invalid item does not stop the others."""
    if len(inputs) > MAX_BATCH:
        raise BadInput(f"a batch holds at most {MAX_BATCH} events", field="events")
    now = platform.clock.now()
    outcomes = [Outcome() for _ in inputs]
    groups: dict[tuple[int, str], list[Item]] = {}
    for index, event in enumerate(inputs):
        try:
            item = await _prepare(platform, index, event, now, sent_at, origin, importing)
        except TrackerError as error:
            outcomes[index].error = error
            continue
        if isinstance(item, tuple):
            item, token_error = item
            outcomes[index].error = token_error
        groups.setdefault((item.shop.shop_id, event.context.visitor_id), []).append(item)
    visitors = [_track_visitor(platform, items) for items in groups.values()]
    # One visitor (every request of the tracker's): awaited as it is, no task made for it.
    results = [await visitors[0]] if len(visitors) == 1 else await asyncio.gather(*visitors)
    for items in results:
        for item in items:
            outcomes[item.index].result = TrackResult(
                event_id=item.event.context.event_id or "",
                duplicate=item.duplicate,
                session_id=item.session_id,
                new_session=item.new_session,
                user_id=item.user_id,
            )
    _count(inputs, outcomes)
    return outcomes


def _count(inputs: list[EventInput], outcomes: list[Outcome]) -> None:
    """`tracker_events_total`: each input once, by type and what became of it."""
    counts: dict[tuple[str, str], int] = {}
    for event, o in zip(inputs, outcomes, strict=True):
        key = (str(getattr(event.type, "value", event.type)),
               "rejected" if o.result is None else "duplicate" if o.result.duplicate
               else "stored")
        counts[key] = counts.get(key, 0) + 1
    for key, n in counts.items():
        child = _EVENT_SERIES.get(key)
        if child is None:  # `.labels()` takes a lock and checks its labels: once per pair
            child = _EVENT_SERIES[key] = EVENTS.labels(*key)
        child.inc(n)


_EVENT_SERIES: dict[tuple[str, str], Any] = {}  # (type, outcome): bounded by the enums


async def _prepare(
    platform: Platform,
    index: int,
    event: EventInput,
    now: datetime,
    sent_at: datetime | None,
    origin: str | None,
    importing: bool,
) -> Item | tuple[Item, TrackerError]:
    validate(event)
    ctx = event.context
    shop = await platform.shops.require(ctx.shop_id)
    allowed = shop.settings.allowed_origins
    if origin and not importing and allowed and origin.rstrip("/") not in allowed:
        raise Forbidden(f"origin {origin} is not allowed for shop {shop.shop_id}",
                        field="origin")
    source_id = shop.resolve_source(ctx.source_id)
    if importing:
        try:
            at = utc(ctx.occurred_at) if ctx.occurred_at else now
        except OverflowError:  # an offset at the calendar's edge, e.g. 0001-01-01T00:00+01:00
            raise BadInput("occurredAt is out of range", field="occurredAt") from None
        if at > now:
            raise BadInput("occurredAt is in the future", field="occurredAt")
    else:
        at = correct_skew(ctx.occurred_at, now, ctx.sent_at or sent_at)
    item = Item(index=index, event=event, shop=shop, source_id=source_id, at=at)
    if event.type in IDENTIFY_TYPES:
        assert event.user_id is not None
        # An import comes with the shop's key: it needs no proof from a browser.
        if shop.settings.require_signed_identify and not importing:
            identity.check_user_hash(shop.identify_secret, event.user_id, event.user_hash)
        item.links_to = event.user_id
    if ctx.identity_token and item.links_to is None:
        try:
            item.links_to = identity.verify_token(
                platform.settings.secret, ctx.identity_token, shop.shop_id, now
            )
        except Forbidden as error:
            # The event is still worth keeping; it stays anonymous.
            return item, error
    return item


async def _track_visitor(platform: Platform, items: list[Item]) -> list[Item]:
    shop = items[0].shop
    visitor_id = items[0].event.context.visitor_id
    settings = shop.settings
    timeout_ms = settings.session_timeout_seconds * 1000
    hits = [sessions.Hit(to_ms(i.at), i.event.type == EventType.VISIT) for i in items]
    first = items[0]
    final_user = next((i.links_to for i in reversed(items) if i.links_to), None)
    ruleset = await platform.rules.ruleset(shop)  # read once a batch, for the watch and the effects
    watch = abandonment.Watch.of([i.event for i in items], ruleset)

    before = await platform.storage.visitors.find_one_and_update(
        {"_id": visitor_key(shop.shop_id, visitor_id), "shopId": shop.shop_id},
        sessions.visitor_update(
            shop_id=shop.shop_id,
            visitor_id=visitor_id,
            hits=hits,
            timeout_ms=timeout_ms,
            session_fields={"sSource": first.source_id, "sLanding": first.event.context.url,
                            "sReferrer": first.event.context.referrer},
            seen_from=min(i.at for i in items),
            seen_to=max(i.at for i in items),
            user_id=final_user,
            batch_ids=[i.event.context.event_id or "" for i in items],
            watch=watch,
            views=session_views.window_of(items),
        ),
        upsert=True,
        return_document=ReturnDocument.BEFORE,
    )
    # The same batch again (a retry: the tracker resends what failed first): the visitor
    # update started again from the state before its first attempt; so does the rest.
    batch_ids = [i.event.context.event_id or "" for i in items]
    again = sessions.retried_batch(before, batch_ids[0])
    # A retry's resent events take their first attempt's times (the update kept the
    # visitor as that attempt left it when nothing newer came with them).
    times = sessions.first_times(before, batch_ids) if again else []
    sent = hits
    for index, at_ms in enumerate(times):
        items[index].at = from_ms(at_ms)
    hits = [sessions.Hit(at_ms, h.starts_visit) for at_ms, h in zip(times, sent[:len(times)],
                                                                  strict=True)]
    hits += sent[len(times):]
    before = sessions.as_before(before, bool(again))
    if times and len(times) < len(items):
        await _correct(platform, shop.shop_id, visitor_id, before, sent, hits, timeout_ms)
    previous_user = (before or {}).get("userId")
    segments = sessions.plan(sessions.Current.from_visitor(before), visitor_id, hits, timeout_ms)

    user = previous_user
    for seg in segments:
        for item in items[seg.first : seg.first + seg.size]:
            item.session_id = seg.session_id
        items[seg.first].new_session = not seg.continues_stored
    # Events are stored `pending` when effects follow; the last write of the batch clears
    # it. A duplicate still pending is one whose effects may be missing: they are
    # applied again (every effect is idempotent per event). See README "Durability".
    # A session that opens needs no mark: a retried batch restarts from the visitor's
    # state before it and writes the same session documents again.
    pending = any(map(has_effects, items))
    received = platform.clock.now()  # one reading for the batch: it arrived all at once
    for item in items:
        item.user_before = user
        if item.links_to:
            user = item.links_to
        item.user_id = user
        item.doc = _event_doc(item, settings.anonymous_history_days, received,
                              platform.settings.analytics_rollups)
        if pending:
            item.doc["pending"] = True

    session_views.annotate(before, segments, items, received)
    await _store_events(platform, items, again)
    for seg in segments:  # duplicates were stored before, in their own session
        seg.count -= sum(1 for i in items[seg.first : seg.first + seg.size]
                         if i.duplicate and i.event.context.event_id not in again)
    await session_docs.write(platform.storage, shop.shop_id, visitor_id, before, segments, items,
                         watch)
    await session_docs.restore(platform.storage, shop.shop_id, visitor_id, before,
                           [i for i in items if i.replay])
    await apply_effects(platform, shop, ruleset, visitor_id, items)
    done = [i.doc["_id"] for i in items if (pending and not i.duplicate) or i.replay]
    if done:
        await platform.storage.events.update_many(
            {"shopId": shop.shop_id, "_id": {"$in": done}}, {"$unset": {"pending": ""}})
    return items


async def _correct(platform: Platform, shop_id: int, visitor_id: str,
                   before: dict[str, Any] | None, sent: list[sessions.Hit],
                   first: list[sessions.Hit], timeout_ms: int) -> None:
    """Put the visitor's current session where the first attempt's times put it: a retry
    followed by newer events only (no round trip unless its times moved it)."""
    fix = sessions.correction(visitor_id, sessions.Current.from_visitor(before), sent, first,
                              timeout_ms)
    if fix is not None:
        where, update = fix
        await platform.storage.visitors.update_one(
            {"_id": visitor_key(shop_id, visitor_id), "shopId": shop_id, **where}, update)


def has_effects(item: Item) -> bool:
    """Whether the event writes more than itself (cart, order, interests, triggers, links)."""
    if item.links_to or item.event.type not in PLAIN_TYPES:
        return True
    return item.user_id is not None and item.event.type != EventType.VISIT


def _event_doc(item: Item, history_days: int, received_at: datetime,
               rolled: bool) -> dict[str, Any]:
    event, ctx = item.event, item.event.context
    doc: dict[str, Any] = {
        "_id": event_key(ctx.shop_id, ctx.visitor_id, ctx.event_id or ""),
        "eventId": ctx.event_id,
        "shopId": ctx.shop_id,
        "type": event.type.value,
        "visitorId": ctx.visitor_id,
        "userId": item.user_id,
        "sessionId": item.session_id,
        "sourceId": item.source_id,
        "occurredAt": item.at,
        "receivedAt": received_at,
    }
    if rolled:
        doc["rolled"] = False  # the traffic rollups count it once (app/analytics/rollups.py)
    for name, value in (
        ("categoryId", event.category_id), ("productId", event.product_id),
        ("pageName", event.page_name), ("orderId", event.order_id),
        ("eventName", event.event_name), ("quantity", event.quantity),
        ("price", event.price), ("url", ctx.url), ("referrer", ctx.referrer),
    ):
        if value is not None:
            doc[name] = value
    if event.type in IDENTIFY_TYPES:
        doc["userId"] = item.user_id
        doc["linkedFrom"] = item.user_before  # what a retried login links from
    if event.properties is not None:
        doc["properties"] = json.dumps(event.properties, separators=(",", ":"))
    if item.user_id is None:
        # Anonymous history is kept for the shop's window, then retention deletes it; not
        # before the folds that read it are done (an import may be older than the window):
        # the traffic rollups', and the co-occurrence fold's for a product view
        # (session_views.annotate marks those).
        aside = rolled or (event.type == EventType.PRODUCT_VIEW and bool(event.product_id))
        doc[PENDING_EXPIRY if aside else "expireAt"] = item.at + timedelta(days=history_days)
    return doc


async def _store_events(platform: Platform, items: list[Item], again: set[str]) -> None:
    """Insert the events; an `_id` seen before marks a duplicate, answered as first stored.

    Events of `again` (the batch's first attempt stored them) are counted in their
    session once already, by the visitor update that started over.
    """
    try:
        await platform.storage.events.insert_many([i.doc for i in items], ordered=False)
        return
    except BulkWriteError as error:
        errors = error.details["writeErrors"]
        if any(e["code"] != 11000 for e in errors):
            raise
        duplicates = [items[e["index"]] for e in errors]
    stored = {
        d["_id"]: d
        for d in await platform.storage.events.find(
            {"shopId": items[0].shop.shop_id, "_id": {"$in": [i.doc["_id"] for i in duplicates]}},
            {"sessionId": 1, "userId": 1, "pending": 1, "linkedFrom": 1},
        ).to_list(None)
    }
    # The visitor update counted them in the session they fell into; take that back
    # (before they answer with the session they were first stored in).
    current = items[-1].session_id
    recount = sum(1 for i in duplicates
                  if i.session_id == current and i.event.context.event_id not in again)
    for item in duplicates:
        item.duplicate = True
        if item.event.context.event_id in again:
            item.replay = True
        item.new_session = False
        original = stored.get(item.doc["_id"], {})
        item.session_id = original.get("sessionId", item.session_id)
        item.user_id = original.get("userId", item.user_id)
        if original.get("pending"):
            item.replay = True
            item.user_before = original.get("linkedFrom", item.user_id)
    if recount:
        await platform.storage.visitors.update_one(
            {"_id": visitor_key(items[0].shop.shop_id, items[0].event.context.visitor_id),
             "shopId": items[0].shop.shop_id, "sid": current},
            {"$inc": {"sEvents": -recount}},
        )


