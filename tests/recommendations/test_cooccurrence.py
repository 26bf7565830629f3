"""Co-occurrence as stored: the session window, counting once, decay, the bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.interests import DEFAULT_FRAME
from app.recommendations import pairs, store
from app.recommendations.pairs import VIEWED, View, session_touches

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = T + timedelta(hours=1)


def views(*ids: str, start: datetime = T, tag: str = "e") -> list[View]:
    return [View(p, "cat", start + timedelta(seconds=i), f"{tag}{i}") for i, p in enumerate(ids)]


async def top(platform, product: str, kind: str = VIEWED) -> dict[str, float]:
    found = await store.pairs_of(platform.storage.cooccurrence, 1, kind, [product],
                                 DEFAULT_FRAME, NOW)
    return {s.product_id: s.score for s in found.get(product, ([], None))[0]}


def test_a_new_view_pairs_with_at_most_the_19_views_before_it():
    touches, window = session_touches([], views(*[f"p{i}" for i in range(30)]), DEFAULT_FRAME)
    last_own = next(t for t in touches if t.product_id == "p29" and t.pairs)
    assert len(last_own.pairs) == 19
    assert set(last_own.pairs) == {f"p{i}" for i in range(10, 29)}
    assert [w["p"] for w in window] == [f"p{i}" for i in range(10, 30)]


def test_viewing_a_product_again_in_the_session_adds_no_pair():
    touches, window = session_touches([], views("a", "b", "a"), DEFAULT_FRAME)
    paired = [(t.product_id, sorted(t.pairs)) for t in touches if t.pairs]
    assert paired == [("b", ["a"]), ("a", ["b"])]
    assert [w["p"] for w in window] == ["a", "b", "a"]


async def test_sessions_that_view_both_products_count_once_each(platform):
    for s in range(3):
        touches, _ = session_touches([], views("a", "b", "a", tag=f"s{s}."), DEFAULT_FRAME)
        await store.write(platform.storage.cooccurrence, 1, touches)
    scores = await top(platform, "a")
    assert scores["b"] == pytest.approx(3.0, rel=1e-3)  # an hour of a 30-day half-life


async def test_a_retried_write_counts_once(platform):
    touches, _ = session_touches([], views("a", "b", "c"), DEFAULT_FRAME)
    await store.write(platform.storage.cooccurrence, 1, touches)
    await store.write(platform.storage.cooccurrence, 1, touches)
    more, _ = session_touches([], views("a", "b", tag="x"), DEFAULT_FRAME)
    await store.write(platform.storage.cooccurrence, 1, touches[:2] + more)  # partly new
    assert await top(platform, "a") == pytest.approx({"b": 2.0, "c": 1.0}, rel=1e-3)


async def test_old_pairs_fade_behind_new_ones(platform):
    old, _ = session_touches([], views("a", "old", tag="o") * 1, DEFAULT_FRAME)
    old += session_touches([], views("a", "old", tag="p"), DEFAULT_FRAME)[0]
    await store.write(platform.storage.cooccurrence, 1, old)  # twice, at T
    later = T - timedelta(days=0)
    new, _ = session_touches([], views("a", "new", start=later + timedelta(days=90), tag="n"),
                             DEFAULT_FRAME)
    await store.write(platform.storage.cooccurrence, 1, new)  # once, 90 days later
    now = T + timedelta(days=90, hours=1)
    found = await store.pairs_of(platform.storage.cooccurrence, 1, VIEWED, ["a"],
                                 DEFAULT_FRAME, now)
    ranked = found["a"][0]
    assert [s.product_id for s in ranked] == ["new", "old"]
    assert ranked[1].score == pytest.approx(2 / 8, rel=1e-3)  # three half-lives


async def test_a_product_keeps_only_its_top_pairs(platform, monkeypatch):
    monkeypatch.setattr(pairs, "CAP", 5)
    monkeypatch.setattr(pairs, "TRIM_AT", 8)
    for s in range(4):  # "hot" is viewed with "a" in 4 sessions
        await store.write(platform.storage.cooccurrence, 1,
                          session_touches([], views("a", "hot", tag=f"h{s}."), DEFAULT_FRAME)[0])
    for i in range(20):  # then 20 products once each
        await store.write(platform.storage.cooccurrence, 1,
                          session_touches([], views("a", f"q{i}", tag=f"q{i}."),
                                          DEFAULT_FRAME)[0])
    doc = await platform.storage.cooccurrence.find_one({"_id": "1:v:a", "shopId": 1})
    assert len(doc["pairs"]) <= 8
    assert "hot" in [p["p"] for p in doc["pairs"]]
    assert next(iter(await top(platform, "a"))) == "hot"


async def test_the_window_kept_on_the_visitor_is_the_one_the_pairs_came_from(platform):
    col = platform.storage.visitors
    first = [{"p": p, "c": None} for p in ("a", "b", "c")]
    second = [{"p": p, "c": None} for p in ("d", "a")]
    await col.update_one({"_id": "1:v", "shopId": 1},
                         [{"$set": {"sViews": pairs.window_update(first, False)}}], upsert=True)
    await col.update_one({"_id": "1:v", "shopId": 1},
                         [{"$set": {"sViews": pairs.window_update(second, True)}}], upsert=True)
    stored = (await col.find_one({"_id": "1:v", "shopId": 1}))["sViews"]
    _, expected = session_touches([], [View(v["p"], None, T, "x") for v in first + second],
                                  DEFAULT_FRAME)
    assert stored == expected == [{"p": p, "c": None} for p in ("a", "b", "c", "d", "a")]


async def test_an_order_pairs_each_product_with_the_others(platform):
    lines = [{"productId": p, "categoryId": "c"} for p in ("a", "b", "a", "c")]
    await store.write(platform.storage.cooccurrence, 1,
                      pairs.order_touches(lines, "order1", T, DEFAULT_FRAME))
    await store.write(platform.storage.cooccurrence, 1,
                      pairs.order_touches(lines, "order1", T, DEFAULT_FRAME))  # a retry
    assert await top(platform, "a", pairs.BOUGHT) == pytest.approx({"b": 1.0, "c": 1.0},
                                                                     rel=1e-3)
    assert await top(platform, "a") == {}  # bought together is not viewed together
