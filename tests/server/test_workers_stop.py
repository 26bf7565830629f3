"""A clean stop of the workers returns, whatever moment it comes at.

The stop cancels each worker once. A worker that lost that cancellation would run on
and the stop (and the server's exit) would wait for it for ever: on Python 3.11
`asyncio.wait_for` returns the inner result instead of raising when the cancellation
meets an inner wait that has just ended, as the webhook sender's wait for its wake-up
does when an attempt ends (or a trigger is queued) at the moment the server stops.
"""

from __future__ import annotations

import asyncio

from app.platform import Platform
from app.server.workers import Workers
from tests.support.live import DEADLINE, eventually


async def stopped(workers: Workers) -> bool:
    """Whether `workers.stop()` returned (the bound only keeps a broken build from hanging)."""
    stopping = asyncio.ensure_future(workers.stop())
    done, _ = await asyncio.wait({stopping}, timeout=DEADLINE)
    if not done:
        stopping.cancel()
    return stopping in done


async def idle_sender(platform: Platform) -> Workers:
    """Workers started, their sender waiting to be woken (nothing is due)."""
    workers = Workers(platform)
    workers.start()
    await eventually(lambda: workers.sender._next_search > 0, "the sender looked once")
    for _ in range(10):  # ...and went on to wait for its wake-up
        await asyncio.sleep(0)
    return workers


async def test_the_workers_stop_when_the_sender_is_woken_as_they_are_stopped(
    platform: Platform,
) -> None:
    workers = await idle_sender(platform)
    platform.webhooks.wake.set()  # an attempt ended, or deliveries were queued...
    await asyncio.sleep(0)  # ...and the sender's wait for it has just ended
    assert await stopped(workers)


async def test_the_workers_stop_when_the_sender_waits(platform: Platform) -> None:
    workers = await idle_sender(platform)
    assert await stopped(workers)
