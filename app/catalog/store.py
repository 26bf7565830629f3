"""The product store: read, upsert (recording the changes that fire triggers), delete, page.

An upsert of up to 1,000 products costs two round trips: one `find` of the
stored products, one unordered `bulk_write` of the changed ones. Each write is
conditional on the revision it was planned against (`rev`; a new product: no
document yet) and is an upsert, so a product another writer changed in between
makes the write insert its `_id` again and fail as a duplicate key: only that
product is read and planned again. A change that fires triggers (a price drop, a
return to stock, app/catalog/products.py) is pushed to the document's `pending`
list, with `pendingAt`, in that same write: the product and the record of its
change are one atomic write, and the fan-out worker (app/catalog/fanout.py)
finds pending changes through the index on `pendingAt`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import DeleteMany, UpdateOne
from pymongo.errors import BulkWriteError

from app.backends.storage import Storage
from app.catalog.products import (
    HISTORY_KEPT,
    MAX_PRODUCTS,
    Plan,
    Rejected,
    checked,
    plan,
    product_key,
    public,
)
from app.catalog.walks import Walks
from app.core import BadInput, Clock
from app.shops import Shops

MAX_ERRORS = 100  # listed in a result
ATTEMPTS = 5  # plans of one product against a store that others keep changing
DUPLICATE_KEY = 11000
HIDDEN = {"pending": 0, "history": 0, "pendingAt": 0, "leaseUntil": 0, "lease": 0}


class Result:
    """What a call did, in the contract's CatalogResult terms."""

    def __init__(self) -> None:
        self.received = self.created = self.updated = self.unchanged = self.rejected = 0
        self.errors: list[dict[str, Any]] = []
        self.changes = 0  # changes recorded for the fan-out

    def reject(self, index: int | None, product_id: str | None, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"index": index, "productId": product_id, "message": message})

    def add(self, other: Result) -> None:
        for name in ("received", "created", "updated", "unchanged", "changes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected += other.rejected
        self.errors.extend(other.errors[:MAX_ERRORS - len(self.errors)])


class Catalog:
    """The shops' products."""

    def __init__(self, storage: Storage, clock: Clock, shops: Shops) -> None:
        self.storage = storage
        self.clock = clock
        self.shops = shops  # `hasCatalog` on the (cached) shop spares shops without products
        self.walks = Walks()  # this process's fan-out cursors, kept between runs

    async def get(self, shop_id: int, product_id: str) -> dict[str, Any] | None:
        return await self.storage.products.find_one(
            {"_id": product_key(shop_id, product_id), "shopId": shop_id}, HIDDEN)

    async def get_many(self, shop_id: int, product_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The products the catalog has, by id (one round trip; missing ids are absent)."""
        keys = sorted({product_key(shop_id, p) for p in product_ids if isinstance(p, str)})
        if not keys:
            return {}
        docs = await self.storage.products.find(
            {"_id": {"$in": keys}, "shopId": shop_id}, HIDDEN).to_list(None)
        return {d["productId"]: d for d in docs}

    async def enrich(self, triggers: list[dict[str, Any]]) -> None:
        """Give each product of the triggers (`products`, cart items) the catalog's data as
        it is now, under `product` (None when the catalog does not have it); one round trip
        per shop with a catalog, none for triggers without products or that carry it
        already, nor for a shop that never had products."""
        wanted: dict[int, list[dict[str, Any]]] = {}
        for doc in triggers:
            items = list(doc.get("products") or []) + list((doc.get("cart") or {}).get("items")
                                                           or [])
            missing = [i for i in items if "product" not in i and i.get("productId")]
            if missing:
                wanted.setdefault(doc["shopId"], []).extend(missing)
        for shop_id, items in wanted.items():
            shop = await self.shops.get(shop_id)  # cached: no round trip, most of the time
            found = {} if shop is None or not shop.has_catalog else await self.get_many(
                shop_id, [i["productId"] for i in items])
            for item in items:
                doc = found.get(item["productId"])
                item["product"] = public(doc) if doc else None

    async def history(self, shop_id: int, product_id: str) -> list[dict[str, Any]]:
        """The product's last price points, oldest first."""
        doc = await self.storage.products.find_one(
            {"_id": product_key(shop_id, product_id), "shopId": shop_id}, {"history": 1})
        return list((doc or {}).get("history") or [])

    async def page(self, shop_id: int, category_id: str | None, first: int,
                   after: str | None) -> list[dict[str, Any]]:
        """Up to `first` + 1 products in id order after the product id `after`."""
        query: dict[str, Any] = {"shopId": shop_id}
        if category_id is not None:
            query["categoryId"] = category_id
        if after is not None:
            query["_id"] = {"$gt": product_key(shop_id, after)}
        return await self.storage.products.find(query, HIDDEN).sort("_id", 1) \
            .limit(first + 1).to_list(first + 1)

    async def delete(self, shop_id: int, product_ids: list[str]) -> int:
        if len(product_ids) > MAX_PRODUCTS:
            raise BadInput(f"at most {MAX_PRODUCTS} product ids a call", field="productIds")
        keys = sorted({product_key(shop_id, p) for p in product_ids})
        if not keys:
            return 0
        done = await self.storage.products.bulk_write(
            [DeleteMany({"_id": {"$in": keys}, "shopId": shop_id})])
        return int(done.deleted_count)

    async def upsert(self, shop_id: int, products: list[dict[str, Any]],
                     indexes: list[int] | None = None) -> Result:
        """Apply 1 to 1,000 products (contract names; None = not given); bad ones are
        rejected and listed with their index (in `indexes`, for a feed's offers)."""
        if not 1 <= len(products) <= MAX_PRODUCTS:
            raise BadInput(f"upsertProducts takes 1 to {MAX_PRODUCTS} products a call",
                           field="products")
        result = Result()
        result.received = len(products)
        good: dict[str, dict[str, Any]] = {}

        def at(index: int) -> int:
            return indexes[index] if indexes else index

        for index, given in enumerate(products):
            try:
                product = checked(given)
            except Rejected as error:
                pid = given.get("productId")
                result.reject(at(index), pid if isinstance(pid, str) else None, str(error))
                continue
            if product["productId"] in good:
                result.reject(at(index), product["productId"],
                              "productId appears twice in one call")
                continue
            good[product["productId"]] = product
        await self._apply(shop_id, good, result)
        if result.created:
            await self._mark(shop_id)
        return result

    async def _mark(self, shop_id: int) -> None:
        """Note on the shop that it has products (once): triggers of shops without any
        pay no read of the catalog. Another process's cached shop sees it within its
        cache's lifetime; until then its triggers carry `product: null`."""
        shop = await self.shops.get(shop_id)
        if shop is not None and not shop.has_catalog:
            await self.storage.shops.update_one({"_id": shop_id}, {"$set": {"hasCatalog": True}})
            self.shops.forget(shop_id)

    async def _apply(self, shop_id: int, good: dict[str, dict[str, Any]], result: Result) -> None:
        todo = good
        for _ in range(ATTEMPTS):
            if not todo:
                return
            stored = await self._stored(shop_id, list(todo))
            now = self.clock.now()
            plans = {pid: plan(shop_id, p, stored.get(pid), now) for pid, p in todo.items()}
            writes = [(pid, _write(shop_id, pid, p, stored.get(pid), now))
                      for pid, p in plans.items() if p.outcome != "unchanged"]
            again = await self._write([w for _, w in writes])
            retried = {writes[i][0] for i in again}
            for pid, p in plans.items():
                if pid not in retried:
                    setattr(result, p.outcome, getattr(result, p.outcome) + 1)
                    result.changes += len(p.changes)
            todo = {pid: todo[pid] for pid in retried}
        for pid in todo:  # still contended after every attempt
            result.reject(None, pid, "the product kept changing; send it again")

    async def _stored(self, shop_id: int, product_ids: list[str]) -> dict[str, dict[str, Any]]:
        keys = [product_key(shop_id, p) for p in product_ids]
        docs = await self.storage.products.find(
            {"_id": {"$in": keys}, "shopId": shop_id}, {"pending": 0, "history": 0}
        ).to_list(None)
        return {d["productId"]: d for d in docs}

    async def _write(self, ops: list[UpdateOne]) -> set[int]:
        """Write; the indexes of the writes that lost to another writer."""
        if not ops:
            return set()
        try:
            await self.storage.products.bulk_write(ops, ordered=False)
        except BulkWriteError as error:
            errors = error.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            return {e["index"] for e in errors}
        return set()


def _write(shop_id: int, product_id: str, p: Plan, stored: dict[str, Any] | None,
           now: datetime) -> UpdateOne:
    """The conditional upsert of one planned product (see the module's docstring)."""
    where: dict[str, Any] = {"_id": product_key(shop_id, product_id), "shopId": shop_id,
                             "rev": stored["rev"] if stored and "rev" in stored
                             else {"$exists": False}}
    rev = int(stored.get("rev", 0)) + 1 if stored else 1
    update: dict[str, Any] = {"$set": {**p.set_fields, "productId": product_id,
                                       "shopId": shop_id, "rev": rev, "updatedAt": now}}
    push: dict[str, Any] = {}
    if p.history is not None:
        push["history"] = {"$each": [p.history], "$slice": -HISTORY_KEPT}
    if p.changes:
        push["pending"] = {"$each": [c.to_doc() for c in p.changes]}
        update["$min"] = {"pendingAt": now}
    if push:
        update["$push"] = push
    return UpdateOne(where, update, upsert=True)
