"""Effects of tracked events: cart changes, orders, interests, identity linking and
triggers, for one visitor's batch, written in bulk."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from app import audiences_members, carts, interests, triggers
from app.events import EventType
from app.keys import cart_key, order_key, owner_of
from app.linking import link_visitor
from app.platform import Platform
from app.shops import Shop

if TYPE_CHECKING:
    from app.tracking import Item


class _Effects:
    """Cart changes, interest deltas and triggers of one visitor's batch, written in bulk."""

    def __init__(self, platform: Platform, shop: Shop, visitor_id: str) -> None:
        self.platform = platform
        self.shop = shop
        self.visitor_id = visitor_id
        self.cart_ops: list[UpdateOne] = []
        self.deltas: dict[str, list[interests.Delta]] = {}
        self.triggers: list[dict[str, Any]] = []
        self.rechecks: dict[str, set[tuple[str, str]]] = {}  # audiences of retried events

    def owner(self, user_id: str | None) -> tuple[str, dict[str, Any]]:
        owner = owner_of(user_id, self.visitor_id)
        fields = {"shopId": self.shop.shop_id, "owner": owner, "userId": user_id,
                  "visitorId": self.visitor_id}
        return cart_key(self.shop.shop_id, owner), fields

    def interact(self, user_id: str | None, kind: str, item: Item) -> None:
        # Anonymous interactions reach the map when the visitor is identified (filing).
        if user_id is None:
            return
        self.deltas.setdefault(user_id, []).extend(interests.interactions(
            kind, item.event.category_id, item.event.product_id, item.at,
            self.shop.settings.interest_weights, self.shop.interest_frame,
        ))

    def recheck(self, item: Item) -> None:
        """A retried event: its interests may have been written and its audiences not."""
        event = item.event
        if item.user_id and self.shop.audiences:
            items = ((interests.CATEGORY, event.category_id),
                     (interests.PRODUCT, event.product_id))
            self.rechecks.setdefault(item.user_id, set()).update(
                (kind, item_id) for kind, item_id in items if item_id)

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
        deltas, rechecks = self.deltas, self.rechecks
        self.deltas, self.rechecks = {}, {}
        if ops:
            await storage.interests.bulk_write(ops, ordered=False)
        # Audiences over what was touched: who entered (none: no round trip).
        await audiences_members.after_interests(self.platform, self.shop, self.visitor_id,
                                                deltas, rechecks)


async def apply_effects(
    platform: Platform, shop: Shop, visitor_id: str, previous_user: str | None,
    items: list[Item],
) -> None:
    effects = _Effects(platform, shop, visitor_id)
    delay = shop.settings.abandoned_cart_delay_seconds
    user = previous_user
    for item in items:
        if item.duplicate:
            effects.recheck(item)
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
    await platform.outbox.record(effects.triggers)


def _event_trigger(item: Item, type_: str, name: str | None, **extra: Any) -> dict[str, Any]:
    ctx = item.event.context
    return triggers.make(
        f"{ctx.shop_id}:{ctx.event_id}:{type_}", type_, ctx.shop_id, fired_at=item.at,
        visitor_id=ctx.visitor_id, user_id=item.user_id, name=name,
        properties=item.event.properties, **extra,
    )


async def _checkout(
    platform: Platform, effects: _Effects, item: Item, cart_id: str, owner: dict[str, Any],
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
                effects.shop.settings.interest_weights, effects.shop.interest_frame))
    properties = {"orderId": event.order_id}
    if isinstance(event.properties, dict):
        properties = {**event.properties, **properties}
    trigger = _event_trigger(item, triggers.ORDER_COMPLETED, event.order_id,
                             cart={"items": order_items, "status": carts.ORDERED,
                                   "updatedAt": item.at})
    trigger["properties"] = json.dumps(properties)
    effects.triggers.append(trigger)


