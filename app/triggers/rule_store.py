"""Where a shop's trigger rules are kept, and read through a short-lived cache.

One document per shop in `triggerRules` (`_id` = `shopId` = the shop id) holds
the list of its rules. Every tracked event that may fire a trigger needs its
shop's rules, and rules change rarely, so they are cached in the process like
shops (app/shops/registry.py): changes made by this process are seen at once, those of
another process within `ttl` seconds.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.backends.storage import Storage
from app.core import BadInput, Clock, NotFound
from app.shops import Shop, Shops
from app.triggers.rules import MAX_RULES, Rule, RuleSet, changed, defaults, new_rule


class Rules:
    """The shops' trigger rules: read (seeding the defaults), cached, created, changed."""

    def __init__(self, storage: Storage, shops: Shops, clock: Clock, ttl: float = 5.0) -> None:
        self.storage = storage
        self.shops = shops
        self.clock = clock
        self.ttl = ttl
        self._cache: dict[int, tuple[float, tuple[Rule, ...]]] = {}

    async def ruleset(self, shop: Shop) -> RuleSet:
        """The shop's rules as the triggers apply them (cached)."""
        return RuleSet(await self.stored(shop.shop_id), shop.settings.abandoned_cart_delay_seconds)

    async def stored(self, shop_id: int) -> tuple[Rule, ...]:
        hit = self._cache.get(shop_id)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        rules = tuple(Rule.from_doc(d) for d in (await self._load(shop_id))["rules"])
        self._cache[shop_id] = (time.monotonic(), rules)
        return rules

    def forget(self, shop_id: int) -> None:
        self._cache.pop(shop_id, None)

    async def _load(self, shop_id: int) -> dict[str, Any]:
        """The shop's rules document, created with the default rules if it has none yet."""
        key = {"_id": shop_id, "shopId": shop_id}
        doc = await self.storage.triggerRules.find_one(key)
        if doc is not None:
            return doc
        seed = [r.to_doc() for r in defaults(self.clock.now())]
        try:
            # $setOnInsert: a process that lost the race to create it leaves the winner's alone.
            doc = await self.storage.triggerRules.find_one_and_update(
                key, {"$setOnInsert": {"rules": seed}}, upsert=True,
                return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # both inserted at once; the other one's stands
            doc = await self.storage.triggerRules.find_one(key)
        assert doc is not None
        return doc

    async def create(self, shop_id: int, given: dict[str, Any]) -> tuple[Rule, RuleSet]:
        shop = await self.shops.require_existing(shop_id)
        await self._load(shop_id)
        rule = new_rule(f"r-{secrets.token_hex(6)}", given,
                        shop.settings.abandoned_cart_delay_seconds, self.clock.now())
        # The limit is part of the write's filter: two creations at once cannot pass it.
        done = await self.storage.triggerRules.update_one(
            {"_id": shop_id, "shopId": shop_id, f"rules.{MAX_RULES - 1}": {"$exists": False}},
            {"$push": {"rules": rule.to_doc()}})
        if not done.matched_count:
            raise BadInput(f"a shop has at most {MAX_RULES} trigger rules", field="rule")
        self.forget(shop_id)
        return rule, await self.ruleset(shop)

    async def update(self, shop_id: int, rule_id: str, given: dict[str, Any]
                     ) -> tuple[Rule, RuleSet]:
        """Replace the fields given; the others stay. Checked in full before anything is written."""
        shop = await self.shops.require_existing(shop_id)
        found = self._find((await self._load(shop_id))["rules"], rule_id)
        if given.get("type") != found.type:
            raise BadInput(f"rule {rule_id} is a {found.type} rule; its type cannot change "
                           "(create another rule instead)", field="type")
        cart_delay = shop.settings.abandoned_cart_delay_seconds
        rule = changed(found, given, cart_delay)
        to_shop = given.get("delay_seconds") if found.follows_shop_delay else None
        if to_shop is not None:
            # The default cart rule's delay is the shop's setting: setting one sets both.
            rule = dataclasses.replace(rule, delay_seconds=None)
        done = await self.storage.triggerRules.update_one(
            {"_id": shop_id, "shopId": shop_id, "rules.ruleId": rule_id},
            {"$set": {"rules.$": rule.to_doc()}})
        if not done.matched_count:
            raise NotFound(f"shop {shop_id} has no trigger rule {rule_id!r}", field="ruleId")
        if to_shop is not None:
            shop = await self.shops.update_settings(shop_id,
                                                    {"abandoned_cart_delay_seconds": to_shop})
        self.forget(shop_id)
        return rule, await self.ruleset(shop)

    async def delete(self, shop_id: int, rule_id: str) -> bool:
        await self.shops.require_existing(shop_id)
        await self._load(shop_id)
        done = await self.storage.triggerRules.update_one(
            {"_id": shop_id, "shopId": shop_id, "rules.ruleId": rule_id},
            {"$pull": {"rules": {"ruleId": rule_id}}})
        if not done.matched_count:
            raise NotFound(f"shop {shop_id} has no trigger rule {rule_id!r}", field="ruleId")
        self.forget(shop_id)
        return True

    async def listed(self, shop_id: int) -> RuleSet:
        """The shop's rules, read from storage (not the cache), oldest first."""
        shop = await self.shops.require_existing(shop_id)
        self.forget(shop_id)
        return await self.ruleset(shop)

    @staticmethod
    def _find(docs: list[dict[str, Any]], rule_id: str) -> Rule:
        for doc in docs:
            if doc["ruleId"] == rule_id:
                return Rule.from_doc(doc)
        raise NotFound(f"no trigger rule {rule_id!r}", field="ruleId")
