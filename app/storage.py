"""Storage: MongoDB through motor, or mongomock for the embedded default.

Every collection, `_id` scheme and index lives here. The hot path only ever
addresses documents by these deterministic ids, so that uniqueness (and event
idempotency) comes from `_id` and never from a secondary unique index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from pymongo import ASCENDING, DESCENDING, IndexModel

# -- _id schemes ---------------------------------------------------------------


def visitor_key(shop_id: int, visitor_id: str) -> str:
    return f"{shop_id}:{visitor_id}"


def customer_key(shop_id: int, user_id: str) -> str:
    return f"{shop_id}:{user_id}"


def event_key(shop_id: int, event_id: str) -> str:
    return f"{shop_id}:{event_id}"


def session_key(shop_id: int, session_id: str) -> str:
    return f"{shop_id}:{session_id}"


def owner_of(user_id: str | None, visitor_id: str) -> str:
    """Who a cart belongs to: the customer once known, else the anonymous visitor."""
    return f"u:{user_id}" if user_id else f"v:{visitor_id}"


def cart_key(shop_id: int, owner: str) -> str:
    return f"{shop_id}:{owner}"


def order_key(shop_id: int, order_id: str) -> str:
    return f"{shop_id}:{order_id}"


def interest_key(shop_id: int, user_id: str, kind: str, item_id: str) -> str:
    return f"{shop_id}:{user_id}:{kind}:{item_id}"


# -- collections and indexes -----------------------------------------------------

INDEXES: dict[str, list[IndexModel]] = {
    "shops": [],
    "visitors": [IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)])],
    "customers": [IndexModel([("shopId", ASCENDING), ("userId", ASCENDING)])],
    "sessions": [
        IndexModel([("shopId", ASCENDING), ("visitorId", ASCENDING), ("startedAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING), ("startedAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("startedAt", DESCENDING)]),
    ],
    "events": [
        IndexModel([("shopId", ASCENDING), ("occurredAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("visitorId", ASCENDING), ("occurredAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING), ("occurredAt", DESCENDING)]),
        # Analytics: the top lists and the funnel read a few event types in a range.
        IndexModel([("shopId", ASCENDING), ("type", ASCENDING), ("occurredAt", ASCENDING)]),
        # Anonymous events carry `expireAt`; filing one under a customer removes it.
        IndexModel([("expireAt", ASCENDING)], expireAfterSeconds=0, name="retention_ttl"),
    ],
    "carts": [IndexModel([("dueAt", ASCENDING)], sparse=True)],
    "orders": [
        IndexModel([("shopId", ASCENDING), ("userId", ASCENDING), ("completedAt", DESCENDING)]),
        IndexModel([("shopId", ASCENDING), ("completedAt", ASCENDING)]),  # analytics
    ],
    "interests": [
        IndexModel(
            [("shopId", ASCENDING), ("userId", ASCENDING), ("kind", ASCENDING),
             ("decayed", DESCENDING)]
        )
    ],
    "triggers": [
        IndexModel([("shopId", ASCENDING), ("sortKey", ASCENDING)]),
        IndexModel([("published", ASCENDING), ("firedAt", ASCENDING)]),
        IndexModel([("shopId", ASCENDING), ("firedAt", ASCENDING)]),  # analytics
    ],
}

COUNTED_METHODS = frozenset(
    {
        "insert_one", "insert_many", "find_one", "find_one_and_update", "find_one_and_delete",
        "update_one", "update_many", "replace_one", "delete_one", "delete_many",
        "bulk_write", "count_documents", "distinct",
    }
)


class RoundTrips:
    """Counts storage round trips, per collection: what each operation costs on MongoDB."""

    def __init__(self) -> None:
        self.total = 0
        self.by_collection: dict[str, int] = {}

    def add(self, collection: str) -> None:
        self.total += 1
        self.by_collection[collection] = self.by_collection.get(collection, 0) + 1

    def reset(self) -> None:
        self.total = 0
        self.by_collection.clear()


class _CountedCursor:
    def __init__(self, cursor: Any, count: Callable[[], None]) -> None:
        self._cursor = cursor
        self._count = count

    def sort(self, *args: Any, **kwargs: Any) -> _CountedCursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    def limit(self, n: int) -> _CountedCursor:
        self._cursor = self._cursor.limit(n)
        return self

    def skip(self, n: int) -> _CountedCursor:
        self._cursor = self._cursor.skip(n)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        self._count()
        return await self._cursor.to_list(length)


class Collection:
    """A collection whose every call counts as one round trip."""

    def __init__(self, raw: Any, name: str, trips: RoundTrips) -> None:
        self.raw = raw
        self.name = name
        self._trips = trips

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self.raw, attr)
        if attr not in COUNTED_METHODS:
            return target

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._trips.add(self.name)
            return await target(*args, **kwargs)

        return counted

    def find(self, *args: Any, **kwargs: Any) -> _CountedCursor:
        return _CountedCursor(self.raw.find(*args, **kwargs), lambda: self._trips.add(self.name))

    def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> _CountedCursor:
        return _CountedCursor(
            self.raw.aggregate(pipeline, **kwargs), lambda: self._trips.add(self.name)
        )


@dataclass
class Storage:
    """The database, its collections, and the count of round trips made."""

    client: Any
    db: Any
    url: str
    trips: RoundTrips

    @property
    def real_mongodb(self) -> bool:
        return not self.url.startswith("mongomock://")

    def __getattr__(self, name: str) -> Collection:
        if name not in INDEXES:
            raise AttributeError(name)
        collection = Collection(self.db[name], name, self.trips)
        setattr(self, name, collection)  # built once; later lookups do not reach __getattr__
        return collection

    async def create_indexes(self) -> None:
        for name, models in INDEXES.items():
            if not models:
                continue
            if not self.real_mongodb:
                # mongomock has no TTL sweeper; the retention job does that work here.
                models = [m for m in models if "expireAfterSeconds" not in m.document]
            await self.db[name].create_indexes(models)

    async def ping(self) -> bool:
        try:
            await self.db.command("ping")
        except Exception:
            return False
        return True

    async def drop(self) -> None:
        for name in INDEXES:
            await self.db[name].drop()

    def close(self) -> None:
        self.client.close()


def open_storage(url: str, db_name: str = "tracker") -> Storage:
    """Open the storage named by `url`: `mongomock://` (embedded) or `mongodb://…`."""
    scheme = urlparse(url).scheme
    if scheme == "mongomock":
        from mongomock_motor import AsyncMongoMockClient

        from app.embedded import prepare_mongomock

        prepare_mongomock()
        client: Any = AsyncMongoMockClient()
    elif scheme in {"mongodb", "mongodb+srv"}:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(url, tz_aware=True)
    else:
        raise ValueError(f"unsupported storage URL scheme {scheme!r} (mongomock:// or mongodb://)")
    return Storage(client=client, db=client[db_name], url=url, trips=RoundTrips())
