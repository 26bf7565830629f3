"""`Storage.trips.documents`: the documents each read goes through, counted in the
storage layer (app/backends/storage.py `RoundTrips.read`), on the embedded store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.backends.storage import Storage
from app.platform import open_store


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    s = open_store("mongomock://", "tracker_documents_read")
    await s.drop()
    await s.create_indexes()
    await s.events.insert_many([{"_id": f"1:{i}", "shopId": 1 + i % 2, "n": i}
                                for i in range(10)])
    s.trips.reset()
    yield s
    await s.drop()
    s.close()


async def test_a_find_reads_the_documents_it_returns(storage: Storage) -> None:
    await storage.events.find({"shopId": 1}).to_list(None)
    assert storage.trips.documents == 5
    assert storage.trips.documents_by_collection == {"events": 5}


async def test_a_find_one_reads_one_document_or_none(storage: Storage) -> None:
    await storage.events.find_one({"_id": "1:3"})
    await storage.events.find_one({"_id": "missing"})
    assert storage.trips.documents == 1


async def test_an_aggregation_reads_what_its_match_selects_not_what_it_returns(
        storage: Storage) -> None:
    out = await storage.events.aggregate([
        {"$match": {"shopId": 2}}, {"$group": {"_id": None, "n": {"$sum": 1}}}]).to_list(None)
    assert out == [{"_id": None, "n": 5}]
    assert storage.trips.documents == 5


async def test_a_count_reads_what_it_counts(storage: Storage) -> None:
    assert await storage.events.count_documents({"n": {"$lt": 3}}) == 3
    assert storage.trips.documents == 3


async def test_writes_read_nothing_and_reset_clears_the_count(storage: Storage) -> None:
    await storage.events.update_many({}, {"$set": {"seen": True}})
    await storage.events.insert_one({"_id": "1:x", "shopId": 1})
    assert storage.trips.documents == 0
    await storage.events.find({}).to_list(None)
    assert storage.trips.documents == 11
    storage.trips.reset()
    assert storage.trips.documents == 0 and storage.trips.documents_by_collection == {}
