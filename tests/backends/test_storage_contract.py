"""The MongoDB operations the platform relies on, and how they must behave.

These run on the embedded store (mongomock) and, when TRACKER_TEST_MONGODB_URL
is set, on a real MongoDB too: what passes here behaves the same in both.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import DeleteOne, ReturnDocument, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from app import carts
from app.backends.storage import Storage
from app.core.clock import utc
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


@pytest.mark.parametrize("path", ["recount", "rollups"])
async def test_analytics_pipelines(storage: Storage, path: str) -> None:
    """Recount: bucket arithmetic on dates, distinct counts, $unwind, and session ids parsed
    with $split/$toLong (app/analytics/recount.py). Rollups: the folds' claims, guarded
    `$inc` with `$push`/`$slice`, `$max` on registers and presences (app/backends/folds.py,
    app/analytics/rollups.py, app/attribution/rollups.py). Both answer the same, on both
    stores."""
    from app import analytics, attribution
    reports = analytics.recount if path == "recount" else analytics
    pending = {"rolled": False} if path == "rollups" else {}
    def event(n: int, minutes: int, visitor: str, type_: str, session_start: int,
              **more: object) -> dict:
        at = T0 + timedelta(minutes=minutes)
        start = T0 + timedelta(minutes=session_start)
        return {"_id": f"1:e{n}", "shopId": 1, "type": type_, "visitorId": visitor,
                "userId": more.pop("userId", None), "occurredAt": at,
                "sessionId": f"{visitor}.{int(start.timestamp() * 1000)}", **pending, **more}

    await storage.events.insert_many([
        event(1, -30, "a", "PRODUCT_VIEW", -30, productId="p1", categoryId="c1"),
        event(2, 10, "a", "CART_ADD", -30, productId="p1", categoryId="c1"),
        event(3, 70, "b", "PRODUCT_VIEW", 70, productId="p2", categoryId="c1", userId="u"),
        event(4, 75, "b", "CHECKOUT", 70, orderId="o", userId="u"),
        {**event(5, 20, "c", "PRODUCT_VIEW", 20, productId="p1", categoryId="c1"), "shopId": 2},
    ])
    await storage.sessions.insert_many([
        {"_id": "1:a", "shopId": 1, "visitorId": "a", "startedAt": T0 - timedelta(minutes=30),
         **pending},
        {"_id": "1:b", "shopId": 1, "visitorId": "b", "startedAt": T0 + timedelta(minutes=70),
         **pending},
    ])
    await storage.orders.insert_one({"_id": "1:o", "shopId": 1, "completedAt": T0 + timedelta(
        minutes=75), "items": [{"productId": "p2", "categoryId": "c1", "quantity": 1}]})
    await storage.triggers.insert_one({"_id": "1:t", "shopId": 1, "firedAt": T0 + timedelta(
        minutes=75), **pending})
    if path == "rollups":
        await attribution.fold(storage, T0, 1)  # sessions and triggers per hour

    cut = analytics.buckets(T0 - timedelta(hours=1), T0 + timedelta(hours=2), "HOUR")
    got = await reports.stats(storage, 1, cut)
    assert [(b["visitors"], b["sessions"], b["identifiedVisitors"], b["productViews"],
             b["cartAdds"], b["checkouts"], b["triggers"]) for b in got["buckets"]] == [
        (1, 1, 0, 1, 0, 0, 0), (1, 0, 0, 0, 1, 0, 0), (1, 1, 1, 1, 0, 1, 1)]
    assert got["totals"]["visitors"] == 2 and got["totals"]["identifiedVisitors"] == 1
    within = analytics.span(T0 - timedelta(hours=1), T0 + timedelta(hours=2))
    assert await reports.top_products(storage, 1, within, 10) == [
        {"productId": "p1", "views": 1, "cartAdds": 1, "purchases": 0},
        {"productId": "p2", "views": 1, "cartAdds": 0, "purchases": 1}]
    assert await reports.top_categories(storage, 1, within, 10) == [
        {"categoryId": "c1", "views": 0, "productViews": 2, "cartAdds": 1, "purchases": 1}]
    assert await reports.funnel(storage, 1, analytics.span(T0, T0 + timedelta(hours=2))) == {
        "sessions": 1, "withProductView": 1, "withCartAdd": 0, "withCheckout": 1}


# -- the operators the product sends (issue 11.5): one run on a real server checks all --


async def test_set_on_insert_with_set_and_max_keeps_the_first_fields(storage: Storage) -> None:
    """Session documents: made by whoever comes first, counters only grow."""
    for source, count in (("site", 3), ("app", 2)):
        await storage.sessions.update_one(
            {"_id": "1:s", "shopId": 1},
            {"$setOnInsert": {"sourceId": source}, "$set": {"seen": source},
             "$max": {"eventsCount": count, "lastEventAt": T0 + timedelta(seconds=count)}},
            upsert=True)
    doc = await storage.sessions.find_one({"_id": "1:s", "shopId": 1})
    assert (doc["shopId"], doc["sourceId"], doc["seen"]) == (1, "site", "app")
    assert doc["eventsCount"] == 3
    assert utc(doc["lastEventAt"]) == T0 + timedelta(seconds=3)


async def test_add_to_set_and_pull(storage: Storage) -> None:
    key = {"_id": "1:u", "shopId": 1}
    for visitor in ("a", "b", "a"):
        await storage.customers.update_one(key, {"$addToSet": {"visitorIds": visitor},
                                                 "$min": {"firstSeenAt": T0}}, upsert=True)
    await storage.customers.update_one(key, {"$pull": {"visitorIds": "a"}})
    assert (await storage.customers.find_one(key))["visitorIds"] == ["b"]


async def test_unset_of_a_path_and_guarded_push(storage: Storage) -> None:
    """A cart change: applied once per event (`$ne` guard), an item removed by its path."""
    key = {"_id": "1:v:x", "shopId": 1}
    await storage.carts.insert_one({**key, "items": {"p%2E1": {"quantity": 1}, "p2": {}}})
    remove = UpdateOne({**key, "appliedEvents": {"$ne": "e1"}},
                       {"$unset": {"items.p%2E1": ""}, "$inc": {"version": 1},
                        "$push": {"appliedEvents": {"$each": ["e1"], "$slice": -2}}})
    result = await storage.carts.bulk_write([remove, remove], ordered=True)
    assert (result.matched_count, result.modified_count) == (1, 1)
    doc = await storage.carts.find_one(key)
    assert (doc["items"], doc["version"], doc["appliedEvents"]) == ({"p2": {}}, 1, ["e1"])


async def test_guarded_upserts_refuse_a_document_that_has_the_source(storage: Storage) -> None:
    """Interests: an upsert whose guard excludes the stored doc fails with a duplicate key."""
    def bump(sources: list[str]) -> UpdateOne:
        return UpdateOne({"_id": "1:u:p:x", "shopId": 1, "appliedEvents": {"$nin": sources}},
                         {"$inc": {"decayed": 1.0},
                          "$push": {"appliedEvents": {"$each": sources, "$slice": -200}}},
                         upsert=True)
    await storage.interests.bulk_write([bump(["e1"])], ordered=False)
    with pytest.raises(BulkWriteError) as caught:
        await storage.interests.bulk_write([bump(["e1", "e2"]), bump(["e3"])], ordered=False)
    assert [(e["index"], e["code"]) for e in caught.value.details["writeErrors"]] == [(0, 11000)]
    assert (await storage.interests.find_one({"_id": "1:u:p:x"}))["decayed"] == 2.0


async def test_conditional_settle_by_version(storage: Storage) -> None:
    """The abandoned-cart settle: a cart changed since it was read keeps its own clock."""
    await storage.carts.insert_many([{"_id": "1:a", "shopId": 1, "version": 2, "dueAt": T0},
                                     {"_id": "1:b", "shopId": 1, "version": 5, "dueAt": T0}])
    settle = [UpdateOne({"_id": i, "shopId": 1, "version": 2}, {"$set": {"dueAt": None}})
              for i in ("1:a", "1:b")]
    result = await storage.carts.bulk_write(settle, ordered=False)
    assert result.modified_count == 1
    due = await storage.carts.find({"dueAt": {"$lte": T0}}).sort("dueAt", 1).to_list(None)
    assert [d["_id"] for d in due] == ["1:b"]


async def test_find_one_and_delete_and_update_many_per_shop(storage: Storage) -> None:
    await storage.triggers.insert_many([{"_id": f"{s}:t", "shopId": s, "published": False}
                                        for s in (1, 2)])
    marks = [UpdateMany({"shopId": s, "_id": {"$in": [f"{s}:t"]}}, {"$set": {"published": True}})
             for s in (1, 2)]
    assert (await storage.triggers.bulk_write(marks, ordered=False)).modified_count == 2
    gone = await storage.triggers.find_one_and_delete({"_id": "1:t", "shopId": 1})
    assert gone["published"] is True
    assert await storage.triggers.find_one_and_delete({"_id": "1:t", "shopId": 1}) is None


async def test_restamp_pipeline_adds_days_to_dates(storage: Storage) -> None:
    """updateShopSettings(anonymousHistoryDays): anonymous events expire by the new window."""
    await storage.events.insert_many([
        {"_id": "1:v:a", "shopId": 1, "userId": None, "occurredAt": T0, "expireAt": T0},
        {"_id": "1:v:b", "shopId": 1, "userId": "u", "occurredAt": T0}])
    await storage.events.update_many(
        {"shopId": 1, "userId": None},
        [{"$set": {"expireAt": {"$add": ["$occurredAt", 30 * 86_400_000]}}}])
    docs = {d["_id"]: d for d in await storage.events.find({"shopId": 1}).to_list(None)}
    assert utc(docs["1:v:a"]["expireAt"]) == T0 + timedelta(days=30)
    assert "expireAt" not in docs["1:v:b"]


async def test_checkout_pipeline_empties_the_cart_once(storage: Storage) -> None:
    cart = {"_id": "1:u:x", "shopId": 1}
    await storage.carts.insert_one({**cart, "items": {"p": {"productId": "p", "quantity": 2}},
                                    "version": 3})
    owner = {"shopId": 1, "owner": "u:x", "userId": "x", "visitorId": "v"}

    async def checkout() -> dict | None:
        return await storage.carts.find_one_and_update(
            {**cart, "lastCheckout.eventKey": {"$ne": "e9"}},
            carts.checkout_pipeline(owner, T0, "e9"), upsert=True,
            return_document=ReturnDocument.BEFORE)

    before = await checkout()
    assert before["items"]["p"]["quantity"] == 2
    with pytest.raises(DuplicateKeyError):
        await checkout()
    doc = await storage.carts.find_one(cart)
    assert (doc["items"], doc["status"], doc["version"], doc["dueAt"]) == ({}, "ORDERED", 4, None)
    assert doc["lastCheckout"]["items"]["p"]["quantity"] == 2


async def test_cart_merge_pipelines(storage: Storage) -> None:
    """Take the anonymous items aside, add them to the customer's cart by path, once."""
    anon, mine = {"_id": "1:v:v", "shopId": 1}, {"_id": "1:u:x", "shopId": 1}
    await storage.carts.insert_many([
        {**anon, "version": 1, "updatedAt": T0, "items": {"p%2E1": {
            "productId": "p.1", "quantity": 2, "addedAt": T0, "price": 4.5}}},
        {**mine, "version": 7, "updatedAt": T0 - timedelta(hours=1), "items": {"p%2E1": {
            "productId": "p.1", "quantity": 1, "addedAt": T0 - timedelta(hours=1)}}}])
    taken = (await storage.carts.find_one_and_update(
        anon, carts.take_pipeline(), return_document=ReturnDocument.AFTER))
    again = await storage.carts.find_one_and_update(anon, carts.take_pipeline(),
                                                    return_document=ReturnDocument.AFTER)
    assert taken["items"] == {} and again["lastMerge"] == taken["lastMerge"]
    owner = {"shopId": 1, "owner": "u:x", "userId": "x", "visitorId": "v"}
    merge = UpdateOne({**mine, "appliedEvents": {"$ne": "m"}},
                      carts.merge_pipeline(taken["lastMerge"], owner, 60, "m"), upsert=True)
    delete = DeleteOne({**anon, "version": taken["version"]})
    await storage.carts.bulk_write([merge, delete], ordered=False)
    with pytest.raises(BulkWriteError) as caught:  # a retry: applied once, deletes nothing
        await storage.carts.bulk_write([merge, delete], ordered=False)
    assert caught.value.details["nRemoved"] == 0
    doc = await storage.carts.find_one(mine)
    item = doc["items"]["p%2E1"]
    assert (item["quantity"], item["price"], utc(item["addedAt"])) == (
        3, 4.5, T0 - timedelta(hours=1))
    assert (doc["version"], utc(doc["dueAt"]), doc["appliedEvents"]) == (
        9, T0 + timedelta(seconds=60), ["m"])
    assert await storage.carts.find_one(anon) is None


async def test_counter_and_sources_by_position(storage: Storage) -> None:
    """createShop's id counter; addEventSource pushes a new source, replaces one in place."""
    ids = [(await storage.counters.find_one_and_update(
        {"_id": "shopId"}, {"$inc": {"value": 1}}, upsert=True,
        return_document=ReturnDocument.AFTER))["value"] for _ in range(2)]
    await storage.counters.update_one({"_id": "shopId"}, {"$max": {"value": 9}})
    assert ids == [1, 2] and (await storage.counters.find_one({"_id": "shopId"}))["value"] == 9
    await storage.shops.insert_one({"_id": 3, "sources": [{"sourceId": "site", "n": 1}]})
    new = {"$push": {"sources": {"sourceId": "app", "n": 1}}}
    for _ in range(2):
        await storage.shops.find_one_and_update({"_id": 3, "sources.sourceId": {"$ne": "app"}},
                                                new)
    doc = await storage.shops.find_one_and_update(
        {"_id": 3, "sources.1.sourceId": "app"},
        {"$set": {"sources.1": {"sourceId": "app", "n": 2}, "defaultSourceId": "app"}},
        return_document=ReturnDocument.AFTER)
    assert doc["sources"] == [{"sourceId": "site", "n": 1}, {"sourceId": "app", "n": 2}]
    assert doc["defaultSourceId"] == "app"
    last = await storage.shops.find({}, {"_id": 1}).sort("_id", -1).limit(1).to_list(1)
    assert last == [{"_id": 3}]


# -- audiences (app/audiences*.py) ---------------------------------------------------------


async def test_conditional_writes_on_a_revision_report_who_won(storage: Storage) -> None:
    """A membership change: upsert only if absent, update or delete only at the rev read."""
    new = UpdateOne({"_id": "1:a:u", "shopId": 1, "rev": {"$exists": False}},
                    {"$set": {"rev": "r1", "pending": [{"_id": "t1"}], "dueAt": T0}},
                    upsert=True)
    result = await storage.memberships.bulk_write([new], ordered=False)
    assert result.upserted_count == 1
    with pytest.raises(BulkWriteError) as caught:  # the same insert from a second writer
        await storage.memberships.bulk_write([new], ordered=False)
    assert [e["code"] for e in caught.value.details["writeErrors"]] == [11000]
    result = await storage.memberships.bulk_write([
        UpdateOne({"_id": "1:a:u", "shopId": 1, "rev": "r1"}, {"$set": {"rev": "r2"}}),
        UpdateOne({"_id": "1:a:u", "shopId": 1, "rev": "r1"}, {"$set": {"rev": "r3"}}),
    ], ordered=False)
    assert result.matched_count == 1
    assert (await storage.memberships.find_one({"_id": "1:a:u"}))["rev"] == "r2"
    assert await storage.memberships.count_documents({"pending.0": {"$exists": True}}) == 1
    result = await storage.memberships.bulk_write(
        [DeleteOne({"_id": "1:a:u", "shopId": 1, "rev": "r1"})], ordered=False)
    assert result.deleted_count == 0
    result = await storage.memberships.bulk_write(
        [DeleteOne({"_id": "1:a:u", "shopId": 1, "rev": "r2"})], ordered=False)
    assert result.deleted_count == 1


async def test_due_times_skip_nulls_and_come_in_order(storage: Storage) -> None:
    await storage.memberships.insert_many([
        {"_id": "a", "shopId": 1, "dueAt": T0}, {"_id": "b", "shopId": 1, "dueAt": None},
        {"_id": "c", "shopId": 1, "dueAt": T0 - timedelta(seconds=1)},
        {"_id": "d", "shopId": 1, "dueAt": T0 + timedelta(seconds=1)}])
    due = await storage.memberships.find({"dueAt": {"$lte": T0}}).sort("dueAt", 1) \
        .limit(10).to_list(10)
    assert [d["_id"] for d in due] == ["c", "a"]


async def test_a_capped_list_on_one_document(storage: Storage) -> None:
    """At most 3 audiences on a shop document: the limit is the filter of one `$push`."""
    await storage.shops.insert_one({"_id": 1})
    added = []
    for n in range(4):
        result = await storage.shops.update_one(
            {"_id": 1, "audiences.2": {"$exists": False}},
            {"$push": {"audiences": {"audienceId": f"a{n}"}}})
        added.append(result.matched_count)
    assert added == [1, 1, 1, 0]
    removed = await storage.shops.update_one(
        {"_id": 1, "audiences.audienceId": "a1"}, {"$pull": {"audiences": {"audienceId": "a1"}}})
    assert removed.matched_count == 1
    doc = await storage.shops.find_one({"_id": 1})
    assert [a["audienceId"] for a in doc["audiences"]] == ["a0", "a2"]


async def test_best_first_pages_above_a_threshold(storage: Storage) -> None:
    """Filling an audience: stored values at least a threshold, best first, by cursor."""
    values = [5.0, 3.0, 3.0, 1.0, 4.0, 3.0]
    await storage.interests.insert_many([
        {"_id": f"1:u{i}:product:p", "shopId": 1, "kind": "product", "itemId": "p",
         "userId": f"u{i}", "decayed": v} for i, v in enumerate(values)])
    query = {"shopId": 1, "kind": "product", "itemId": "p", "decayed": {"$gte": 2.0}}
    order = [("decayed", -1), ("_id", 1)]
    first = await storage.interests.find(query, {"userId": 1, "decayed": 1}).sort(order) \
        .limit(3).to_list(3)
    assert [d["userId"] for d in first] == ["u0", "u4", "u1"]
    last = first[-1]
    rest = await storage.interests.find({**query, "$or": [
        {"decayed": {"$lt": last["decayed"]}},
        {"decayed": last["decayed"], "_id": {"$gt": last["_id"]}}]}).sort(order).to_list(None)
    assert [d["userId"] for d in rest] == ["u2", "u5"]
