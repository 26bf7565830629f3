"""A customer's whole record, and erasing it on request (right to be forgotten)."""

from __future__ import annotations

from app.abandonment import WATCHED
from app.core import cart_key, customer_key, owner_of
from app.platform import Platform


async def forget(platform: Platform, shop_id: int, user_id: str) -> bool:
    """Erase the customer, its events, sessions, cart, orders, interests, triggers and their
    webhook deliveries, and its rule exposures.

    Its devices are unlinked and start again as anonymous visitors. True if
    there was anything to erase.
    """
    storage = platform.storage
    found = await storage.customers.find_one_and_delete(
        {"_id": customer_key(shop_id, user_id), "shopId": shop_id})
    owned = {"shopId": shop_id, "userId": user_id}
    # Out of every audience, without a trigger (first: no exit may fire for it later).
    await storage.memberships.delete_many(owned)
    events = await storage.events.delete_many(owned)
    await storage.sessions.delete_many(owned)
    await storage.orders.delete_many(owned)
    await storage.interests.delete_many(owned)
    fired = await storage.triggers.find(owned, {"_id": 1}).to_list(None)
    if fired:  # their webhook deliveries name them (an abandoned cart's id holds the userId)
        await storage.webhook_deliveries.delete_many(
            {"shopId": shop_id, "triggerId": {"$in": [t["_id"] for t in fired]}})
    await storage.triggers.delete_many(owned)
    await storage.triggerCaps.delete_many(owned)
    # Its (rule, customer) exposures (app/attribution/contributions.py); the hourly
    # rollups hold counts only, no one's identity.
    await storage.exposures.delete_many(owned)
    cart = await storage.carts.delete_one(
        {"_id": cart_key(shop_id, owner_of(user_id, "")), "shopId": shop_id})
    # What its devices' current sessions viewed goes too (app/abandonment/watch.py).
    await storage.visitors.update_many(owned, {"$set": {"userId": None},
                                               "$unset": dict.fromkeys(WATCHED, "")})
    return bool(found) or events.deleted_count > 0 or cart.deleted_count > 0
