"""The MongoDB operations webhooks rely on, and how they must behave.

Like tests/backends/test_storage_contract.py: on the embedded store, and on a real MongoDB
too when TRACKER_TEST_MONGODB_URL is set.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from app.backends.storage import Storage
from app.webhooks.endpoints import NEVER
from tests.backends.test_storage_contract import T0
from tests.backends.test_storage_contract import storage as storage  # the fixture


async def test_a_conditional_push_upserts_until_the_array_is_full(storage: Storage) -> None:
    async def push(n: int) -> None:
        await storage.webhooks.update_one(
            {"_id": 1, "shopId": 1, "endpoints.2": {"$exists": False}},
            {"$push": {"endpoints": {"endpointId": f"e{n}"}}}, upsert=True)

    for n in range(3):
        await push(n)
    with pytest.raises(DuplicateKeyError):
        await push(3)
    doc = await storage.webhooks.find_one({"_id": 1, "shopId": 1})
    assert [e["endpointId"] for e in doc["endpoints"]] == ["e0", "e1", "e2"]


async def test_positional_updates_of_one_array_element(storage: Storage) -> None:
    await storage.webhooks.insert_one({"_id": 1, "shopId": 1, "endpoints": [
        {"endpointId": "a", "url": "u", "failingSince": None},
        {"endpointId": "b", "url": "u", "failingSince": None}]})
    # update_one, not find_one_and_update: the embedded store's ignores the positional `$`.
    changed = await storage.webhooks.update_one(
        {"_id": 1, "shopId": 1, "endpoints.endpointId": "b"},
        {"$set": {"endpoints.$.url": "v"}})
    assert changed.matched_count == 1
    doc = await storage.webhooks.find_one({"_id": 1, "shopId": 1})
    assert [e["url"] for e in doc["endpoints"]] == ["u", "v"]
    missing = await storage.webhooks.update_one(
        {"_id": 1, "shopId": 1, "endpoints.endpointId": "z"},
        {"$set": {"endpoints.$.url": "v"}})
    assert missing.matched_count == 0
    only_if_none = {"_id": 1, "shopId": 1,
                    "endpoints": {"$elemMatch": {"endpointId": "a", "failingSince": None}}}
    await storage.webhooks.update_one(only_if_none, {"$set": {"endpoints.$.failingSince": T0}})
    later = await storage.webhooks.update_one(
        only_if_none, {"$set": {"endpoints.$.failingSince": T0 + timedelta(days=1)}})
    assert later.matched_count == 0
    doc = await storage.webhooks.find_one({"_id": 1})
    assert doc["endpoints"][0]["failingSince"].replace(tzinfo=None) == T0.replace(tzinfo=None)
    pulled = await storage.webhooks.update_one(
        {"_id": 1, "shopId": 1}, {"$pull": {"endpoints": {"endpointId": "a"}}})
    assert pulled.modified_count == 1
    again = await storage.webhooks.update_one(
        {"_id": 1, "shopId": 1}, {"$pull": {"endpoints": {"endpointId": "a"}}})
    assert again.modified_count == 0


async def test_a_claim_takes_only_what_is_due_and_unleased(storage: Storage) -> None:
    lease = T0 + timedelta(seconds=30)
    await storage.webhook_deliveries.insert_many([
        {"_id": "free", "shopId": 1, "status": "PENDING", "nextAttemptAt": T0,
         "leaseUntil": NEVER},
        {"_id": "held", "shopId": 1, "status": "PENDING", "nextAttemptAt": T0,
         "leaseUntil": lease},
        {"_id": "later", "shopId": 2, "status": "PENDING",
         "nextAttemptAt": T0 + timedelta(hours=1), "leaseUntil": NEVER},
        {"_id": "done", "shopId": 2, "status": "DELIVERED", "nextAttemptAt": None,
         "leaseUntil": NEVER},
    ])
    due = {"status": "PENDING", "nextAttemptAt": {"$lte": T0}, "leaseUntil": {"$lte": T0}}
    found = await storage.webhook_deliveries.find(due, {"_id": 1}).sort(
        "nextAttemptAt", 1).limit(10).to_list(10)
    assert [d["_id"] for d in found] == ["free"]
    ids = ["free", "held", "later", "done"]
    claim = await storage.webhook_deliveries.update_many(
        {"_id": {"$in": ids}, "shopId": {"$in": [1, 2]}, **due},
        {"$set": {"leaseUntil": lease, "claim": "t1"}})
    assert claim.modified_count == 1
    second = await storage.webhook_deliveries.update_many(
        {"_id": {"$in": ids}, "shopId": {"$in": [1, 2]}, **due},
        {"$set": {"leaseUntil": lease, "claim": "t2"}})
    assert second.modified_count == 0
    mine = await storage.webhook_deliveries.find(
        {"_id": {"$in": ids}, "shopId": {"$in": [1, 2]}, "claim": "t1"}).to_list(None)
    assert [d["_id"] for d in mine] == ["free"]
    done = await storage.webhook_deliveries.update_one(
        {"_id": "free", "shopId": 1, "claim": "t1"},
        {"$set": {"status": "DELIVERED", "leaseUntil": NEVER}, "$unset": {"claim": ""},
         "$inc": {"attempts": 1}})
    assert done.modified_count == 1
    doc = await storage.webhook_deliveries.find_one({"_id": "free", "shopId": 1})
    assert doc["attempts"] == 1 and "claim" not in doc


async def test_requeue_upserts_set_unset_and_set_on_insert(storage: Storage) -> None:
    await storage.webhook_deliveries.insert_one(
        {"_id": "old", "shopId": 1, "status": "DELIVERED", "attempts": 3, "claim": "x",
         "expireAt": T0, "lastError": "kept"})

    def requeue(doc_id: str) -> UpdateOne:
        return UpdateOne({"_id": doc_id, "shopId": 1},
                         {"$set": {"status": "PENDING", "attempts": 0},
                          "$unset": {"claim": "", "expireAt": ""},
                          "$setOnInsert": {"lastError": None}}, upsert=True)

    await storage.webhook_deliveries.bulk_write([requeue("old"), requeue("new")],
                                                ordered=False)
    old = await storage.webhook_deliveries.find_one({"_id": "old", "shopId": 1})
    new = await storage.webhook_deliveries.find_one({"_id": "new", "shopId": 1})
    assert old["status"] == "PENDING" and old["attempts"] == 0 and old["lastError"] == "kept"
    assert "claim" not in old and "expireAt" not in old
    assert new["shopId"] == 1 and new["status"] == "PENDING" and new["lastError"] is None
