"""The abandoned-cart clock.

A cart is abandoned when it has items, belongs to an identified customer, and
has not changed (nor been checked out) for the shop's `abandonedCartDelaySeconds`.
Every change sets `dueAt` and bumps `version` (app/carts.py); this worker fires
what is due: each enabled ABANDONED_CART rule (app/triggers/rules.py) fires once its own
delay has passed since the cart's last change, so a cart is due again after a
firing while a rule with a longer delay is still to come. It finds due carts
through the index on `dueAt`, so its cost grows with the carts due, not with the
carts kept.

Exactly once, with any number of processes: the trigger's id is the cart and its
version (and the rule, for a rule other than the default one), so when several
processes find the same due cart, only the first insert of that id succeeds and
only that process publishes it. The cart is then settled (`dueAt` cleared or moved
to its next rule, status ABANDONED) with one update conditional on the version it
had, so a change made meanwhile keeps its own clock. A process that dies between
the insert and the settling leaves the cart due; the next tick finds the trigger
stored already and only settles it (the outbox sweep publishes it if need be).

An anonymous cart that falls due is set aside (`dueAt` cleared) without firing;
identification merges it into the customer's cart and restarts the clock from
its last change (app/carts.py `merged`), so it fires then if it is still abandoned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne

from app import carts, triggers
from app.core import utc
from app.platform import Platform
from app.triggers import RuleSet, caps, with_rule

BATCH = 1000
MAX_BATCHES = 20  # per tick; what is left waits for the next tick


def due_query(now: datetime) -> dict[str, Any]:
    """Carts due at `now`; served by the `dueAt` index (null never compares <= a date)."""
    return {"dueAt": {"$lte": now}}


def trigger_id(cart: dict[str, Any]) -> str:
    return f"{cart['_id']}:{cart.get('version', 0)}"


async def fire_due(platform: Platform, limit: int = BATCH) -> int:
    """Fire the abandoned carts that are due; returns how many fired in this process."""
    fired = 0
    for _ in range(MAX_BATCHES):
        found, fresh = await _fire_batch(platform, limit)
        fired += fresh
        if found < limit:
            break
    return fired


async def _fire_batch(platform: Platform, limit: int) -> tuple[int, int]:
    """One batch in three round trips: find, store the triggers, settle the carts
    (and one for the caps of the rules that have them)."""
    storage = platform.storage
    now = platform.clock.now()
    due = await storage.carts.find(due_query(now)).sort("dueAt", 1).limit(limit).to_list(limit)
    if not due:
        return 0, 0
    rulesets = await _rulesets(platform, {cart["shopId"] for cart in due})
    fired: list[dict[str, Any]] = []
    settle: list[UpdateOne] = []
    for cart in due:
        found, update = _settled(cart, now, rulesets.get(cart["shopId"]))
        fired += found
        settle.append(UpdateOne({"_id": cart["_id"], "shopId": cart["shopId"],
                                 "version": cart.get("version", 0)},
                                {"$set": update}))
    admitted = await caps.admit(storage, fired,
                                lambda doc: rulesets[doc["shopId"]].cap_of(doc["ruleId"]))
    fresh = await platform.outbox.record(admitted)
    await storage.carts.bulk_write(settle, ordered=False)
    return len(due), len(fresh)


async def _rulesets(platform: Platform, shop_ids: set[int]) -> dict[int, RuleSet]:
    out = {}
    for shop_id in shop_ids:
        shop = await platform.shops.get(shop_id)
        if shop is not None:
            out[shop_id] = await platform.rules.ruleset(shop)
    return out


def _settled(cart: dict[str, Any], now: datetime, ruleset: RuleSet | None
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The triggers a due cart fires, and how it is left: its next due time, if a rule
    with a longer delay is still to come, and ABANDONED once the shop's delay is over."""
    items = carts.items_of(cart)
    if not items or not cart.get("userId") or ruleset is None:
        return [], {"dueAt": None}  # nothing, or nobody to write to yet (see above)
    changed = utc(cart["updatedAt"])
    delays = {rule.rule_id: ruleset.delay_of(rule) or 0
              for rule in ruleset.enabled(triggers.ABANDONED_CART)}
    later = [d for d in (*delays.values(), ruleset.shop_cart_delay)
             if changed + timedelta(seconds=d) > now]
    update: dict[str, Any] = {"dueAt": changed + timedelta(seconds=min(later)) if later else None}
    if changed + timedelta(seconds=ruleset.shop_cart_delay) <= now:
        update["status"] = carts.ABANDONED
    base = triggers.make(
        trigger_id(cart), triggers.ABANDONED_CART, cart["shopId"], fired_at=now,
        visitor_id=cart.get("visitorId") or "", user_id=cart.get("userId"),
        cart={"items": items, "status": carts.ABANDONED, "updatedAt": cart["updatedAt"]},
    )
    fired = [with_rule(base, rule) for rule in ruleset.enabled(triggers.ABANDONED_CART)
             if changed + timedelta(seconds=delays[rule.rule_id]) <= now]
    return fired, update
