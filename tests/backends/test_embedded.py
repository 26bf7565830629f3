"""The embedded store's fixes keep mongomock's answers unchanged."""

from __future__ import annotations

import contextlib
import random
import unittest.mock
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import mongomock.filtering
import mongomock.helpers
import pytest
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from app.backends import equality, partial
from app.backends.embedded import _plain_fields, _ruled_out, prepare_mongomock
from app.platform import open_store

prepare_mongomock()
PATCHED = mongomock.helpers.patch_datetime_awareness_in_document


class Special(dict):
    pass


def _original(value: object) -> object:
    # mongomock's own function, unpatched: its recursion goes through the module name,
    # so swap the original in for the duration of the call.
    original = PATCHED.original  # type: ignore[attr-defined]
    mongomock.helpers.patch_datetime_awareness_in_document = original
    try:
        return original(value)
    finally:
        mongomock.helpers.patch_datetime_awareness_in_document = PATCHED


DOCS = [
    {"a": 1, "b": "x", "c": None, "d": 1.5, "e": True, "f": b"raw"},
    {"at": datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)},
    {"at": datetime(2026, 3, 1, 12, 0, 0, 999999,
                    tzinfo=timezone(timedelta(hours=-5)))},
    {"naive": datetime(2026, 3, 1, 12, 0, 0, 500)},
    {"nested": {"list": [datetime(2026, 1, 1, tzinfo=UTC), {"x": (1, 2)}], "t": (3, "y")}},
    OrderedDict([("z", datetime(2026, 1, 1, tzinfo=UTC)), ("a", [1])]),
    Special(k=datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize("doc", DOCS)
def test_dates_are_normalised_as_mongomock_does(doc: object) -> None:
    fast, slow = PATCHED(doc), _original(doc)
    assert fast == slow
    assert type(fast) is type(slow)


async def test_lookups_by_id_answer_as_a_scan_does() -> None:
    storage = open_store("mongomock://", "embedded_test")
    await storage.drop()
    await storage.events.insert_many([{"_id": f"1:{i}", "n": i} for i in range(10)])
    by_key = await storage.events.find({"_id": {"$in": ["1:3", "1:7", "nope"]},
                                        "n": {"$gt": 4}}).to_list(None)
    assert by_key == [{"_id": "1:7", "n": 7}]
    assert await storage.events.find_one({"_id": "1:2"}) == {"_id": "1:2", "n": 2}
    assert await storage.events.find_one({"_id": "1:2", "n": 3}) is None
    await storage.drop()


PIPELINES = [
    [{"$match": {"k": {"$in": ["a", "b"]}}},
     {"$group": {"_id": {"k": "$k", "odd": {"$mod": ["$n", 2]}}, "n": {"$sum": 1},
                 "top": {"$max": "$n"}, "all": {"$push": "$n"}}}],
    [{"$group": {"_id": "$k", "n": {"$sum": "$n"}}}, {"$sort": {"n": -1}}],
    [{"$group": {"_id": "$tags", "n": {"$sum": 1}}}],  # array keys: the original's way
    [{"$group": {"_id": None, "n": {"$sum": 1}}}],
    [{"$match": {"n": {"$gte": 3}}}, {"$match": {"k": "a"}}, {"$project": {"_id": 0, "n": 1}}],
    [{"$project": {"k": 1}}, {"$match": {"k": "b"}}],
    [{"$match": {"n": {"$lt": 9}}}, {"$project": {"k": 1, "tags": True}},
     {"$group": {"_id": "$k", "t": {"$push": "$tags"}, "n": {"$sum": "$n"}}}],
    [{"$match": {"n": {"$lt": 9}}}, {"$project": {"k": 1, "_id": 0}}],
    [{"$match": {"n": {"$lt": 9}}}, {"$project": {"k": 0}}],
]


@pytest.mark.parametrize("pipeline", PIPELINES)
async def test_aggregations_answer_as_mongomock_does(pipeline: list) -> None:
    from mongomock.aggregate import process_pipeline

    storage = open_store("mongomock://", "embedded_test")
    await storage.drop()
    docs = [{"_id": i, "k": "abc"[i % 3] if i != 4 else None, "n": i,
             "tags": ["x", "y"][: i % 3]} for i in range(12)]
    await storage.events.insert_many(docs)
    ours = await storage.events.aggregate(pipeline).to_list(None)
    # mongomock's own way: every document, each stage by its original handler.
    import mongomock.aggregate as agg

    patched = agg._PIPELINE_HANDLERS["$group"]
    agg._PIPELINE_HANDLERS["$group"] = patched.original
    try:
        theirs = list(process_pipeline([dict(d) for d in docs], None, pipeline, None))
    finally:
        agg._PIPELINE_HANDLERS["$group"] = patched
    assert ours == theirs
    await storage.drop()


@pytest.mark.parametrize(("skip", "limit", "sort"), [
    (0, 0, None), (3, 0, None), (0, 4, None), (2, 5, -1), (9, 5, 1), (20, 0, None), (0, -3, 1),
    (3, 4, None), (0, -3, None), (8, 5, None), (20, 2, None),
])
def test_cursors_read_what_they_did(skip: int, limit: int, sort: int | None) -> None:
    import mongomock
    from mongomock.collection import Cursor

    collection = mongomock.MongoClient().db.events
    collection.insert_many([{"_id": i, "n": (i * 7) % 12} for i in range(12)])

    def read() -> list:
        cursor = collection.find({"n": {"$gte": 2}}, skip=skip, limit=limit)
        return list(cursor.sort("n", sort) if sort else cursor)

    ours = read()
    assert ours or skip >= 10
    patched, computed = Cursor.__next__, Cursor._compute_results
    Cursor.__next__ = patched.original  # type: ignore[attr-defined]
    Cursor._compute_results = computed.original  # type: ignore[attr-defined]
    try:
        theirs = read()
    finally:
        Cursor.__next__, Cursor._compute_results = patched, computed
    assert ours == theirs


async def test_a_long_in_list_matches_as_mongodb_does() -> None:
    storage = open_store("mongomock://", "embedded_in")
    await storage.drop()
    docs = [{"_id": f"k{n}", "shopId": 1, "n": n, "tags": [f"t{n}", "all"]} for n in range(40)]
    docs.append({"_id": "none", "shopId": 1})
    await storage.products.insert_many(docs)
    ids = [f"k{n}" for n in range(0, 40, 2)] + ["missing"]
    found = await storage.products.find({"_id": {"$in": ids}}).to_list(None)
    assert sorted(d["_id"] for d in found) == sorted(ids[:-1])
    numbers = [*range(10, 30), None]  # None matches a missing field
    found = await storage.products.find({"n": {"$in": numbers}}).to_list(None)
    assert len(found) == 21
    found = await storage.products.find({"tags": {"$in": [f"t{n}" for n in range(20)]}}
                                        ).to_list(None)
    assert len(found) == 20  # an array field matches by any of its values
    found = await storage.products.find({"n": {"$nin": list(range(5, 40))}}).to_list(None)
    assert sorted(d["_id"] for d in found) == ["k0", "k1", "k2", "k3", "k4", "none"]
    await storage.drop()


BOOLEANS = [{"_id": "t", "f": True}, {"_id": "f", "f": False}, {"_id": "zero", "f": 0},
            {"_id": "one", "f": 1}, {"_id": "none", "f": None}, {"_id": "missing"},
            {"_id": "list", "f": [False]}, {"_id": "text", "f": "false"}]


@pytest.mark.parametrize("condition", [False, True, {"$in": [False, None]}, {"$in": [True, 1]}])
async def test_a_boolean_filter_matches_as_mongomock_does(condition: object) -> None:
    storage = open_store("mongomock://", "embedded_bool")
    await storage.drop()
    await storage.events.insert_many([dict(d) for d in BOOLEANS])
    ours = await storage.events.find({"f": condition}).to_list(None)
    theirs = [d for d in BOOLEANS if mongomock.filtering.filter_applies({"f": condition}, d)]
    assert sorted(d["_id"] for d in ours) == sorted(d["_id"] for d in theirs)
    await storage.drop()


def test_a_scan_for_pending_documents_passes_over_the_counted_ones_unopened() -> None:
    # The reports' and the folds' `{rolled: false}` (app/backends/folds.py): a document
    # without the field, or with another boolean, is ruled out before mongomock's test.
    plain = _plain_fields({"rolled": False, "shopId": 1})
    assert _ruled_out(plain, {"shopId": 1})
    assert _ruled_out(plain, {"shopId": 1, "rolled": True})
    assert not _ruled_out(plain, {"shopId": 1, "rolled": False})
    assert not _ruled_out(plain, {"shopId": 1, "rolled": [False]})  # arrays: mongomock's say


async def _random_writes(rng: random.Random, events: Any) -> None:
    """One write of any kind mongomock has, on a few ids, with and without the fields
    the partial indexes select by."""
    key = f"1:{rng.randrange(12)}"
    pending = rng.choice([{"rolled": False}, {"rolled": True}, {}, {"rolled": [False]},
                          {"rolled": 0}, {"foldBatch": "b1"}, {"foldBatch": 7},
                          {"coAt": datetime(2026, 1, rng.randrange(1, 9))}])
    kind = rng.randrange(9)
    with contextlib.suppress(DuplicateKeyError, BulkWriteError):
        if kind == 0:
            await events.insert_one({"_id": key, "shopId": 1, **pending})
        elif kind == 1:
            await events.insert_many([{"_id": f"1:{rng.randrange(12)}", "shopId": 1, **pending}
                                      for _ in range(3)], ordered=False)
        elif kind == 2:
            await events.update_one({"_id": key}, {"$set": pending or {"x": 1}}, upsert=True)
        elif kind == 3:
            await events.update_many({"shopId": 1, "n": {"$exists": False}},
                                     {"$unset": {"rolled": "", "foldBatch": ""}})
        elif kind == 4:
            await events.replace_one({"_id": key}, {"shopId": 1, **pending}, upsert=True)
        elif kind == 5:
            await events.delete_one({"_id": key})
        elif kind == 6:
            await events.find_one_and_update({"rolled": False}, {"$set": {"foldBatch": "b2"}})
        elif kind == 7:
            await events.bulk_write([UpdateOne({"_id": key}, {"$set": pending or {"y": 1}},
                                               upsert=True),
                                     UpdateOne({"foldBatch": "b1"}, {"$unset": {"foldBatch": ""},
                                                                     "$set": {"rolled": False}})])
        else:
            await events.update_many({"_id": {"$in": [key, "1:1"]}}, {"$set": pending or {"z": 1}})


async def _answers_as_a_scan(events: Any, queries: list[dict[str, Any]]) -> None:
    """Each query finds what mongomock's own test of every stored document finds, in the
    collection's order."""
    everything = await events.find({}).to_list(None)
    for query in queries:
        found = await events.find(query).to_list(None)
        expected = [d for d in everything if mongomock.filtering.filter_applies(query, d)]
        assert [d["_id"] for d in found] == [d["_id"] for d in expected], query


QUERIES = [{"rolled": False}, {"rolled": False, "shopId": 1}, {"foldBatch": "b1"},
           {"foldBatch": {"$in": ["b1", "b2"]}}, {"coAt": {"$lte": datetime(2026, 1, 5)}},
           {"coAt": {"$gt": datetime(2026, 1, 2), "$lt": datetime(2026, 1, 7)}},
           {"foldBatch": {"$type": "string"}, "shopId": {"$in": [1]}},
           {"rolled": 0}, {"foldBatch": 7}, {"foldBatch": {"$type": "date"}}]


async def test_a_partial_index_answers_as_a_scan_of_the_collection_does_through_any_writes(
        ) -> None:
    # The folds' pending facts and co-occurrence's due views (app/backends/partial.py):
    # after every write of every kind, each query a partial index serves finds what
    # mongomock's own test of every stored document finds, in the same order.
    storage = open_store("mongomock://", "embedded_partial")
    await storage.drop()
    events = storage.events
    await events.insert_one({"_id": "1:0", "shopId": 1, "rolled": False})  # before the index
    await events.create_index("rolled", partialFilterExpression={"rolled": False})
    await events.create_index("foldBatch",
                              partialFilterExpression={"foldBatch": {"$type": "string"}})
    await events.create_index("coAt", partialFilterExpression={"coAt": {"$type": "date"}})
    store = events.raw._AsyncMongoMockCollection__collection._store
    served = [q for q in QUERIES if partial.candidates(store, q) is not None]
    assert len(served) == 7  # the last three ask for other types: the scan answers them
    rng = random.Random(23)
    for step in range(400):
        await _random_writes(rng, events)
        if step == 200:
            await storage.drop()
            await events.create_index("rolled", partialFilterExpression={"rolled": False})
        await _answers_as_a_scan(events, QUERIES)
    await storage.drop()


async def test_a_search_for_pending_documents_reads_only_the_pending_ones() -> None:
    storage = open_store("mongomock://", "embedded_pending")
    await storage.drop()
    await storage.create_indexes()
    await storage.events.insert_many([{"_id": f"1:{i}", "shopId": 1, "rolled": False}
                                      if i % 1000 == 0 else {"_id": f"1:{i}", "shopId": 1}
                                      for i in range(5000)])
    query = {"rolled": False, "shopId": 1}
    scanned = []
    with unittest.mock.patch("app.backends.embedded._ruled_out",
                             lambda plain, doc: scanned.append(doc) or False):
        found = await storage.events.find(query).to_list(None)
    assert sorted(d["_id"] for d in found) == ["1:0", "1:1000", "1:2000", "1:3000", "1:4000"]
    assert scanned == []  # no scan: the index's five documents were the candidates
    store = storage.events.raw._AsyncMongoMockCollection__collection._store
    assert len(list(partial.candidates(store, query) or [])) == 5
    await storage.drop()


async def test_a_search_for_claimed_documents_reads_only_the_claimed_ones() -> None:
    # A fold with a backlog looks up the claims of the shops it is about to claim for
    # (app/backends/folds.py): the partial index's own filter, read from the index.
    storage = open_store("mongomock://", "embedded_claimed")
    await storage.drop()
    await storage.create_indexes()
    await storage.events.insert_many([
        {"_id": f"1:{i}", "shopId": 1, "rolled": False,
         **({"foldBatch": "events:1:b"} if i % 1000 == 0 else {})} for i in range(5000)])
    query = {"shopId": {"$in": [1]}, "foldBatch": {"$type": "string"}}
    store = storage.events.raw._AsyncMongoMockCollection__collection._store
    assert len(list(partial.candidates(store, query) or [])) == 5
    assert len(await storage.events.find(query).to_list(None)) == 5
    await storage.drop()


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return (type(value), {k: _types(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value)


PROJECTIONS = [None, {"a": 1}, {"a": 1, "_id": 0}, {"a": True, "b": 1, "z": 1}, {"a": 0},
               {"a": 0, "_id": 0}, {"_id": 0}, {"_id": 1}, {"b.c": 1},
               {"l": 0, "b": False}]


@pytest.mark.parametrize("fields", PROJECTIONS)
def test_projections_copy_what_mongomock_copies(fields: dict | None) -> None:
    import mongomock.collection as mc

    doc = OrderedDict(_id="1:1", a=[1, {"x": datetime(2026, 1, 1)}],
                      b=OrderedDict(c=[2, 3], d="e"), l=[[1], [2]], n=None)
    project = mc.Collection._copy_only_fields
    collection = open_store("mongomock://", "embedded_projection").events.raw
    mock = collection._AsyncMongoMockCollection__collection
    ours = project(mock, doc, None if fields is None else dict(fields), dict)
    theirs = project.original(mock, doc, None if fields is None else dict(fields), dict)
    assert ours == theirs
    assert _types(ours) == _types(theirs)  # plain dicts, as mongomock returns them
    if "a" in ours:
        ours["a"][1]["x"] = 0  # a copy: the stored document is unchanged
        assert doc["a"][1]["x"] == datetime(2026, 1, 1)


VALUES = [None, True, False, 0, 1, 1.0, 2, "1", "a", "", [1], ["a", 1], [], {"x": 1}, {},
          datetime(2026, 1, 1)]


def test_simple_filters_are_decided_as_mongomock_decides_them() -> None:
    # The embedded store's own test of plain filters (`direct.applies`): every verdict it gives
    # is mongomock's, over values of every kind, missing fields, and filters it passes on.
    from app.backends.direct import applies as _applies

    rng = random.Random(7)
    conditions = [*VALUES, *({"$in": rng.sample(VALUES, 3)} for _ in range(30)),
                  {"$in": [str(i) for i in range(40)] + [1]}, {"$exists": True},
                  {"$exists": False}, {"$ne": 1}, {"$gt": 0}]
    for _ in range(4000):
        doc = {"_id": 1, **{f: rng.choice(VALUES) for f in "ab" if rng.random() < 0.8}}
        filter = {f: rng.choice(conditions) for f in rng.sample("ab", rng.randint(1, 2))}
        assert _applies(filter, doc) == bool(mongomock.filtering.filter_applies(filter, doc)), (
            filter, doc)


MARKS = [None, "b1", "b2", 1, ["b1"], {"b": "b1"}]


def test_a_folds_guard_is_decided_as_mongomock_decides_it() -> None:
    # `{"applied.b": {"$ne": batch}}` on lists of marks, single marks, marks without `b`
    # or with other values, missing or plain `applied`, and guards of other shapes.
    from app.backends.direct import applies as _applies

    rng = random.Random(11)
    guards = [{"$ne": "b1"}, {"$ne": "b3"}, {"$ne": 1}, {"$ne": None}, "b1", {"$in": ["b1"]},
              {"$ne": "b1", "$exists": True}]

    def mark() -> object:
        kind = rng.random()
        if kind < 0.7:
            if rng.random() < 0.1:
                return {"at": 1}
            # `b`, or a field named as an array position would be ("applied.0")
            return {rng.choice("b0"): rng.choice(MARKS), "at": 1}
        return rng.choice(MARKS)

    cases = [({"applied.0": {"$ne": "b1"}}, {"applied": [{"0": "b1"}]}),  # a position
             ({"applied.0": {"$ne": "b1"}}, {"applied": {"0": "b1"}})]  # a field
    for _ in range(4000):
        shape = rng.random()
        applied = ([mark() for _ in range(rng.randint(0, 4))] if shape < 0.7
                   else mark() if shape < 0.9 else rng.choice(VALUES))
        name = rng.choice(["applied.b", "applied.b", "applied.0", "applied.at", "applied.b.c",
                           "n.b"])
        cases.append(({name: rng.choice(guards)},
                      {"applied": applied} if rng.random() < 0.9 else {}))
    for guard, fields in cases:
        doc, filter = {"_id": 1, "n": 1, **fields}, {"_id": 1, **guard}
        assert _applies(filter, doc) == bool(mongomock.filtering.filter_applies(filter, doc)), (
            filter, doc)


UPDATES = [
    ({"n": {"$gte": 3}}, {"$set": {"flag": "b1"}}, False, True),
    ({"n": 4}, {"$set": {"flag": "b1", "k": None}, "$unset": {"n": "", "gone": ""}}, False, False),
    ({"n": {"$lt": 3}}, {"$unset": {"flag": ""}}, False, True),
    ({"_id": "1:2"}, {"$set": {"n": 2}}, False, False),  # the same value: not modified
    ({"_id": "1:2"}, {"$set": {"n": 2.0}}, False, False),  # another type: modified
    ({"_id": "1:3", "shopId": 1}, {"$setOnInsert": {"by": "b"}}, True, False),  # matched
    ({"_id": "1:99", "shopId": 1}, {"$setOnInsert": {"by": "b"}}, True, False),  # inserted
    ({"_id": "1:98", "shopId": 1}, {"$setOnInsert": {"at": datetime(2026, 1, 1, 1, 2, 3, 4567,
                                                                 tzinfo=UTC),
                                                      "l": [1, {"x": 2}]}}, True, False),
    ({"_id": "1:97", "n": {"$gt": 1}}, {"$setOnInsert": {"by": "b"}}, True, False),
    ({"_id": "1:95", "shopId": 1}, {"$setOnInsert": {"shopId": 1, "by": "b"}}, True, False),
    ({"_id": "1:94", "shopId": 1}, {"$setOnInsert": {"shopId": 2}}, True, False),
    ({"_id": "1:93", "shopId": 1}, {"$setOnInsert": {"shopId": 1.0}}, True, False),
    ({"shopId": 1, "n": 100}, {"$setOnInsert": {"by": "b"}}, True, False),  # no _id given
    ({"_id": "1:96"}, {"$setOnInsert": {"a.b": 1}}, True, False),
    ({"_id": "1:5"}, {"$set": {"a.b": 1}}, False, False),  # dotted: the original's
    # A fold's finish of counted events (app/analytics/rollups.py): a rename besides.
    ({"n": {"$gte": 3}}, {"$unset": {"flag": ""}, "$rename": {"n": "m"}}, False, True),
    ({"_id": "1:2"}, {"$rename": {"missing": "m"}}, False, False),  # nothing to rename
    ({"_id": "1:2"}, {"$rename": {"n": "shopId"}}, False, False),  # the target replaced
    ({"_id": "1:2"}, {"$set": {"k": 1}, "$rename": {"n": "m", "shopId": "s"}}, False, False),
    ({"_id": "1:2"}, {"$set": {"n": 1}, "$rename": {"n": "m"}}, False, False),  # a conflict
    ({"_id": "1:2"}, {"$unset": {"m": ""}, "$rename": {"n": "m"}}, False, False),  # one too
    ({"_id": "1:2"}, {"$rename": {"n": "n"}}, False, False),  # the same name: an error
    ({"_id": "1:2"}, {"$rename": {"n": "a.b"}}, False, False),  # dotted: the original's
    ({"_id": "1:2"}, {"$rename": {"n": 5}}, False, False),  # not a name: the original's
    ({"_id": "1:6"}, {"$inc": {"n": 1}}, True, False),
    # A fold's guarded update of a bucket (app/backends/folds.py apply), and its neighbours.
    ({"_id": "1:1", "applied.b": {"$ne": "b9"}},
     {"$inc": {"c.views": 2, "c.adds": 1.5, "n": 3}, "$max": {"h.7": 4, "h.8": 0},
      "$push": {"applied": {"b": "b9", "at": datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)},
                "vs": {"$each": ["x", "y", "z"], "$slice": 4}},
      "$setOnInsert": {"shopId": 1, "kind": "h"}}, True, False),
    ({"_id": "1:2"}, {"$inc": {"c.views": 0}}, False, False),  # a new field at 0: modified
    ({"_id": "1:2"}, {"$inc": {"n": 0}}, False, False),  # unchanged
    ({"_id": "1:3"}, {"$max": {"n": 1}}, False, False),  # lower: unchanged
    ({"_id": "1:3"}, {"$max": {"n": 5.0}}, False, False),
    ({"_id": "1:4"}, {"$push": {"vs": {"$each": [], "$slice": -2}}}, False, False),
    ({"_id": "1:5"}, {"$push": {"vs": {"$each": [1, 2], "$slice": 0}}}, False, False),
    ({"_id": "1:5"}, {"$inc": {"shopId.x": 1}}, False, False),  # a parent not a document
    ({"_id": "1:5"}, {"$inc": {"n": 1, "n.x": 1}}, False, False),  # conflicting: mongomock's
    ({"_id": "1:6"}, {"$inc": {"a.b.c": 1}}, False, False),  # deeper: mongomock's
    ({"_id": "1:7"}, {"$push": {"n": 1}}, False, False),  # not an array: mongomock's error
    ({"_id": "1:404"}, {"$inc": {"c.views": 1}, "$setOnInsert": {"k": 1}}, True, False),
    # A bucket's first batch: the upsert inserts (`direct.counted_new`), and its neighbours.
    ({"_id": "1:50", "shopId": 1, "applied.b": {"$ne": "b9"}},
     {"$inc": {"c.views": 2, "n": 3}, "$max": {"h.7": 4},
      "$push": {"applied": {"b": "b9", "at": datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)},
                "vs": {"$each": ["x", "y", "z"], "$slice": 2}},
      "$setOnInsert": {"shopId": 1, "kind": "h", "at": datetime(2026, 1, 1, tzinfo=UTC)}},
     True, False),
    ({"_id": "1:51", "shopId": 1}, {"$max": {"h.7": 4}, "$setOnInsert": {"k": "p1"}}, True,
     False),
    ({"_id": "1:52", "shopId": 1}, {"$inc": {"n": 1}, "$setOnInsert": {"shopId": 2}}, True,
     False),  # an inserted field unlike the filter's: mongomock's
    ({"_id": "1:53"}, {"$inc": {"k": 1}, "$setOnInsert": {"k": 2}}, True, False),  # one path
    ({"_id": "1:54", "n": {"$gt": 1}}, {"$inc": {"c": 1}}, True, False),  # not an equality
    ({"_id": "1:55", "s.t": 1}, {"$inc": {"c": 1}}, True, False),  # a dotted equality
    ({"shopId": 1, "n": 100}, {"$inc": {"c": 1}}, True, False),  # no _id: mongomock makes one
    ({"_id": "1:404"}, {"$inc": {"c.views": 1}}, False, False),
]


@pytest.mark.parametrize(("spec", "document", "upsert", "multi"), UPDATES)
def test_updates_answer_and_write_as_mongomocks_own(spec: dict, document: dict, upsert: bool,
                                                    multi: bool) -> None:
    import mongomock
    import mongomock.collection as mc

    def run() -> tuple[Any, list[Any]]:
        collection = mongomock.MongoClient().db.events
        collection.insert_many([{"_id": f"1:{i}", "shopId": 1, "n": i} for i in range(8)])
        collection.update_one({"_id": "1:4"}, {"$set": {"vs": ["a", "b", "c"]}})
        collection.update_one({"_id": "1:1"}, {"$set": {"vs": ["a"], "h": {"7": 5, "8": 1},
                                                        "applied": [{"b": "b1"}]}})
        try:
            result = collection._update(dict(spec), dict(document), upsert=upsert, multi=multi)
        except Exception as error:  # the same error, and nothing written
            result = {"error": type(error).__name__, "upserted": None}
        if not isinstance(result["upserted"], str | None):  # an id made up: the same in both
            collection.update_one({"_id": result["upserted"]}, {"$set": {"made": True}})
            result["upserted"] = "made"
        found = list(collection.find({}))
        return result, [{**d, "_id": "made"} if d.get("made") else d for d in found]

    ours = run()
    patched = mc.Collection._update
    mc.Collection._update = patched.inner.original  # type: ignore[attr-defined]
    try:
        theirs = run()
    finally:
        mc.Collection._update = patched
    assert ours[0] == {**theirs[0], **({"connectionId": ours[0]["connectionId"]}
                                      if "connectionId" in ours[0] else {})}
    assert ours[1] == theirs[1]
    assert [_types(d) for d in ours[1]] == [_types(d) for d in theirs[1]]


async def test_an_equality_index_answers_as_a_scan_does_in_the_same_order(
        ) -> None:
    # A visitor's documents (app/backends/equality.py): after every write of every kind,
    # a query by visitor (a string, `$in` strings) finds what mongomock's own test of
    # every stored document finds, in the collection's order.
    storage = open_store("mongomock://", "embedded_equality")
    await storage.drop()
    events = storage.events
    await events.insert_one({"_id": "1:0", "shopId": 1, "visitorId": "va"})
    await events.create_index([("shopId", 1), ("visitorId", 1), ("at", -1)])
    store = events.raw._AsyncMongoMockCollection__collection._store
    queries = [{"shopId": 1, "visitorId": "va"}, {"visitorId": {"$in": ["vb", "vc"]}},
               {"shopId": 1, "visitorId": "vb", "userId": None}, {"visitorId": "nobody"}]
    assert all(equality.candidates(store, q) is not None for q in queries)
    assert equality.candidates(store, {"visitorId": {"$in": ["va", 1]}}) is None
    rng = random.Random(5)
    for step in range(300):
        key = f"1:{rng.randrange(15)}"
        who = rng.choice(["va", "vb", "vc", ["va", "vb"], None, 7])
        kind = rng.randrange(6)
        with contextlib.suppress(DuplicateKeyError, BulkWriteError):
            if kind == 0:
                await events.insert_one({"_id": key, "shopId": 1, "visitorId": who})
            elif kind == 1:
                await events.update_one({"_id": key}, {"$set": {"visitorId": who}}, upsert=True)
            elif kind == 2:
                await events.delete_one({"_id": key})
            elif kind == 3:
                await events.update_many({"visitorId": "vb"}, {"$set": {"userId": "u"}})
            elif kind == 4:
                await events.replace_one({"_id": key}, {"shopId": 1, "visitorId": who},
                                         upsert=True)
            else:
                await events.insert_many([{"_id": f"1:{rng.randrange(15)}", "shopId": 1,
                                           "visitorId": who}], ordered=False)
        if step == 150:
            await storage.drop()
            await events.create_index([("shopId", 1), ("visitorId", 1), ("at", -1)])
        await _answers_as_a_scan(events, queries)
    await storage.drop()


async def test_a_folds_finish_sets_unsets_and_renames_in_place_without_copying() -> None:
    """The finish of a page of counted events (unset the pending marks, the expiry moved
    to `expireAt`) does not go through mongomock's update, which copies each document."""
    import mongomock.collection as mc

    T0 = datetime(2026, 1, 1, tzinfo=UTC)
    storage = open_store("mongomock://", "embedded_finish")
    await storage.drop()
    await storage.events.insert_many([{"_id": f"1:{i}", "shopId": 1, "rolled": False,
                                       "foldBatch": "b", "pendingExpireAt": T0}
                                      for i in range(50)])
    with unittest.mock.patch.object(mc, "validate_is_mapping",
                                    side_effect=mc.validate_is_mapping) as slow:
        result = await storage.events.update_many(  # mongomock's update checks its filter first
            {"shopId": 1, "foldBatch": "b"},
            {"$unset": {"rolled": "", "foldBatch": ""}, "$rename": {"pendingExpireAt": "expireAt"}})
    assert slow.call_count == 0
    assert result.modified_count == 50
    assert await storage.events.find({}, {"_id": 0}).to_list(None) == [
        {"shopId": 1, "expireAt": T0.replace(tzinfo=None)}] * 50
    await storage.drop()
