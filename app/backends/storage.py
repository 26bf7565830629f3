"""Storage: MongoDB through motor, or mongomock for the embedded default.

The only module that talks to the driver. Every call through a `Collection`
counts as one round trip (`Storage.trips`): the cost that carries over to a
real cluster. `trips.documents` counts the documents reads hand back or go
through (`RoundTrips.read`): what a read's cost grows with.
Every such call is also timed into `tracker_storage_duration_seconds` (by
collection and driver method, `app/backends/metrics.py`): where a request's
time goes, on a real cluster and in the benchmarks alike.

Scanning reads (aggregations, counts, finds marked `off_loop()`) obey the request's
deadline (app/backends/reads.py): `maxTimeMS` on MongoDB; on the embedded store they
run in a worker thread that stops at the deadline, so the event loop stays free.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from pymongo import IndexModel
from pymongo.errors import BulkWriteError

from app.backends.metrics import timed
from app.backends.reads import OffLoop, remaining_ms

DUPLICATE_KEY = 11000


def duplicate_indexes(error: BulkWriteError) -> list[int]:
    """The indexes of a bulk write's ops refused as duplicate keys (a write an earlier
    attempt or another writer already made); any other refusal is raised again."""
    errors = error.details["writeErrors"]
    if any(e["code"] != DUPLICATE_KEY for e in errors):
        raise error
    return [e["index"] for e in errors]


COUNTED_METHODS = frozenset(
    {
        "insert_one", "insert_many", "find_one", "find_one_and_update", "find_one_and_delete",
        "update_one", "update_many", "replace_one", "delete_one", "delete_many",
        "bulk_write", "count_documents", "distinct",
    }
)


READ_ONE = frozenset({"find_one", "find_one_and_update", "find_one_and_delete"})


class RoundTrips:
    """Counts storage round trips, per collection: what each operation costs on MongoDB.

    And documents read, per collection: a find's results; a `find_one*`'s document;
    a count's count (index keys on MongoDB); `distinct`'s values; an aggregation's
    documents entering the pipeline on the embedded store (those its leading `$match`
    selects, what MongoDB examines when an index fits the match), its results on
    MongoDB (a lower bound: `explain()`'s `totalDocsExamined` tells more). Writes
    read nothing here.
    """

    def __init__(self) -> None:
        self.total = 0
        self.by_collection: dict[str, int] = {}
        self.documents = 0
        self.documents_by_collection: dict[str, int] = {}
        # Called before every round trip; tests inject faults here (raise to fail the call).
        self.before_call: Callable[[str], None] | None = None

    def add(self, collection: str) -> None:
        if self.before_call is not None:
            self.before_call(collection)
        self.total += 1
        self.by_collection[collection] = self.by_collection.get(collection, 0) + 1

    def read(self, collection: str, n: int) -> None:
        self.documents += n
        self.documents_by_collection[collection] = (
            self.documents_by_collection.get(collection, 0) + n)

    def reset(self) -> None:
        self.total = 0
        self.by_collection.clear()
        self.documents = 0
        self.documents_by_collection.clear()


def _sync(raw: Any, attr: str = "_AsyncMongoMockCollection__collection") -> Any:
    """mongomock's own (synchronous) object behind mongomock_motor's async wrapper."""
    return getattr(raw, attr)


class _Examined(list[dict[str, Any]]):
    """An embedded aggregation's results, and the documents that entered its pipeline
    (app/backends/embedded.py marks them on its cursor; None: not known)."""

    def __init__(self, cursor: Any) -> None:
        super().__init__(cursor)
        self.examined: int | None = getattr(cursor, "examined", None)


class _CountedCursor:
    def __init__(self, cursor: Any, count: Callable[[], None], collection: Collection,
                 operation: str, eager: Callable[[], list[dict[str, Any]]] | None = None
                 ) -> None:
        self._cursor = cursor
        self._count = count
        self._collection = collection
        self._operation = operation
        self._eager = eager  # an embedded aggregation, to be run in a worker
        self._off_loop = eager is not None

    def off_loop(self) -> _CountedCursor:
        """A read that may scan many documents: in a worker thread on the embedded store
        (a no-op on MongoDB, whose reads all carry the deadline)."""
        self._off_loop = self._collection.reads is not None
        return self

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
        docs = await self._fetch(length)
        examined = getattr(docs, "examined", None)
        self._collection.read(len(docs) if examined is None else examined)
        return docs

    async def _fetch(self, length: int | None) -> list[dict[str, Any]]:
        reads = self._collection.reads
        if self._off_loop and reads is not None:
            work = self._eager
            if work is None:
                cursor = _sync(self._cursor, "_AsyncCursor__cursor")

                def work() -> list[dict[str, Any]]:
                    # At most `length`, and the cursor reads on from there next time (motor).
                    return list(itertools.islice(cursor, length) if length else cursor)
            return await timed(self._collection.name, self._operation,
                               lambda: reads.run(work))
        if reads is None and hasattr(self._cursor, "max_time_ms"):
            ms = remaining_ms()
            if ms is not None:
                self._cursor = self._cursor.max_time_ms(ms)
        return await timed(self._collection.name, self._operation,
                           lambda: self._cursor.to_list(length), self._collection.embedded)

    async def close(self) -> None:
        """Let the server free a cursor not read to its end (a no-op on the embedded store)."""
        if self._cursor is not None:
            await self._cursor.close()


class Collection:
    """A collection whose every call counts as one round trip."""

    def __init__(self, raw: Any, name: str, trips: RoundTrips, embedded: bool = False,
                 reads: OffLoop | None = None) -> None:
        self.raw = raw
        self.name = name
        self._trips = trips
        self.embedded = embedded  # mongomock: its calls' CPU is the store's (metrics.timed)
        self.reads = reads  # the embedded store's worker threads (None: MongoDB)

    def read(self, n: int) -> None:
        self._trips.read(self.name, n)

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self.raw, attr)
        if attr not in COUNTED_METHODS:
            return target

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._trips.add(self.name)
            out = await timed(self.name, attr, lambda: target(*args, **kwargs), self.embedded)
            if attr in READ_ONE:
                self.read(int(out is not None))
            elif attr == "distinct":
                self.read(len(out))
            return out

        return counted

    def find(self, *args: Any, **kwargs: Any) -> _CountedCursor:
        return _CountedCursor(self.raw.find(*args, **kwargs), lambda: self._trips.add(self.name),
                              self, "find")

    def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> _CountedCursor:
        if self.reads is not None:  # mongomock aggregates when called: in a worker
            sync = _sync(self.raw)
            return _CountedCursor(None, lambda: self._trips.add(self.name), self, "aggregate",
                                  eager=lambda: _Examined(sync.aggregate(pipeline, **kwargs)))
        ms = remaining_ms()
        if ms is not None:
            kwargs["maxTimeMS"] = ms
        return _CountedCursor(
            self.raw.aggregate(pipeline, **kwargs), lambda: self._trips.add(self.name),
            self, "aggregate")

    async def count_documents(self, filter: dict[str, Any], **kwargs: Any) -> int:
        self._trips.add(self.name)
        n = await self._count_documents(filter, **kwargs)
        self.read(n)
        return n

    async def _count_documents(self, filter: dict[str, Any], **kwargs: Any) -> int:
        reads = self.reads
        if reads is not None:
            sync = _sync(self.raw)
            return await timed(self.name, "count_documents",
                               lambda: reads.run(lambda: sync.count_documents(filter, **kwargs)))
        ms = remaining_ms()
        if ms is not None:
            kwargs["maxTimeMS"] = ms
        return await timed(self.name, "count_documents",
                           lambda: self.raw.count_documents(filter, **kwargs))


@dataclass
class Storage:
    """The database, its collections, and the count of round trips made."""

    client: Any
    db: Any
    url: str
    trips: RoundTrips
    indexes: dict[str, list[IndexModel]]  # every collection, with the indexes it needs
    reads: OffLoop  # the embedded store's scans, in worker threads (unused on MongoDB)

    @property
    def real_mongodb(self) -> bool:
        return not self.url.startswith("mongomock://")

    def __getattr__(self, name: str) -> Collection:
        if name not in self.indexes:
            raise AttributeError(name)
        embedded = not self.real_mongodb
        collection = Collection(self.db[name], name, self.trips, embedded,
                                self.reads if embedded else None)
        setattr(self, name, collection)  # built once; later lookups do not reach __getattr__
        return collection

    async def create_indexes(self) -> None:
        for name, models in self.indexes.items():
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
        for name in self.indexes:
            await self.db[name].drop()

    def close(self) -> None:
        self.client.close()
        self.reads.close()


def open_storage(
    url: str, indexes: dict[str, list[IndexModel]], db_name: str = "tracker"
) -> Storage:
    """Open the storage named by `url`: `mongomock://` (embedded) or `mongodb://…`."""
    scheme = urlparse(url).scheme
    if scheme == "mongomock":
        from mongomock_motor import AsyncMongoMockClient

        from app.backends.embedded import prepare_mongomock

        prepare_mongomock()
        client: Any = AsyncMongoMockClient()
    elif scheme in {"mongodb", "mongodb+srv"}:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(url, tz_aware=True)
    else:
        raise ValueError(f"unsupported storage URL scheme {scheme!r} (mongomock:// or mongodb://)")
    return Storage(client=client, db=client[db_name], url=url, trips=RoundTrips(),
                   indexes=indexes, reads=OffLoop())
