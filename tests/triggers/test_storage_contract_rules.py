"""The storage operations of trigger rules, caps and session abandonment, as the contract
suite runs them: on the embedded store and, with TRACKER_TEST_MONGODB_URL, on MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument

from app.abandonment import watch as abandonment
from app.abandonment.browse_worker import due_query
from app.backends.storage import Storage
from app.core.clock import to_ms
from app.core.events import EventType
from app.tracking import sessions
from app.triggers.caps import admit
from tests.backends.test_storage_contract import storage  # noqa: F401  (the fixture, on every store)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DELAYS = abandonment.Delays(browse=60, category=120)


def update(hits: list[tuple[EventType, str | None, str | None, int]]) -> list[dict]:
    """The visitor update of a batch (type, product, category, ms), as tracking makes it."""
    marks = [abandonment.mark(t, p, c) for t, p, c, _ in hits]
    return sessions.visitor_update(
        shop_id=1, visitor_id="v", hits=[sessions.Hit(ms, False) for *_, ms in hits],
        timeout_ms=1_800_000, session_fields={}, seen_from=T0, seen_to=T0, user_id="u",
        watch=abandonment.Watch(marks, DELAYS))


async def test_session_state_is_kept_by_the_visitor_update(storage: Storage) -> None:  # noqa: F811
    start = to_ms(T0)
    batches = [
        [(EventType.CATEGORY_VIEW, None, "bags.x", start)],
        [(EventType.PRODUCT_VIEW, "p1", "shoes", start + 1000),
         (EventType.PRODUCT_VIEW, "p2", "shoes", start + 2000),
         (EventType.PRODUCT_VIEW, "p1", "shoes", start + 3000)],
        [(EventType.SECTION_VIEW, None, None, start + 4000)],  # a late event: due moves
    ]
    expected = abandonment.Seen()
    for batch in batches:
        await storage.visitors.find_one_and_update({"_id": "1:v"}, update(batch), upsert=True)
        expected.add([abandonment.mark(t, p, c) for t, p, c, _ in batch])
        doc = await storage.visitors.find_one({"_id": "1:v"})
        assert (doc["wP"], doc["wC"], doc["wX"]) == (
            expected.products, expected.categories, False)
        assert doc["wDueMs"] == expected.due_ms(doc["sLastMs"], DELAYS)
    assert doc["wDueMs"] == start + 4000 + 60_000
    assert abandonment.Seen.from_doc(doc).top_category() == "shoes"
    cart = [(EventType.CART_ADD, "p1", "shoes", start + 5000)]
    await storage.visitors.find_one_and_update({"_id": "1:v"}, update(cart))
    doc = await storage.visitors.find_one({"_id": "1:v"})
    assert (doc["wX"], doc["wDueMs"]) == (True, None)
    # A new session starts from nothing.
    later = [(EventType.CATEGORY_VIEW, None, "hats", start + 3_600_000)]
    await storage.visitors.find_one_and_update({"_id": "1:v"}, update(later))
    doc = await storage.visitors.find_one({"_id": "1:v"})
    assert (doc["wP"], doc["wC"], doc["wX"]) == ([], ["hats"], False)
    assert doc["wDueMs"] == start + 3_600_000 + 120_000


async def test_a_session_keeps_its_last_views_only(storage: Storage) -> None:  # noqa: F811
    start = to_ms(T0)
    views = abandonment.MAX_VIEWS * 3
    for first in range(0, views, 7):
        batch = [(EventType.PRODUCT_VIEW, f"p{n}", f"c{n % 3}", start + n)
                 for n in range(first, min(first + 7, views))]
        await storage.visitors.find_one_and_update({"_id": "1:v"}, update(batch), upsert=True)
    doc = await storage.visitors.find_one({"_id": "1:v"})
    kept = range(views - abandonment.MAX_VIEWS, views)
    assert doc["wP"] == [f"p{n}" for n in kept]
    assert doc["wC"] == [f"c{n % 3}" for n in kept]


async def test_the_due_query_finds_identified_watched_sessions(
    storage: Storage,  # noqa: F811
) -> None:
    now = to_ms(T0)
    await storage.visitors.insert_many([
        {"_id": "1:a", "shopId": 1, "userId": "u", "wDueMs": now - 1},
        {"_id": "1:b", "shopId": 1, "userId": "u", "wDueMs": now + 1},
        {"_id": "1:c", "shopId": 1, "userId": None, "wDueMs": now - 1},
        {"_id": "1:d", "shopId": 1, "wDueMs": now - 1},
        {"_id": "1:e", "shopId": 1, "userId": "u", "wDueMs": None},
        {"_id": "1:f", "shopId": 1, "userId": "u"},
    ])
    found = await storage.visitors.find(due_query(now)).sort("wDueMs", 1).to_list(None)
    assert [d["_id"] for d in found] == ["1:a"]
    if storage.real_mongodb:
        plan = await storage.visitors.raw.find(due_query(now)).explain()
        assert "abandonment_due" in str(plan["queryPlanner"]["winningPlan"])


def trigger(trigger_id: str, at: datetime, user: str = "u") -> dict:
    return {"_id": trigger_id, "shopId": 1, "ruleId": "r", "userId": user, "visitorId": "v",
            "firedAt": at}


async def test_a_cap_is_claimed_by_a_conditional_upsert(storage: Storage) -> None:  # noqa: F811
    def cap(doc: dict) -> int:
        return 600

    first = await admit(storage, [trigger("t1", T0), trigger("t2", T0 + timedelta(seconds=1)),
                                  trigger("x1", T0, user="other")], cap)
    assert [d["_id"] for d in first] == ["t1", "x1"]
    again = await admit(storage, [trigger("t1", T0)], cap)  # a retry of the claimant
    assert [d["_id"] for d in again] == ["t1"]
    assert await admit(storage, [trigger("t3", T0 + timedelta(seconds=599))], cap) == []
    later = await admit(storage, [trigger("t4", T0 + timedelta(seconds=600))], cap)
    assert [d["_id"] for d in later] == ["t4"]


async def test_the_rules_document_operations(storage: Storage) -> None:  # noqa: F811
    key = {"_id": 5, "shopId": 5}
    seeded = await storage.triggerRules.find_one_and_update(
        key, {"$setOnInsert": {"rules": [{"ruleId": "a"}, {"ruleId": "b"}]}}, upsert=True,
        return_document=ReturnDocument.AFTER)
    again = await storage.triggerRules.find_one_and_update(
        key, {"$setOnInsert": {"rules": []}}, upsert=True, return_document=ReturnDocument.AFTER)
    assert seeded == again
    full = await storage.triggerRules.update_one({**key, "rules.1": {"$exists": False}},
                                                 {"$push": {"rules": {"ruleId": "c"}}})
    room = await storage.triggerRules.update_one({**key, "rules.2": {"$exists": False}},
                                                 {"$push": {"rules": {"ruleId": "c"}}})
    assert (full.matched_count, room.matched_count) == (0, 1)
    changed = await storage.triggerRules.update_one(
        {**key, "rules.ruleId": "b"}, {"$set": {"rules.$": {"ruleId": "b", "on": False}}})
    gone = await storage.triggerRules.update_one(
        {**key, "rules.ruleId": "a"}, {"$pull": {"rules": {"ruleId": "a"}}})
    missing = await storage.triggerRules.update_one(
        {**key, "rules.ruleId": "zz"}, {"$pull": {"rules": {"ruleId": "zz"}}})
    assert (changed.matched_count, gone.matched_count, missing.matched_count) == (1, 1, 0)
    doc = await storage.triggerRules.find_one(key)
    assert doc["rules"] == [{"ruleId": "b", "on": False}, {"ruleId": "c"}]
