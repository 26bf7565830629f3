"""Identity linking: a visitor becomes a customer's, and brings its recent history along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from app import carts, interests
from app.backends.storage import duplicate_indexes
from app.core import PENDING_EXPIRY, EventType, cart_key, customer_key, order_key, owner_of, utc
from app.platform import Platform
from app.shops import Shop

MERGE_ROUNDS = 5  # anonymous carts taken per login (more only if the visitor adds meanwhile)


async def link_visitor(
    platform: Platform, shop: Shop, visitor_id: str, user_id: str,
    previous_user: str | None, at: datetime, login_event: str = "", replay: bool = False,
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
    cutoff = days_before(at, shop.settings.anonymous_history_days)
    # Deterministic: a retried login finds what its first attempt filed.
    marker = f"{login_event}:{user_id}"
    anonymous = {"shopId": shop_id, "visitorId": visitor_id, "userId": None}
    filed_fields: dict[str, Any] = {"userId": user_id, "filing": marker}
    if platform.settings.analytics_rollups:
        filed_fields["idRolled"] = False  # the rollups count the visitor identified there
    filing = await storage.events.update_many(
        {**anonymous, "occurredAt": {"$gte": cutoff}},
        {"$set": filed_fields, "$unset": {"expireAt": "", PENDING_EXPIRY: ""}},
    )
    filed = await storage.events.find(
        {"shopId": shop_id, "visitorId": visitor_id, "filing": marker},
        {"type": 1, "categoryId": 1, "productId": 1, "occurredAt": 1, "orderId": 1},
    ).to_list(None) if filing.modified_count or replay else []
    deltas = [d for doc in filed
              for d in interests.from_event({**doc, "occurredAt": utc(doc["occurredAt"])},
                                            shop.settings.interest_weights, shop.interest_frame)]
    deltas += await _file_orders(platform, shop, visitor_id, user_id, filed)
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
    await _merge_carts(platform, shop, visitor_id, user_id, previous_user, login_event)
    # The customer was first seen with the first event filed under it.
    first_seen = min([at, *(utc(d["occurredAt"]) for d in filed)])
    await storage.customers.update_one(
        {"_id": customer_key(shop_id, user_id), "shopId": shop_id},
        {"$setOnInsert": {"shopId": shop_id, "userId": user_id},
         "$min": {"firstSeenAt": first_seen}, "$max": {"lastSeenAt": at},
         "$addToSet": {"visitorIds": visitor_id}},
        upsert=True,
    )
    if previous_user and previous_user != user_id:
        await storage.customers.update_one(
            {"_id": customer_key(shop_id, previous_user), "shopId": shop_id},
            {"$pull": {"visitorIds": visitor_id}}
        )
    return deltas


def days_before(at: datetime, days: int) -> datetime:
    """`days` before `at`, or the calendar's first day for a date near it (year 1)."""
    try:
        return at - timedelta(days=days)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


async def _file_orders(
    platform: Platform, shop: Shop, visitor_id: str, user_id: str, filed: list[dict[str, Any]]
) -> list[interests.Delta]:
    """The anonymous orders of filed checkouts become the customer's, with their purchases.

    Orders filed by an earlier attempt of this login count again: their purchases are
    applied once per order all the same (the interest docs remember their sources).
    """
    ids = [order_key(shop.shop_id, visitor_id, d["orderId"]) for d in filed
           if d["type"] == EventType.CHECKOUT.value and d.get("orderId")]
    if not ids:
        return []
    orders = platform.storage.orders
    found = await orders.find({"shopId": shop.shop_id, "_id": {"$in": ids},
                               "userId": {"$in": [None, user_id]}}).to_list(None)
    if not found:
        return []
    await orders.update_many({"shopId": shop.shop_id,
                              "_id": {"$in": [o["_id"] for o in found]}, "userId": None},
                             {"$set": {"userId": user_id}})
    deltas = []
    for o in found:
        for line in o.get("items", []):
            for d in interests.interactions("purchase", line.get("categoryId"),
                                            line["productId"], utc(o["completedAt"]),
                                            shop.settings.interest_weights,
                                            shop.interest_frame):
                d.source = o["_id"]
                deltas.append(d)
    return deltas


async def _merge_carts(
    platform: Platform, shop: Shop, visitor_id: str, user_id: str, previous_user: str | None,
    login_event: str,
) -> None:
    """The visitor's anonymous cart joins the customer's, with no lost update.

    Two writes, each atomic on one cart: the anonymous cart's items are taken aside
    (`carts.take_pipeline`), then added to the customer's cart as stored
    (`carts.merge_pipeline`, applied once per login and take), in the same round trip
    as the delete of the emptied anonymous cart (if nothing was added to it meanwhile).
    A change made to the customer's cart from another device at the same time is kept.
    """
    if previous_user is not None:
        return  # The visitor's cart was its customer's; it stays there.
    carts_ = platform.storage.carts
    shop_id = shop.shop_id
    anon_id = cart_key(shop_id, owner_of(None, visitor_id))
    mine_id = cart_key(shop_id, owner_of(user_id, visitor_id))
    owner = {"shopId": shop_id, "owner": owner_of(user_id, visitor_id),
             "userId": user_id, "visitorId": visitor_id}
    cart_delay = (await platform.rules.ruleset(shop)).cart_delay()  # its first rule's
    for _ in range(MERGE_ROUNDS):
        anonymous = await carts_.find_one_and_update(
            {"_id": anon_id, "shopId": shop_id}, carts.take_pipeline(),
            return_document=ReturnDocument.AFTER)
        if anonymous is None:
            return
        taken = anonymous["lastMerge"]
        emptied = DeleteOne({"_id": anon_id, "shopId": shop_id,
                             "version": anonymous["version"]})
        ops: list[Any] = [emptied]
        if carts.items_of(taken):
            marker = f"{login_event}:merge:{taken['version']}"
            ops.insert(0, UpdateOne(
                {"_id": mine_id, "shopId": shop_id, "appliedEvents": {"$ne": marker}},
                carts.merge_pipeline(taken, owner, cart_delay, marker), upsert=True))
        # Else nothing to add: the customer's cart, and its abandoned-cart clock, stay.
        try:
            result = await carts_.bulk_write(ops, ordered=False)
            deleted = result.deleted_count
        except BulkWriteError as error:  # the merge was applied by an earlier attempt
            duplicate_indexes(error)  # raises any refusal but a duplicate key
            deleted = error.details["nRemoved"]
        if deleted:
            return
        # Items were added to the anonymous cart after it was taken (the visitor's other
        # request): the taken ones are merged; take the new ones in the next round.
        await carts_.update_one({"_id": anon_id, "shopId": shop_id,
                                 "lastMerge.version": taken["version"]},
                                {"$unset": {"lastMerge": ""}})
