"""The sessionization rule, and the atomic visitor update that applies it in MongoDB."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import ReturnDocument

from app.core.keys import session_id_for
from app.platform import open_store
from app.tracking.sessions import Current, Hit, opens_session, plan, split, visitor_update

TIMEOUT = 30_000  # ms
CURRENT = Current("v.1000", start_ms=1_000, last_ms=10_000, events=3)


def view(at: int) -> Hit:
    return Hit(at, False)


def visit(at: int) -> Hit:
    return Hit(at, True)


# -- the rule --------------------------------------------------------------------------


def test_first_event_of_a_visitor_opens_a_session() -> None:
    assert opens_session(None, view(5), TIMEOUT)


def test_event_within_the_timeout_joins() -> None:
    assert not opens_session(CURRENT, view(10_000 + TIMEOUT), TIMEOUT)


def test_event_after_the_timeout_opens() -> None:
    assert opens_session(CURRENT, view(10_000 + TIMEOUT + 1), TIMEOUT)


def test_late_arriving_older_event_joins() -> None:
    assert not opens_session(CURRENT, view(500), TIMEOUT)


def test_visit_after_the_session_start_opens() -> None:
    assert opens_session(CURRENT, visit(1_001), TIMEOUT)


def test_retried_visit_at_the_session_start_joins() -> None:
    assert not opens_session(CURRENT, visit(1_000), TIMEOUT)
    assert not opens_session(CURRENT, visit(999), TIMEOUT)


def test_session_id_names_visitor_and_start() -> None:
    assert session_id_for("v1", 1234) == "v1.1234"


def test_current_session_read_from_the_visitor_document() -> None:
    assert Current.from_visitor(None) is None
    assert Current.from_visitor({"_id": "1:v"}) is None
    doc = {"sid": "v.1", "sStartMs": 1, "sLastMs": 2, "sEvents": 3}
    assert Current.from_visitor(doc) == Current("v.1", 1, 2, 3)


# -- a batch ---------------------------------------------------------------------------


def test_batch_is_cut_where_the_rule_says() -> None:
    segments = split([view(0), view(10), visit(20), view(20 + TIMEOUT + 1), view(5)], TIMEOUT)
    assert [(s.first, s.size, s.count) for s in segments] == [(0, 2, 2), (2, 1, 1), (3, 2, 2)]
    assert [(s.start_ms, s.last_ms) for s in segments] == [
        (0, 10), (20, 20), (20 + TIMEOUT + 1, 20 + TIMEOUT + 1)]


def test_batch_continuing_the_stored_session_counts_its_events() -> None:
    [seg] = plan(CURRENT, "v", [view(11_000), view(12_000)], TIMEOUT)
    assert seg.continues_stored and seg.session_id == "v.1000"
    assert (seg.start_ms, seg.last_ms, seg.count) == (1_000, 12_000, 5)


def test_batch_after_the_timeout_opens_fresh() -> None:
    [seg] = plan(CURRENT, "v", [view(50_000)], TIMEOUT)
    assert not seg.continues_stored
    assert (seg.session_id, seg.count) == ("v.50000", 1)


def test_batch_of_a_new_visitor_opens() -> None:
    segments = plan(None, "v", [view(1), visit(2)], TIMEOUT)
    assert [s.session_id for s in segments] == ["v.1", "v.2"]
    assert not any(s.continues_stored for s in segments)


def test_old_event_does_not_move_the_last_event_back() -> None:
    [seg] = plan(CURRENT, "v", [view(2_000)], TIMEOUT)
    assert seg.last_ms == 10_000 and seg.count == 4


# -- the atomic update agrees with plan ----------------------------------------------------


async def apply(storage: Any, hits: list[Hit], timeout: int, source: str) -> tuple[Any, Any]:
    when = datetime(2026, 3, 1, tzinfo=UTC)
    before = await storage.visitors.find_one_and_update(
        {"_id": "1:v"},
        visitor_update(shop_id=1, visitor_id="v", hits=hits, timeout_ms=timeout,
                       session_fields={"sSource": source, "sLanding": "$not.a.path"},
                       seen_from=when, seen_to=when, user_id=None),
        upsert=True, return_document=ReturnDocument.BEFORE,
    )
    after = await storage.visitors.find_one({"_id": "1:v"})
    return before, after


def random_batch(rng: random.Random, clock: list[int]) -> list[Hit]:
    hits = []
    for _ in range(rng.randint(1, 5)):
        clock[0] += rng.choice([0, 10, 1_000, 5_000, 14_999, 15_000, 15_001, 40_000])
        hits.append(Hit(clock[0] + rng.choice([0, 0, 0, -20_000]), rng.random() < 0.25))
    return hits


@pytest.mark.parametrize("seed", range(5))
async def test_atomic_update_agrees_with_plan(seed: int) -> None:
    storage = open_store("mongomock://", f"sessions_{seed}")
    rng = random.Random(seed)
    clock = [1_000_000]
    for round_no in range(150):
        hits = random_batch(rng, clock)
        timeout = rng.choice([15_000, 30_000])
        before, after = await apply(storage, hits, timeout, f"src{round_no}")
        segments = plan(Current.from_visitor(before), "v", hits, timeout)
        last = segments[-1]
        assert Current.from_visitor(after) == Current(
            last.session_id, last.start_ms, last.last_ms, last.count), (before, hits)
        # A continued session keeps the fields it started with; a new one takes the batch's.
        kept = before["sSource"] if last.continues_stored else f"src{round_no}"
        assert after["sSource"] == kept
        assert after["sLanding"] == "$not.a.path"
        assert "_continues" not in after


async def test_retried_visit_batch_leaves_the_visitor_unchanged_but_counted() -> None:
    storage = open_store("mongomock://", "sessions_retry")
    await apply(storage, [visit(5_000)], TIMEOUT, "a")
    _, after = await apply(storage, [visit(5_000)], TIMEOUT, "b")
    assert Current.from_visitor(after) == Current("v.5000", 5_000, 5_000, 2)
    assert after["sSource"] == "a"
