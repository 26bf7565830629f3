"""Rules, caps and abandoned sessions survive any failed storage call (tests/support/faults.py).

Each scenario runs once without a fault, then once for every storage call N with
call N failing once; the failed request (or worker tick) is retried. The state of
every collection must equal the run without a fault: nothing fired twice, nothing
lost, no cap claimed by a trigger that was not stored.
"""

from __future__ import annotations

from typing import Any

from app.abandonment.browse_worker import fire_due_sessions
from app.core.events import Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking
from app.triggers.rules import default_rule_id
from tests.support.faults import fresh_platform, retried, run_matrix


def event(type_: EventType, visitor: str, n: int, **fields: Any) -> EventInput:
    return EventInput(type=type_, context=Context(shop_id=1, visitor_id=visitor,
                                                  event_id=f"{visitor}-{n}"), **fields)


async def shop_with_rules(platform: Platform) -> None:
    await platform.shops.create("Shop", shop_id=1)
    given = {"type": "SECTION_VISITED", "cap_seconds": 3600}
    await platform.rules.update(1, default_rule_id("SECTION_VISITED"), given)
    await platform.rules.update(1, default_rule_id("ABANDONED_BROWSE"), {
        "type": "ABANDONED_BROWSE", "match": ["shoes"], "delay_seconds": 600,
        "cap_seconds": 86400})


async def sessions_due(platform: Platform) -> None:
    """Three customers' sessions past their quiet time: one closed, two current."""
    await shop_with_rules(platform)
    for visitor in ("a", "b", "c"):
        await tracking.track(platform, [
            event(EventType.LOGIN, visitor, 1, user_id=f"u-{visitor}"),
            event(EventType.PRODUCT_VIEW, visitor, 2, category_id="shoes", product_id="p1"),
            event(EventType.CATEGORY_VIEW, visitor, 3, category_id="shoes"),
        ])
    platform.clock.advance(hours=1)
    await tracking.track(platform, [event(EventType.VISIT, "a", 4)])  # closes a's session
    platform.clock.advance(hours=1)


async def worker_scenario(platform: Platform) -> tuple[Any, int]:
    _, retries = await retried(lambda: fire_due_sessions(platform))
    platform.clock.advance(seconds=5)
    _, more = await retried(lambda: platform.outbox.sweep())
    fired = await platform.storage.db.triggers.count_documents(
        {"type": "ABANDONED_BROWSE", "published": True})
    return fired, retries + more


async def test_the_session_scenario_fires_three() -> None:
    platform = await fresh_platform()
    try:
        await sessions_due(platform)
        assert (await worker_scenario(platform))[0] == 3
    finally:
        await platform.stop()


async def test_the_session_worker_survives_any_failed_call() -> None:
    failures, faults, _ = await run_matrix(sessions_due, worker_scenario)
    assert faults >= 5
    assert failures == [], "\n".join(failures)


async def capped_scenario(platform: Platform) -> tuple[Any, int]:
    retries = 0
    for n in range(4):  # one an hour at most: the first and the fourth fire
        batch = [event(EventType.SECTION_VIEW, "v", n, page_name=f"s{n}")]
        _, again = await retried(lambda b=batch: tracking.track(platform, b))
        retries += again
        platform.clock.advance(seconds=1200)
    names = [d["name"] for d in await platform.storage.db.triggers.find({}).to_list(None)]
    return sorted(names), retries


async def test_the_capped_scenario_fires_two() -> None:
    platform = await fresh_platform()
    try:
        await shop_with_rules(platform)
        assert (await capped_scenario(platform))[0] == ["s0", "s3"]
    finally:
        await platform.stop()


async def test_capped_event_triggers_survive_any_failed_call() -> None:
    failures, faults, _ = await run_matrix(shop_with_rules, capped_scenario)
    assert faults >= 6
    assert failures == [], "\n".join(failures)
