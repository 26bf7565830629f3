"""The embedded store's fixes keep mongomock's answers unchanged."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone

import mongomock.helpers
import pytest

from app.backends.embedded import prepare_mongomock
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
