"""A retried batch writes nothing new, sessions and their counters too (issue 22, item 12).

The tracker resends a batch whose answer it did not get, with the same event ids and
times but a new `sentAt`: the server places the retry's events a little apart from the
first attempt's (the transit time differs). A retry can also race the first attempt. Every
reading a user has (`sessions`, `stats.sessions`, the funnel, the session's
`eventsCount`) must equal what a single send gives.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from app.core.clock import FakeClock
from tests.support.api import Api

TRACK = ("mutation($e: [TrackInput!]!, $s: DateTime) { track(events: $e, sentAt: $s) "
         "{ eventId duplicate } }")
READ = """query($from: DateTime!, $to: DateTime!) {
  sessions(shopId: 1) { nodes { sessionId eventsCount } }
  stats(shopId: 1, from: $from, to: $to) { totals { sessions } }
  funnel(shopId: 1, from: $from, to: $to) { sessions withProductView withCartAdd } }"""


def batch(clock: FakeClock, visitor: str = "v1") -> list[dict[str, Any]]:
    """20 events as the tracker sends them (ids and times fixed): a visit, 18 product
    views and a cart add."""
    at = clock.now().isoformat()

    def ctx(n: int) -> dict[str, Any]:
        return {"shopId": 1, "visitorId": visitor, "eventId": f"{visitor}-{n}", "occurredAt": at}

    views = [{"type": "PRODUCT_VIEW", "categoryId": "c", "productId": f"p{n % 4}",
              "context": ctx(n)} for n in range(1, 19)]
    return [{"type": "VISIT", "context": ctx(0)}, *views,
            {"type": "CART_ADD", "categoryId": "c", "productId": "p1", "context": ctx(19)}]


async def send(api: Api, clock: FakeClock, events: list[dict[str, Any]],
               transit_ms: int = 0) -> dict[str, Any]:
    """Send as the tracker does: `sentAt` on its clock, `transit_ms` before receipt."""
    sent = clock.now() - timedelta(milliseconds=transit_ms)
    return await api.data(TRACK, {"e": events, "s": sent.isoformat()})


async def readings(api: Api, key: str, clock: FakeClock) -> dict[str, Any]:
    span = {"from": (clock.now() - timedelta(days=1)).isoformat(),
            "to": (clock.now() + timedelta(days=1)).isoformat()}
    return await api.data(READ, span, key=key)


def assert_one_session_of(seen: dict[str, Any], count: int) -> None:
    assert [s["eventsCount"] for s in seen["sessions"]["nodes"]] == [count]
    assert seen["stats"]["totals"]["sessions"] == 1
    assert seen["funnel"] == {"sessions": 1, "withProductView": 1, "withCartAdd": 1}


async def test_one_send_gives_one_session_of_twenty_events(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    await send(api, clock, batch(clock))
    assert_one_session_of(await readings(api, shop["key"], clock), 20)


@pytest.mark.parametrize("transit_ms", [0, 150, 3_000])
async def test_a_batch_sent_again_reads_as_sent_once(
    api: Api, shop: dict, clock: FakeClock, transit_ms: int
) -> None:
    events = batch(clock)
    await send(api, clock, events)
    once = await readings(api, shop["key"], clock)
    clock.advance(seconds=5)  # the tracker's retry comes later, same ids and times
    again = await send(api, clock, events, transit_ms)
    assert all(r["duplicate"] for r in again["track"])
    assert await readings(api, shop["key"], clock) == once


async def test_a_batch_sent_three_times_reads_as_sent_once(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    events = batch(clock)
    await send(api, clock, events)
    once = await readings(api, shop["key"], clock)
    for transit_ms in (200, 400):
        clock.advance(seconds=5)
        await send(api, clock, events, transit_ms)
    assert await readings(api, shop["key"], clock) == once


async def test_events_without_their_time_sent_again_read_as_sent_once(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    """With no `occurredAt`, an event is placed at its receipt: the retry's later."""
    events = batch(clock)
    for event in events:
        del event["context"]["occurredAt"]
    await api.data(TRACK, {"e": events})
    once = await readings(api, shop["key"], clock)
    clock.advance(seconds=5)
    await api.data(TRACK, {"e": events})
    assert await readings(api, shop["key"], clock) == once


async def test_a_batch_sent_twice_at_once_reads_as_sent_once(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    events = batch(clock)
    answers = await asyncio.gather(send(api, clock, events), send(api, clock, events, 150))
    assert_one_session_of(await readings(api, shop["key"], clock), 20)
    # Each event is stored once: one of the two sends has it as new, the other as a duplicate.
    firsts = [[r["duplicate"] for r in a["track"]] for a in answers]
    assert all(a != b for a, b in zip(*firsts, strict=True))


async def test_a_later_batch_after_a_retry_still_counts_its_events(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    events = batch(clock)
    await send(api, clock, events)
    clock.advance(seconds=5)
    await send(api, clock, events, 300)
    clock.advance(seconds=5)
    more = [{"type": "PRODUCT_VIEW", "categoryId": "c", "productId": "p9", "context": {
        "shopId": 1, "visitorId": "v1", "eventId": "v1-next"}}]
    await send(api, clock, more)
    assert_one_session_of(await readings(api, shop["key"], clock), 21)


async def test_a_retry_followed_by_newer_events_reads_as_sent_once_then_the_newer(
    api: Api, shop: dict, clock: FakeClock
) -> None:
    """The tracker resends the failed events first, then what was queued meanwhile."""
    events = batch(clock)
    await send(api, clock, events)
    clock.advance(seconds=5)
    newer = [{"type": "PRODUCT_VIEW", "categoryId": "c", "productId": f"n{n}", "context": {
        "shopId": 1, "visitorId": "v1", "eventId": f"v1-new{n}",
        "occurredAt": clock.now().isoformat()}} for n in range(2)]
    await send(api, clock, [*events, *newer], 200)
    assert_one_session_of(await readings(api, shop["key"], clock), 22)
