"""Shops and their event sources; their settings are app/shops/settings.py, their keys
app/shops/api_keys.py."""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

import app.shops.ids as shop_ids
from app.backends.storage import Storage
from app.core import CO_PENDING, LRU, PENDING_EXPIRY, BadInput, Clock, NotFound
from app.interests import DEFAULT_FRAME, HALF_LIFE_SECONDS, Frame
from app.shops.api_keys import MAX_SHOP_ID, hash_key, new_shop_key
from app.shops.settings import SETTING_CHECKS, STORED_NAMES, ShopSettings

ID_ROUNDS = 5  # automatic shop ids tried before giving up (each skips every id taken)
MAX_CACHED_SHOPS = 10_000
SOURCE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

@dataclass
class Source:
    source_id: str
    name: str
    domain: str | None = None
    active: bool = True


@dataclass
class Shop:
    shop_id: int
    name: str
    default_source_id: str
    sources: list[Source]
    settings: ShopSettings
    identify_secret: str
    key_hashes: list[str]
    interest_epoch: float = DEFAULT_FRAME.epoch  # moved when the half-life changes
    audiences: list[dict[str, Any]] = field(default_factory=list)  # app/audiences/definitions.py
    has_catalog: bool = False  # set by its first products (app/catalog/store.py)

    @property
    def interest_frame(self) -> Frame:
        return Frame(self.interest_epoch, float(self.settings.interest_half_life_seconds))

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Shop:
        return cls(
            shop_id=doc["_id"],
            name=doc["name"],
            default_source_id=doc["defaultSourceId"],
            sources=[
                Source(s["sourceId"], s["name"], s.get("domain"), s.get("active", True))
                for s in doc.get("sources", [])
            ],
            settings=ShopSettings.from_doc(doc.get("settings", {})),
            identify_secret=doc["identifySecret"],
            key_hashes=list(doc.get("keyHashes", [])),
            interest_epoch=doc.get("interestEpoch", DEFAULT_FRAME.epoch),
            audiences=list(doc.get("audiences", [])),
            has_catalog=bool(doc.get("hasCatalog", False)),
        )

    def resolve_source(self, source_id: str | None) -> str:
        """The source an event is filed under; unknown or inactive sources are refused."""
        wanted = source_id or self.default_source_id
        for source in self.sources:
            if source.source_id == wanted:
                if not source.active:
                    raise BadInput(f"event source {wanted!r} of shop {self.shop_id} is inactive")
                return wanted
        raise BadInput(f"shop {self.shop_id} has no event source {wanted!r}")

    def accepts_key(self, key: str) -> bool:
        digest = hash_key(key)
        return any(hmac.compare_digest(digest, h) for h in self.key_hashes)


class ShopIdTaken(BadInput):
    """The shop id asked for (or drawn from the counter) belongs to another shop."""


class Shops:
    """Shop documents, read through a short-lived in-process cache.

    Every tracked event needs its shop; shops change rarely. Changes made by this
    process are visible at once, changes made by another process within `ttl`.
    Only shops that exist are kept, at most `max_cached` of them (the least recently
    used go first): ids that anyone may name must not fill the memory.
    """

    def __init__(self, storage: Storage, ttl: float = 5.0,
                 max_cached: int = MAX_CACHED_SHOPS, clock: Clock | None = None) -> None:
        self.storage = storage
        self.ttl = ttl
        self.clock = clock or Clock()
        self._cache: LRU[int, tuple[float, Shop]] = LRU(max_cached)

    async def get(self, shop_id: int) -> Shop | None:
        hit = self._cache.get(shop_id)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        doc = await self.storage.shops.find_one({"_id": shop_id})
        if not doc:
            self._cache.pop(shop_id)
            return None
        shop = Shop.from_doc(doc)
        self._cache.put(shop_id, (time.monotonic(), shop))
        return shop

    def cached_ids(self) -> list[int]:
        return self._cache.keys()

    async def require(self, shop_id: int) -> Shop:
        shop = await self.get(shop_id)
        if shop is None:
            raise BadInput(f"unknown shop {shop_id}", field="shopId")
        return shop

    async def require_existing(self, shop_id: int) -> Shop:
        shop = await self.get(shop_id)
        if shop is None:
            raise NotFound(f"shop {shop_id} does not exist")
        return shop

    def forget(self, shop_id: int) -> None:
        self._cache.pop(shop_id)

    async def create(
        self, name: str, shop_id: int | None = None, source_id: str = "site"
    ) -> tuple[Shop, str]:
        """Create a shop with one default source; returns it and its key (shown once)."""
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise BadInput("name must be 1 to 200 characters", field="name")
        if shop_id is not None:
            return await self._insert(name, shop_id, source_id)
        for _ in range(ID_ROUNDS):
            try:
                return await self._insert(name, await shop_ids.next_id(self.storage),
                                          source_id)
            except ShopIdTaken:
                await shop_ids.skip_taken(self.storage)
        raise RuntimeError("no free shop id after several rounds")  # INTERNAL: retry

    async def _insert(self, name: str, shop_id: int, source_id: str) -> tuple[Shop, str]:
        if not 1 <= shop_id <= MAX_SHOP_ID:
            raise BadInput("shopId must be a positive 32-bit integer", field="shopId")
        key = new_shop_key(shop_id)
        doc = {
            "_id": shop_id,
            "name": name,
            "defaultSourceId": source_id,
            "sources": [{"sourceId": source_id, "name": "Website", "domain": None, "active": True}],
            "settings": ShopSettings().to_doc(),
            "identifySecret": secrets.token_hex(32),
            "keyHashes": [hash_key(key)],
        }
        try:
            await self.storage.shops.insert_one(doc)
        except DuplicateKeyError:
            raise ShopIdTaken(f"shop {shop_id} already exists", field="shopId") from None
        self.forget(shop_id)
        return Shop.from_doc(doc), key

    async def add_source(
        self,
        shop_id: int,
        source_id: str,
        name: str,
        domain: str | None,
        make_default: bool,
        active: bool = True,
    ) -> Shop:
        if not SOURCE_ID.match(source_id):
            raise BadInput("sourceId must be 1 to 64 characters of [A-Za-z0-9_.-]",
                           field="sourceId")
        if not 1 <= len(name) <= 200:
            raise BadInput("name must be 1 to 200 characters", field="name")
        if domain is not None and len(domain) > 253:
            raise BadInput("domain is too long", field="domain")
        entry = {"sourceId": source_id, "name": name, "domain": domain, "active": active}
        default = {"defaultSourceId": source_id} if make_default else {}
        # Per element, never the whole array: a source added at the same time by another
        # request (or process, whose cache is older) stays. A new one is pushed if absent.
        doc = await self.storage.shops.find_one_and_update(
            {"_id": shop_id, "sources.sourceId": {"$ne": source_id}},
            {"$push": {"sources": entry}, **({"$set": default} if default else {})},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            doc = await self._replace_source(shop_id, entry, default)
        return self._fresh(shop_id, doc)

    async def _replace_source(self, shop_id: int, entry: dict[str, Any],
                              default: dict[str, Any]) -> dict[str, Any] | None:
        """Replace a source where it is, conditional on it being there.

        Sources are only ever appended, so a source's place never changes; the cached
        shop tells it, or a fresh read if the cache predates the source.
        """
        for fresh in (False, True):
            if fresh:
                self.forget(shop_id)
            shop = await self.require_existing(shop_id)
            ids = [s.source_id for s in shop.sources]
            if entry["sourceId"] not in ids:
                continue
            at = f"sources.{ids.index(entry['sourceId'])}"
            doc = await self.storage.shops.find_one_and_update(
                {"_id": shop_id, f"{at}.sourceId": entry["sourceId"]},
                {"$set": {at: entry, **default}}, return_document=ReturnDocument.AFTER)
            if doc is not None:
                return doc
        return None

    def _fresh(self, shop_id: int, doc: dict[str, Any] | None) -> Shop:
        """The shop as just written by this process, cached."""
        if doc is None:
            self.forget(shop_id)
            raise NotFound(f"shop {shop_id} does not exist")
        shop = Shop.from_doc(doc)
        self._cache.put(shop_id, (time.monotonic(), shop))
        return shop

    async def update_settings(self, shop_id: int, changes: dict[str, Any]) -> Shop:
        """Apply the given settings (ShopSettings field names; None = unchanged)."""
        update = {}
        for name, value in changes.items():
            if value is None:
                continue
            stored = STORED_NAMES.get(name)
            if stored is None or not SETTING_CHECKS[name](value):
                raise BadInput(f"invalid setting {stored or name}: {value!r}", field=stored or name)
            if name == "allowed_origins":
                value = [o.rstrip("/") for o in value]
            if name == "interest_weights":
                for weight, w in value.items():
                    update[f"settings.interestWeights.{weight}"] = float(w)
                continue
            update[f"settings.{stored}"] = value
        if update:
            query: dict[str, Any] = {"_id": shop_id}
            half_life = update.get("settings.interestHalfLifeSeconds")
            doc = None
            for _ in range(5):  # another change of the half-life in between: compute again
                if half_life is not None:
                    query, update["interestEpoch"] = await self._new_epoch(shop_id, half_life)
                doc = await self.storage.shops.find_one_and_update(
                    query, {"$set": update}, return_document=ReturnDocument.AFTER)
                if doc is not None or half_life is None:
                    break
            shop = self._fresh(shop_id, doc)
        else:
            shop = await self.require_existing(shop_id)
        days = update.get("settings.anonymousHistoryDays")
        if days is not None:
            # The TTL index deletes anonymous events by `expireAt`: it follows the new
            # window. Whenever the window is given, changed or not, so that a retry
            # finishes what a failed first attempt began. (The embedded store has no TTL
            # index; app/identity/retention.py reads the window there, and the stamp is the same.)
            # Events not yet counted keep theirs aside until the fold moves it (PENDING_EXPIRY).
            # Which field, each document decides as it is written: an event counted or made
            # uncounted again (a rebuild) meanwhile gets the new stamp either way. A field
            # not written keeps its value (a missing one stays missing).
            expiry = {"$add": ["$occurredAt", days * 86_400_000]}
            uncounted = {"$or": [{"$eq": ["$rolled", False]},  # a fold has still to read it
                                 {"$ne": [{"$ifNull": [f"${CO_PENDING}", None]}, None]}]}
            await self.storage.events.update_many({"shopId": shop_id, "userId": None}, [{"$set": {
                PENDING_EXPIRY: {"$cond": [uncounted, expiry, f"${PENDING_EXPIRY}"]},
                "expireAt": {"$cond": [uncounted, "$expireAt", expiry]}}}])
        return shop

    async def _new_epoch(self, shop_id: int, half_life: int) -> tuple[dict[str, Any], float]:
        """The epoch that keeps every interest score as it is now under the new half-life,
        and the filter that applies it only to the frame it was computed from."""
        doc = await self.storage.shops.find_one({"_id": shop_id})
        if doc is None:
            raise NotFound(f"shop {shop_id} does not exist")
        stored = doc.get("settings", {})
        old = Frame(doc.get("interestEpoch", DEFAULT_FRAME.epoch),
                    float(stored.get("interestHalfLifeSeconds", HALF_LIFE_SECONDS)))
        missing = {"$exists": False}
        query = {"_id": shop_id, "interestEpoch": doc.get("interestEpoch", missing),
                 "settings.interestHalfLifeSeconds": stored.get("interestHalfLifeSeconds",
                                                                missing)}
        if half_life == old.half_life:
            return query, old.epoch
        return query, old.rebased(half_life, self.clock.now()).epoch

    async def ensure_demo(self, shop_id: int = 1) -> tuple[Shop, str | None]:
        """The demo shop: created once; a fresh key is added at every start so it can be shown."""
        existing = await self.get(shop_id)
        if existing is None:
            return await self.create("Demo shop", shop_id=shop_id, source_id="site")
        key = new_shop_key(shop_id)
        await self.storage.shops.update_one(
            {"_id": shop_id}, {"$push": {"keyHashes": hash_key(key)}}
        )
        self.forget(shop_id)
        return await self.require_existing(shop_id), key
