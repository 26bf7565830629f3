"""The MongoDB operations the platform relies on, and how they must behave.

These run on the embedded store (mongomock) and, when TRACKER_TEST_MONGODB_URL
is set, on a real MongoDB too: what passes here behaves the same in both.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from app.backends.storage import Storage
from app.clock import utc
from app.indexes import INDEXES
from app.platform import open_store

URLS = ["mongomock://"] + (
    [os.environ["TRACKER_TEST_MONGODB_URL"]] if os.environ.get("TRACKER_TEST_MONGODB_URL") else [])
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=URLS)
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    s = open_store(request.param, "tracker_contract")
    await s.drop()
    await s.create_indexes()
    yield s
    await s.drop()
    s.close()


async def test_insert_many_reports_duplicates_by_index(storage: Storage) -> None:
    await storage.events.insert_one({"_id": "1:a"})
    with pytest.raises(BulkWriteError) as caught:
        await storage.events.insert_many([{"_id": "1:b"}, {"_id": "1:a"}, {"_id": "1:c"}],
                                         ordered=False)
    errors = caught.value.details["writeErrors"]
    assert [(e["index"], e["code"]) for e in errors] == [(1, 11000)]
    assert await storage.events.count_documents({}) == 3


async def test_insert_one_duplicate_raises(storage: Storage) -> None:
    await storage.orders.insert_one({"_id": "1:o"})
    with pytest.raises(DuplicateKeyError):
        await storage.orders.insert_one({"_id": "1:o"})


async def test_pipeline_update_with_conditions(storage: Storage) -> None:
    pipeline = [
        {"$set": {"_new": {"$and": [
            {"$ne": [{"$ifNull": ["$last", None]}, None]},
            {"$lte": [100, {"$add": ["$last", 50]}]},
        ]}}},
        {"$set": {"n": {"$cond": ["$_new", {"$add": ["$n", 1]}, 1]},
                  "last": {"$max": [{"$ifNull": ["$last", 0]}, 100]},
                  "label": {"$literal": "$not-a-field"}}},
        {"$project": {"_new": 0}},
    ]
    before = await storage.visitors.find_one_and_update(
        {"_id": "v"}, pipeline, upsert=True, return_document=ReturnDocument.BEFORE)
    assert before is None
    after = await storage.visitors.find_one({"_id": "v"})
    assert after == {"_id": "v", "n": 1, "last": 100, "label": "$not-a-field"}
    await storage.visitors.update_one({"_id": "v"}, {"$set": {"last": 60}})
    await storage.visitors.find_one_and_update({"_id": "v"}, pipeline)
    assert (await storage.visitors.find_one({"_id": "v"}))["n"] == 2


async def test_bulk_upserts_with_inc_min_max(storage: Storage) -> None:
    ops = [
        UpdateOne({"_id": "i"}, {"$inc": {"views": 1, "decayed": 2.5},
                                 "$max": {"lastAt": T0}, "$min": {"items.p%2E1.addedAt": T0},
                                 "$set": {"kind": "product"}}, upsert=True),
        UpdateOne({"_id": "i"}, {"$inc": {"views": 1, "decayed": 1.0},
                                 "$max": {"lastAt": T0 - timedelta(days=1)},
                                 "$min": {"items.p%2E1.addedAt": T0 + timedelta(days=1)}},
                  upsert=True),
    ]
    await storage.interests.bulk_write(ops, ordered=True)
    doc = await storage.interests.find_one({"_id": "i"})
    assert doc["views"] == 2 and doc["decayed"] == 3.5
    assert utc(doc["lastAt"]) == T0 and utc(doc["items"]["p%2E1"]["addedAt"]) == T0


async def test_sorted_cursor_pages(storage: Storage) -> None:
    await storage.events.insert_many(
        [{"_id": f"1:{i}", "shopId": 1, "occurredAt": T0 + timedelta(seconds=i % 3)}
         for i in range(6)])
    page = await storage.events.find({"shopId": 1}).sort(
        [("occurredAt", -1), ("_id", -1)]).limit(2).to_list(2)
    assert [d["_id"] for d in page] == ["1:5", "1:2"]
    last = page[-1]
    rest = await storage.events.find({"shopId": 1, "$or": [
        {"occurredAt": {"$lt": last["occurredAt"]}},
        {"occurredAt": last["occurredAt"], "_id": {"$lt": last["_id"]}},
    ]}).sort([("occurredAt", -1), ("_id", -1)]).to_list(None)
    assert [d["_id"] for d in rest] == ["1:4", "1:1", "1:3", "1:0"]


async def test_update_many_then_find_by_marker(storage: Storage) -> None:
    await storage.events.insert_many([
        {"_id": f"1:{i}", "shopId": 1, "visitorId": "v", "userId": None,
         "occurredAt": T0 - timedelta(days=i * 20), "expireAt": T0} for i in range(5)])
    await storage.events.update_many(
        {"shopId": 1, "visitorId": "v", "userId": None,
         "occurredAt": {"$gte": T0 - timedelta(days=60)}},
        {"$set": {"userId": "u", "filing": "m"}, "$unset": {"expireAt": ""}})
    filed = await storage.events.find({"shopId": 1, "visitorId": "v", "filing": "m"}).to_list(None)
    assert sorted(d["_id"] for d in filed) == ["1:0", "1:1", "1:2", "1:3"]
    assert all("expireAt" not in d for d in filed)
    assert (await storage.events.find_one({"_id": "1:4"}))["userId"] is None


async def test_indexes_are_created_as_defined(storage: Storage) -> None:
    for name, models in INDEXES.items():
        info = await storage.db[name].index_information()
        for model in models:
            doc = model.document
            if "expireAfterSeconds" in doc and not storage.real_mongodb:
                continue  # the embedded store has no TTL sweeper; retention does that
            keys = list(doc["key"].items())
            assert any(list(i["key"]) == keys for i in info.values()), (name, keys)
