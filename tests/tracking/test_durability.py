"""Effects applied exactly once, whatever storage call fails (issue 11, points 1 and 2).

Each test runs a scenario once without faults, then once for every storage call N
of it with call N failing once (tests/support/faults.py); a failed request is retried as
the tracker retries it. The final state of every collection, and the answers, must
equal the run without a fault.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from app.abandonment import cart_worker as abandoned
from app.core.clock import utc
from app.core.events import PENDING_EXPIRY, Context, EventInput, EventType
from app.platform import Platform
from app.tracking import pipeline as tracking
from app.triggers import model as triggers
from tests.support.faults import fresh_platform, retried, run_matrix
from tests.support.ttl import read_by_both_folds

V = "dur-visitor"


def event(type_: EventType, n: int, **fields: Any) -> EventInput:
    return EventInput(type=type_, context=Context(
        shop_id=1, visitor_id=V, source_id="site", event_id=f"e{n}",
        url="https://shop.example/p"), **fields)


def every_type() -> list[EventInput]:
    """One anonymous visit with every event type but the identifying ones."""
    return [
        event(EventType.VISIT, 1),
        event(EventType.CATEGORY_VIEW, 2, category_id="shoes"),
        event(EventType.PRODUCT_VIEW, 3, category_id="shoes", product_id="p1"),
        event(EventType.SECTION_VIEW, 4, page_name="sale"),
        event(EventType.CART_CLEAR, 5),
        event(EventType.CART_ADD, 6, category_id="shoes", product_id="p1", quantity=2,
              price=10.0),
        event(EventType.CART_ADD, 7, category_id="hats", product_id="p2"),
        event(EventType.CART_REMOVE, 8, product_id="p2"),
        event(EventType.CUSTOM, 9, event_name="quiz", properties={"score": 3}),
    ]


def login_batch() -> list[EventInput]:
    """A login that files the history above, then a purchase and a new cart."""
    return [
        event(EventType.LOGIN, 10, user_id="u1"),
        event(EventType.PRODUCT_VIEW, 11, category_id="hats", product_id="p3"),
        event(EventType.CART_ADD, 12, category_id="hats", product_id="p3"),
        event(EventType.CHECKOUT, 13, order_id="o1"),
        event(EventType.REGISTRATION, 14, user_id="u1"),
        event(EventType.CART_ADD, 15, category_id="shoes", product_id="p4", quantity=3),
        event(EventType.SECTION_VIEW, 16, page_name="thanks"),
    ]


def answers_of(outcomes: list[tracking.Outcome]) -> list[Any]:
    """What the tracker is told, but `duplicate`: a retried event is one, rightly."""
    out = []
    for o in outcomes:
        assert o.error is None, o.error
        assert o.result is not None
        out.append((o.result.event_id, o.result.session_id, o.result.user_id))
    return out


async def make_shop(platform: Platform) -> None:
    await platform.shops.create("Shop", shop_id=1)


async def track_scenario(platform: Platform) -> tuple[Any, int]:
    answers, retries = [], 0
    for batch in (every_type, login_batch):
        outcomes, again = await retried(lambda b=batch: tracking.track(platform, b()))
        answers.append(answers_of(outcomes))
        retries += again
        platform.clock.advance(seconds=60)
    return answers, retries


async def test_every_event_type_and_a_filing_login_survive_any_failed_call() -> None:
    failures, faults, retries = await run_matrix(make_shop, track_scenario)
    assert faults > 10 and retries >= faults
    assert failures == [], f"{len(failures)} of {faults} faults lost effects:\n" + \
        "\n".join(failures)


def timed(platform: Platform, events: list[EventInput]) -> list[EventInput]:
    """The events as the tracker sends them: each with its time on the client's clock."""
    at = platform.clock.now() - timedelta(seconds=1)
    for one in events:
        one.context.occurred_at = at
    return events


TRANSIT_MS = (0, 150)  # the two sends' times in transit


async def twice_at_once_scenario(platform: Platform) -> tuple[Any, int]:
    """Each batch sent twice at once (a retry racing its first attempt, two tabs); the two
    took different times in transit, so the server places their events 150 ms apart."""
    answers, retries = [], 0
    for batch in (every_type, login_batch):
        now = platform.clock.now()
        pair = await asyncio.gather(*(
            retried(lambda b=batch, s=now - timedelta(milliseconds=ms):
                    tracking.track(platform, timed(platform, b()), sent_at=s))
            for ms in TRANSIT_MS))
        answers.append([answers_of(outcomes) for outcomes, _ in pair])
        retries += sum(again for _, again in pair)
        platform.clock.advance(seconds=60)
    return answers, retries


def once_each(transits: tuple[int, int]) -> Callable[[Platform], Awaitable[tuple[Any, int]]]:
    """What `twice_at_once_scenario` must read as: each batch sent once, by the send that
    took the batch's time in `transits` (either can be the one stored first), and
    answered twice."""

    async def scenario(platform: Platform) -> tuple[Any, int]:
        answers: list[Any] = []
        for batch, transit_ms in zip((every_type, login_batch), transits, strict=True):
            sent = platform.clock.now() - timedelta(milliseconds=transit_ms)
            outcomes = await tracking.track(platform, timed(platform, batch()), sent_at=sent)
            answers.append([answers_of(outcomes)] * 2)
            platform.clock.advance(seconds=60)
        return answers, 0

    return scenario


async def test_a_batch_sent_twice_at_once_equals_one_send_whatever_call_fails() -> None:
    either = [once_each(pair) for pair in itertools.product(TRANSIT_MS, repeat=2)]
    failures, faults, _ = await run_matrix(make_shop, twice_at_once_scenario, either)
    assert faults > 10
    assert failures == [], f"{len(failures)} of {faults} faults differ from one send:\n" + \
        "\n".join(failures)


async def cart_due(platform: Platform) -> None:
    """A customer's cart, left alone past the shop's abandoned-cart delay."""
    await make_shop(platform)
    await tracking.track(platform, [
        event(EventType.LOGIN, 1, user_id="u1"),
        event(EventType.CART_ADD, 2, category_id="shoes", product_id="p1"),
    ])
    other = event(EventType.CART_ADD, 3, category_id="shoes", product_id="p2")
    other.context.visitor_id = "dur-other"
    await tracking.track(platform, [other])  # anonymous: set aside, never fired
    platform.clock.advance(hours=2)


async def abandoned_scenario(platform: Platform) -> tuple[Any, int]:
    _, retries = await retried(lambda: abandoned.fire_due(platform))
    # The outbox sweeper publishes what a failure left unpublished.
    platform.clock.advance(seconds=5)
    _, more = await retried(lambda: platform.outbox.sweep())
    return None, retries + more


async def test_abandoned_cart_worker_survives_any_failed_call() -> None:
    failures, faults, _ = await run_matrix(cart_due, abandoned_scenario)
    assert faults >= 3
    assert failures == [], "\n".join(failures)


async def outbox_scenario(platform: Platform) -> tuple[Any, int]:
    now = platform.clock.now()
    docs = [triggers.make(f"t{i}", triggers.CUSTOM_EVENT, 1, fired_at=now, visitor_id=V,
                          user_id=None, name="x") for i in range(3)]
    _, retries = await retried(lambda: platform.outbox.record([dict(d) for d in docs]))
    platform.clock.advance(seconds=5)
    _, more = await retried(lambda: platform.outbox.sweep())
    published = await platform.storage.db.triggers.count_documents({"published": True})
    return published, retries + more


async def test_trigger_outbox_survives_any_failed_call() -> None:
    failures, faults, _ = await run_matrix(make_shop, outbox_scenario)
    assert faults >= 2
    assert failures == [], "\n".join(failures)



async def history_then_window(platform: Platform) -> None:
    """Anonymous events, counted by the rollups (their expiry in `expireAt`, what the TTL
    index deletes by) and not yet counted (in PENDING_EXPIRY, until the fold moves it)."""
    await make_shop(platform)
    await tracking.track(platform, every_type())
    await read_by_both_folds(platform)
    await tracking.track(platform, [event(EventType.VISIT, 100)])


async def window_scenario(platform: Platform) -> tuple[Any, int]:
    shop, retries = await retried(lambda: platform.shops.update_settings(
        1, {"anonymous_history_days": 30}))
    events = await platform.storage.db.events.find({}).to_list(None)
    stamps = {(field, utc(e[field]) - utc(e["occurredAt"]))
              for e in events for field in ("expireAt", PENDING_EXPIRY) if field in e}
    assert len(stamps) <= len(events)  # one each
    return (shop.settings.anonymous_history_days, sorted(stamps)), retries


async def test_a_new_history_window_restamps_expiry_whatever_call_fails() -> None:
    """The TTL index follows `expireAt`: a retried settings change finishes re-stamping it
    (the first attempt may have stored the window and failed before the re-stamp)."""
    failures, faults, _ = await run_matrix(history_then_window, window_scenario)
    assert faults >= 2
    assert failures == [], "\n".join(failures)
    platform = await fresh_platform()
    await history_then_window(platform)
    answer, _ = await window_scenario(platform)
    assert answer == (30, [("expireAt", timedelta(days=30)), (PENDING_EXPIRY, timedelta(days=30))])
