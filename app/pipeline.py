"""One path for every tracked event, whichever door it came in by.

    validate -> resolve shop and source -> resolve visitor (and its customer)
    -> sessionize -> store event (idempotent) -> apply effects (cart, order,
    interests, identity linking) -> emit triggers

A batch is handled per visitor: one visitor update, one insert of its events,
and bulk writes for the effects, so the storage round trips of a batch do not
grow with its size.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import DeleteOne, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from app import carts, identity, interests, sessions, triggers
from app.clock import correct_skew, from_ms, to_ms, utc
from app.errors import BadInput, Forbidden, TrackerError
from app.events import IDENTIFY_TYPES, MAX_BATCH, EventInput, EventType, validate
from app.platform import Platform
from app.shops import Shop
from app.storage import (
    cart_key,
    customer_key,
    event_key,
    order_key,
    owner_of,
    session_key,
    visitor_key,
)


@dataclass
class TrackResult:
    event_id: str
    duplicate: bool
    session_id: str
    new_session: bool
    user_id: str | None


@dataclass
class Outcome:
    """What became of one input: a result, an error, or both (stored, but the token was bad)."""

    result: TrackResult | None = None
    error: TrackerError | None = None


@dataclass
class _Item:
    index: int
    event: EventInput
    shop: Shop
    source_id: str
    at: datetime
    links_to: str | None = None
    user_id: str | None = None
    session_id: str = ""
    new_session: bool = False
    duplicate: bool = False
    doc: dict[str, Any] = field(default_factory=dict)


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
    groups: dict[tuple[int, str], list[_Item]] = {}
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
    results = await asyncio.gather(*(_track_visitor(platform, items) for items in groups.values()))
    for items in results:
        for item in items:
            outcomes[item.index].result = TrackResult(
                event_id=item.event.context.event_id or "",
                duplicate=item.duplicate,
                session_id=item.session_id,
                new_session=item.new_session,
                user_id=item.user_id,
            )
    return outcomes


async def _prepare(
    platform: Platform,
    index: int,
    event: EventInput,
    now: datetime,
    sent_at: datetime | None,
    origin: str | None,
    importing: bool,
) -> _Item | tuple[_Item, TrackerError]:
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
    item = _Item(index=index, event=event, shop=shop, source_id=source_id, at=at)
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


async def _track_visitor(platform: Platform, items: list[_Item]) -> list[_Item]:
    shop = items[0].shop
    visitor_id = items[0].event.context.visitor_id
    settings = shop.settings
    timeout_ms = settings.session_timeout_seconds * 1000
    hits = [sessions.Hit(to_ms(i.at), i.event.type == EventType.VISIT) for i in items]
    first = items[0]
    final_user = next((i.links_to for i in reversed(items) if i.links_to), None)

    before = await platform.storage.visitors.find_one_and_update(
        {"_id": visitor_key(shop.shop_id, visitor_id)},
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
        ),
        upsert=True,
        return_document=ReturnDocument.BEFORE,
    )
    previous_user = (before or {}).get("userId")
    segments = sessions.plan(sessions.Current.from_visitor(before), visitor_id, hits, timeout_ms)

    user = previous_user
    for seg in segments:
        for item in items[seg.first : seg.first + seg.size]:
            item.session_id = seg.session_id
        items[seg.first].new_session = not seg.continues_stored
    for item in items:
        if item.links_to:
            user = item.links_to
        item.user_id = user
        item.doc = _event_doc(item, settings.anonymous_history_days, platform.clock.now())

    await _store_events(platform, items)
    for seg in segments:  # duplicates were stored before, in their own session
        seg.count -= sum(1 for i in items[seg.first : seg.first + seg.size] if i.duplicate)
    await _write_sessions(platform, shop, visitor_id, before, segments, items)
    await _apply_effects(platform, shop, visitor_id, previous_user, items)
    return items


def _event_doc(item: _Item, history_days: int, received_at: datetime) -> dict[str, Any]:
    event, ctx = item.event, item.event.context
    doc: dict[str, Any] = {
        "_id": event_key(ctx.shop_id, ctx.event_id or ""),
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
    if event.properties is not None:
        doc["properties"] = json.dumps(event.properties, separators=(",", ":"))
    if item.user_id is None:
        # Anonymous history is kept for the shop's window, then retention deletes it.
        doc["expireAt"] = item.at + timedelta(days=history_days)
    return doc


async def _store_events(platform: Platform, items: list[_Item]) -> None:
    """Insert the events; an `_id` seen before marks a duplicate, answered as first stored."""
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
            {"_id": {"$in": [i.doc["_id"] for i in duplicates]}},
            {"sessionId": 1, "userId": 1},
        ).to_list(None)
    }
    # The visitor update counted them in the session they fell into; take that back
    # (before they answer with the session they were first stored in).
    current = items[-1].session_id
    recount = sum(1 for i in duplicates if i.session_id == current)
    for item in duplicates:
        item.duplicate = True
        item.new_session = False
        original = stored.get(item.doc["_id"], {})
        item.session_id = original.get("sessionId", item.session_id)
        item.user_id = original.get("userId", item.user_id)
    if recount:
        await platform.storage.visitors.update_one(
            {"_id": visitor_key(items[0].shop.shop_id, items[0].event.context.visitor_id),
             "sid": current},
            {"$inc": {"sEvents": -recount}},
        )


async def _write_sessions(
    platform: Platform,
    shop: Shop,
    visitor_id: str,
    before: dict[str, Any] | None,
    segments: list[sessions.Segment],
    items: list[_Item],
) -> None:
    """Record sessions that open, and close the ones they follow.

    The current session's counters live on the visitor document; a session
    document gets its final counters when the next one opens.
    """
    ops: list[UpdateOne] = []
    previous = sessions.Current.from_visitor(before)
    opened = [s for s in segments if not s.continues_stored]
    if not opened:
        return
    if previous and not segments[0].continues_stored:
        ops.append(_close(shop.shop_id, previous.session_id, previous.last_ms, previous.events))
    for seg in segments:
        if seg is segments[-1]:
            break
        if seg.continues_stored:
            ops.append(_close(shop.shop_id, seg.session_id, seg.last_ms, seg.count))
    for seg in opened:
        head = items[seg.first]
        doc = {
            "sessionId": seg.session_id,
            "shopId": shop.shop_id,
            "visitorId": visitor_id,
            "userId": head.user_id,
            "sourceId": head.source_id,
            "startedAt": from_ms(seg.start_ms),
            "landingUrl": head.event.context.url,
            "referrer": head.event.context.referrer,
        }
        counters = {"lastEventAt": from_ms(seg.last_ms), "eventsCount": seg.count}
        ops.append(UpdateOne(
            {"_id": session_key(shop.shop_id, seg.session_id)},
            {"$setOnInsert": doc, "$set": counters},
            upsert=True,
        ))
    await platform.storage.sessions.bulk_write(ops, ordered=True)


def _close(shop_id: int, session_id: str, last_ms: int, events: int) -> UpdateOne:
    return UpdateOne(
        {"_id": session_key(shop_id, session_id)},
        {"$set": {"lastEventAt": from_ms(last_ms), "eventsCount": events}},
    )


class _Effects:
    """Cart changes, interest deltas and triggers of one visitor's batch, written in bulk."""

    def __init__(self, platform: Platform, shop: Shop, visitor_id: str) -> None:
        self.platform = platform
        self.shop = shop
        self.visitor_id = visitor_id
        self.cart_ops: list[UpdateOne] = []
        self.deltas: dict[str, list[interests.Delta]] = {}
        self.triggers: list[dict[str, Any]] = []

    def owner(self, user_id: str | None) -> tuple[str, dict[str, Any]]:
        owner = owner_of(user_id, self.visitor_id)
        fields = {"shopId": self.shop.shop_id, "owner": owner, "userId": user_id,
                  "visitorId": self.visitor_id}
        return cart_key(self.shop.shop_id, owner), fields

    def interact(self, user_id: str | None, kind: str, item: _Item) -> None:
        # Anonymous interactions reach the map when the visitor is identified (filing).
        if user_id is None:
            return
        self.deltas.setdefault(user_id, []).extend(interests.interactions(
            kind, item.event.category_id, item.event.product_id, item.at,
            self.shop.settings.interest_weights,
        ))

    def add_deltas(self, user_id: str, deltas: list[interests.Delta]) -> None:
        self.deltas.setdefault(user_id, []).extend(deltas)

    async def flush_carts(self) -> None:
        """Write the cart changes so far: what comes next reads the cart."""
        if self.cart_ops:
            ops, self.cart_ops = self.cart_ops, []
            await self.platform.storage.carts.bulk_write(ops, ordered=True)

    async def flush(self) -> None:
        """Write everything; interest updates are increments, so one write at the end serves."""
        storage = self.platform.storage
        await self.flush_carts()
        ops = [op for user_id, deltas in self.deltas.items()
               for op in interests.updates(self.shop.shop_id, user_id, deltas)]
        self.deltas = {}
        if ops:
            await storage.interests.bulk_write(ops, ordered=False)


async def _apply_effects(
    platform: Platform, shop: Shop, visitor_id: str, previous_user: str | None,
    items: list[_Item],
) -> None:
    effects = _Effects(platform, shop, visitor_id)
    delay = shop.settings.abandoned_cart_delay_seconds
    user = previous_user
    for item in items:
        if item.duplicate:
            continue
        event = item.event
        if item.links_to and item.links_to != user:
            await effects.flush_carts()
            effects.add_deltas(item.links_to, await link_visitor(
                platform, shop, visitor_id, item.links_to, user, item.at))
            user = item.links_to
        cart_id, owner = effects.owner(user)
        kind = event.type
        if kind == EventType.CATEGORY_VIEW:
            effects.interact(user, "categoryView", item)
        elif kind == EventType.PRODUCT_VIEW:
            effects.interact(user, "productView", item)
        elif kind == EventType.CART_ADD:
            effects.cart_ops.append(carts.add(
                cart_id, owner, product_id=event.product_id or "",
                category_id=event.category_id, quantity=event.quantity or 1,
                price=event.price, at=item.at, delay_seconds=delay))
            effects.interact(user, "cartAdd", item)
        elif kind == EventType.CART_REMOVE:
            effects.cart_ops.append(carts.remove(
                cart_id, owner, product_id=event.product_id or "", at=item.at,
                delay_seconds=delay))
        elif kind == EventType.CART_CLEAR:
            effects.cart_ops.append(carts.clear(cart_id, owner, at=item.at))
        elif kind == EventType.CHECKOUT:
            await effects.flush_carts()
            await _checkout(platform, effects, item, cart_id, owner, user)
        elif kind == EventType.SECTION_VIEW:
            effects.triggers.append(_event_trigger(item, triggers.SECTION_VISITED,
                                                   event.page_name))
        elif kind == EventType.CUSTOM:
            effects.triggers.append(_event_trigger(item, triggers.CUSTOM_EVENT, event.event_name))
    await effects.flush()
    await platform.triggers.record(effects.triggers)


def _event_trigger(item: _Item, type_: str, name: str | None, **extra: Any) -> dict[str, Any]:
    ctx = item.event.context
    return triggers.make(
        f"{ctx.shop_id}:{ctx.event_id}:{type_}", type_, ctx.shop_id, fired_at=item.at,
        visitor_id=ctx.visitor_id, user_id=item.user_id, name=name,
        properties=item.event.properties, **extra,
    )


async def _checkout(
    platform: Platform, effects: _Effects, item: _Item, cart_id: str, owner: dict[str, Any],
    user: str | None,
) -> None:
    """The cart becomes an order and is emptied."""
    storage = platform.storage
    event = item.event
    before = await storage.carts.find_one_and_update(
        {"_id": cart_id},
        {"$set": {**owner, "items": {}, "updatedAt": item.at, "status": carts.ORDERED,
                  "dueAt": None}, "$inc": {"version": 1}},
        upsert=True,
        return_document=ReturnDocument.BEFORE,
    )
    order_items = carts.items_of(before)
    try:
        await storage.orders.insert_one({
            "_id": order_key(event.context.shop_id, event.order_id or ""),
            "orderId": event.order_id,
            "shopId": event.context.shop_id,
            "userId": user,
            "visitorId": event.context.visitor_id,
            "items": order_items,
            "completedAt": item.at,
        })
    except DuplicateKeyError:
        return  # The same order again: it was completed once.
    for line in order_items:
        if user is not None:
            effects.add_deltas(user, interests.interactions(
                "purchase", line.get("categoryId"), line["productId"], item.at,
                effects.shop.settings.interest_weights))
    properties = {"orderId": event.order_id}
    if isinstance(event.properties, dict):
        properties = {**event.properties, **properties}
    trigger = _event_trigger(item, triggers.ORDER_COMPLETED, event.order_id,
                             cart={"items": order_items, "status": carts.ORDERED,
                                   "updatedAt": item.at})
    trigger["properties"] = json.dumps(properties)
    effects.triggers.append(trigger)


async def link_visitor(
    platform: Platform, shop: Shop, visitor_id: str, user_id: str,
    previous_user: str | None, at: datetime,
) -> list[interests.Delta]:
    """Identity linking: the visitor is this customer from now on.

    The visitor's anonymous events of the shop's `anonymousHistoryDays` before
    `at` are filed under the customer; its anonymous cart is merged into the
    customer's. What was filed under an earlier customer stays there. Returns
    what the filed history adds to the customer's interest map, for the caller
    to write with its own interest updates. The cost is a fixed number of
    round trips, whatever the number of events filed.
    """
    storage = platform.storage
    shop_id = shop.shop_id
    cutoff = at - timedelta(days=shop.settings.anonymous_history_days)
    marker = f"{to_ms(platform.clock.now())}:{visitor_id}:{user_id}"
    anonymous = {"shopId": shop_id, "visitorId": visitor_id, "userId": None}
    filing = await storage.events.update_many(
        {**anonymous, "occurredAt": {"$gte": cutoff}},
        {"$set": {"userId": user_id, "filing": marker}, "$unset": {"expireAt": ""}},
    )
    filed = await storage.events.find(
        {"shopId": shop_id, "visitorId": visitor_id, "filing": marker},
        {"type": 1, "categoryId": 1, "productId": 1, "occurredAt": 1, "orderId": 1},
    ).to_list(None) if filing.modified_count else []
    deltas = [d for doc in filed
              for d in interests.from_event({**doc, "occurredAt": utc(doc["occurredAt"])},
                                            shop.settings.interest_weights)]
    deltas += await _file_orders(platform, shop, user_id, filed)
    if filed:
        await storage.sessions.update_many(
            {"shopId": shop_id, "visitorId": visitor_id, "userId": None},
            {"$set": {"userId": user_id}},
        )
        # Triggers the filed events fired (sections, custom events) are the customer's too.
        await storage.triggers.update_many(
            {"shopId": shop_id, "visitorId": visitor_id, "userId": None,
             "firedAt": {"$gte": cutoff}},
            {"$set": {"userId": user_id}},
        )
    await _merge_carts(platform, shop, visitor_id, user_id, previous_user)
    # The customer was first seen with the first event filed under it.
    first_seen = min([at, *(utc(d["occurredAt"]) for d in filed)])
    await storage.customers.update_one(
        {"_id": customer_key(shop_id, user_id)},
        {"$setOnInsert": {"shopId": shop_id, "userId": user_id},
         "$min": {"firstSeenAt": first_seen}, "$max": {"lastSeenAt": at},
         "$addToSet": {"visitorIds": visitor_id}},
        upsert=True,
    )
    if previous_user and previous_user != user_id:
        await storage.customers.update_one(
            {"_id": customer_key(shop_id, previous_user)}, {"$pull": {"visitorIds": visitor_id}}
        )
    return deltas


async def _file_orders(
    platform: Platform, shop: Shop, user_id: str, filed: list[dict[str, Any]]
) -> list[interests.Delta]:
    """The anonymous orders of filed checkouts become the customer's, with their purchases."""
    ids = [order_key(shop.shop_id, d["orderId"]) for d in filed
           if d["type"] == EventType.CHECKOUT.value and d.get("orderId")]
    if not ids:
        return []
    orders = platform.storage.orders
    found = await orders.find({"_id": {"$in": ids}, "userId": None}).to_list(None)
    if not found:
        return []
    await orders.update_many({"_id": {"$in": [o["_id"] for o in found]}, "userId": None},
                             {"$set": {"userId": user_id}})
    return [d for o in found for line in o.get("items", [])
            for d in interests.interactions("purchase", line.get("categoryId"), line["productId"],
                                            utc(o["completedAt"]),
                                            shop.settings.interest_weights)]


async def _merge_carts(
    platform: Platform, shop: Shop, visitor_id: str, user_id: str, previous_user: str | None
) -> None:
    if previous_user is not None:
        return  # The visitor's cart was its customer's; it stays there.
    storage = platform.storage
    anon_id = cart_key(shop.shop_id, owner_of(None, visitor_id))
    mine_id = cart_key(shop.shop_id, owner_of(user_id, visitor_id))
    docs = {d["_id"]: d for d in await storage.carts.find(
        {"_id": {"$in": [anon_id, mine_id]}}).to_list(2)}
    anonymous = docs.get(anon_id)
    if anonymous is None:
        return
    if not carts.items_of(anonymous):
        # Nothing to add: the customer's cart, and its abandoned-cart clock, stay as they are.
        await storage.carts.delete_one({"_id": anon_id})
        return
    owner = {"shopId": shop.shop_id, "owner": owner_of(user_id, visitor_id),
             "userId": user_id, "visitorId": visitor_id}
    merged = carts.merged(anonymous, docs.get(mine_id), owner,
                          shop.settings.abandoned_cart_delay_seconds)
    await storage.carts.bulk_write(
        [ReplaceOne({"_id": mine_id}, merged, upsert=True), DeleteOne({"_id": anon_id})],
        ordered=True,
    )
