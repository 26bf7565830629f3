"""Effects of tracked events: cart changes, orders, interests, identity linking and
triggers, for one visitor's batch, written in bulk."""

from __future__ import annotations

import json
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from app import carts, catalog, interests, recommendations, triggers
from app.attribution import order_facts, order_key_of, revenue_of
from app.audiences import after_interests
from app.core import EventType, cart_key, owner_of
from app.identity import link_visitor
from app.platform import Platform
from app.shops import Shop
from app.tracking.item import Item
from app.triggers import RuleSet


class _Effects:
    """Cart changes, interest deltas and triggers of one visitor's batch, written in bulk."""

    def __init__(self, platform: Platform, shop: Shop, visitor_id: str, ruleset: RuleSet) -> None:
        self.platform = platform
        self.shop = shop
        self.ruleset = ruleset  # which triggers the shop wants (app/triggers/rules.py)
        self.visitor_id = visitor_id
        self.cart_ops: list[UpdateOne] = []
        self.deltas: dict[str, list[interests.Delta]] = {}
        self.triggers: list[dict[str, Any]] = []  # one per event, before the rules
        self.carts_made: set[str] = set()
        self.stock_ops: list[UpdateOne] = []  # notifyInStock requests (app/catalog/stock.py)

    def owner(self, user_id: str | None) -> tuple[str, dict[str, Any]]:
        owner = owner_of(user_id, self.visitor_id)
        fields = {"shopId": self.shop.shop_id, "owner": owner, "userId": user_id,
                  "visitorId": self.visitor_id}
        return cart_key(self.shop.shop_id, owner), fields

    def interact(self, user_id: str | None, kind: str, item: Item) -> None:
        # Anonymous interactions reach the map when the visitor is identified (filing).
        if user_id is None:
            return
        deltas = interests.interactions(kind, item.event.category_id, item.event.product_id,
                                        item.at, self.shop.settings.interest_weights,
                                        self.shop.interest_frame)
        for d in deltas:
            d.source = item.doc["_id"]  # each event counts once, however often it is retried
        self.deltas.setdefault(user_id, []).extend(deltas)

    def cart_op(self, cart_id: str, owner: dict[str, Any], op: UpdateOne) -> None:
        """A cart change, guarded by its event id (app/carts.py); the cart is made first."""
        if cart_id not in self.carts_made:
            self.carts_made.add(cart_id)
            self.cart_ops.append(carts.ensure(cart_id, owner))
        self.cart_ops.append(op)

    def add_deltas(self, user_id: str, deltas: list[interests.Delta]) -> None:
        self.deltas.setdefault(user_id, []).extend(deltas)

    async def flush_carts(self) -> None:
        """Write the cart changes so far: what comes next reads the cart."""
        if self.cart_ops:
            ops, self.cart_ops = self.cart_ops, []
            self.carts_made = set()
            await self.platform.storage.carts.bulk_write(ops, ordered=True)

    async def flush(self) -> None:
        """Write everything; interest updates are increments, so one write at the end serves."""
        await self.flush_carts()
        if self.stock_ops:
            ops, self.stock_ops = self.stock_ops, []
            await self.platform.storage.stockRequests.bulk_write(ops, ordered=True)
        deltas, self.deltas = self.deltas, {}
        await interests.write(self.platform.storage.interests, self.shop.shop_id, deltas)
        # Audiences over what was touched: who entered (none: no round trip). A replayed
        # event passes here again, whether or not its deltas were written the first time.
        await after_interests(self.platform, self.shop, self.visitor_id,
                                                deltas)


async def apply_effects(
    platform: Platform, shop: Shop, ruleset: RuleSet, visitor_id: str, items: list[Item],
) -> None:
    """Apply the effects of the new events, and again those of retried ones (`replay`).

    Every write is idempotent per event, so applying an event's effects twice leaves
    what applying them once does.
    """
    effects = _Effects(platform, shop, visitor_id, ruleset)
    delay = ruleset.cart_delay()
    for item in items:
        if item.duplicate and not item.replay:
            continue
        event = item.event
        user = item.user_id
        if item.links_to and item.links_to != item.user_before:
            await effects.flush_carts()
            effects.add_deltas(item.links_to, await link_visitor(
                platform, shop, visitor_id, item.links_to, item.user_before, item.at,
                login_event=item.doc["_id"], replay=item.replay))
        cart_id, owner = effects.owner(user)
        kind = event.type
        once = item.doc["_id"]
        if kind == EventType.CATEGORY_VIEW:
            effects.interact(user, "categoryView", item)
        elif kind == EventType.PRODUCT_VIEW:
            effects.interact(user, "productView", item)
        elif kind == EventType.CART_ADD:
            effects.cart_op(cart_id, owner, carts.add(
                cart_id, owner, product_id=event.product_id or "",
                category_id=event.category_id, quantity=event.quantity or 1,
                price=event.price, at=item.at, delay_seconds=delay, event_id=once))
            effects.interact(user, "cartAdd", item)
        elif kind == EventType.CART_REMOVE:
            effects.cart_op(cart_id, owner, carts.remove(
                cart_id, owner, product_id=event.product_id or "", at=item.at,
                delay_seconds=delay, event_id=once))
        elif kind == EventType.CART_CLEAR:
            effects.cart_op(cart_id, owner, carts.clear(cart_id, owner, at=item.at,
                                                        event_id=once))
        elif kind == EventType.CHECKOUT:
            await effects.flush_carts()
            await _checkout(platform, effects, item, cart_id, owner)
        elif kind == EventType.SECTION_VIEW:
            effects.triggers.append(_event_trigger(item, triggers.SECTION_VISITED,
                                                   event.page_name))
        elif kind == EventType.STOCK_NOTIFY:
            effects.stock_ops.append(catalog.ask(shop.shop_id, event.product_id or "", user,
                                                 visitor_id, item.at))
        elif kind == EventType.CUSTOM:
            effects.triggers.append(_event_trigger(item, triggers.CUSTOM_EVENT,
                                                   event.event_name))
    await effects.flush()
    # Fanned out through the rules here, or past a bound queued as a job and answered
    # first (app/triggers/fanout.py); caps are claimed under the trigger ids either way.
    await platform.fanout.fire(shop.shop_id, ruleset, effects.triggers)


def _event_trigger(item: Item, type_: str, name: str | None, **extra: Any) -> dict[str, Any]:
    ctx = item.event.context
    return triggers.make(
        f"{ctx.shop_id}:{ctx.event_id}:{type_}", type_, ctx.shop_id, fired_at=item.at,
        visitor_id=ctx.visitor_id, user_id=item.user_id, name=name,
        properties=item.event.properties, **extra,
    )


async def _checkout(
    platform: Platform, effects: _Effects, item: Item, cart_id: str, owner: dict[str, Any],
) -> None:
    """The cart becomes an order and is emptied, safely across a crash and a retry.

    One atomic update empties the cart and keeps its items on it as `lastCheckout`
    (with the event's id); the order is then inserted from them. A retry of the event
    finds its `lastCheckout` and inserts the order if the first attempt did not get
    that far. The order's id is the customer's, or the anonymous visitor's (app/core/keys.py):
    nobody else's checkout can take it.
    """
    storage = platform.storage
    event = item.event
    once = item.doc["_id"]
    order_items = await _empty_cart(platform, item, cart_id, owner, once)
    shop_id = event.context.shop_id
    # A customer's order has the key the shop's upsertOrders gives it too: whichever
    # side stores it first, the other meets a duplicate key (app/attribution/orders.py).
    order_id = order_key_of(shop_id, item.user_id, event.context.visitor_id,
                            event.order_id or "")
    try:
        await storage.orders.insert_one({
            "_id": order_id,
            "orderId": event.order_id,
            "shopId": shop_id,
            "userId": item.user_id,
            "visitorId": event.context.visitor_id,
            "items": order_items,
            "completedAt": item.at,
            "eventKey": once,
            "status": "PLACED",
            "revenue": revenue_of(order_items),
            # Attribution decided once, with the insert (app/attribution/orders.py).
            **await order_facts(
                storage, shop_id, item.user_id, event.context.visitor_id, item.at,
                effects.shop.settings.attribution_window_seconds, item.session_id),
        })
    except DuplicateKeyError:
        stored = await storage.orders.find_one({"_id": order_id,
                                                "shopId": event.context.shop_id})
        if not stored or stored.get("eventKey") != once:
            return  # The same order again, or the shop's systems stored it first.
        order_items = stored["items"]
    # Bought together (ALSO_BOUGHT): applied once per order, like its interests.
    await recommendations.write(platform.storage.cooccurrence, event.context.shop_id,
                                recommendations.order_touches(order_items, order_id, item.at,
                                                              effects.shop.interest_frame))
    for line in order_items:
        if item.user_id is not None:
            deltas = interests.interactions(
                "purchase", line.get("categoryId"), line["productId"], item.at,
                effects.shop.settings.interest_weights, effects.shop.interest_frame)
            for d in deltas:
                d.source = order_id
            effects.add_deltas(item.user_id, deltas)
    properties = {"orderId": event.order_id}
    if isinstance(event.properties, dict):
        properties = {**event.properties, **properties}
    trigger = _event_trigger(item, triggers.ORDER_COMPLETED, event.order_id,
                             cart={"items": order_items, "status": carts.ORDERED,
                                   "updatedAt": item.at})
    trigger["properties"] = json.dumps(properties)
    effects.triggers.append(trigger)


async def _empty_cart(
    platform: Platform, item: Item, cart_id: str, owner: dict[str, Any], once: str
) -> list[dict[str, Any]]:
    """Empty the cart, once per checkout event; returns the items it had."""
    carts_ = platform.storage.carts
    shop_id = owner["shopId"]
    try:
        before = await carts_.find_one_and_update(
            {"_id": cart_id, "shopId": shop_id, "lastCheckout.eventKey": {"$ne": once}},
            carts.checkout_pipeline(owner, item.at, once),
            upsert=True, return_document=ReturnDocument.BEFORE)
    except DuplicateKeyError:  # emptied by this event's first attempt
        stored = await carts_.find_one({"_id": cart_id, "shopId": shop_id})
        return carts.items_of((stored or {}).get("lastCheckout"))
    return carts.items_of(before)
