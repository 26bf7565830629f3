"""The end of a sender's attempts when its process stops: finish, or give the lease back.

A clean stop (SIGTERM) lets the attempts under way run for the seconds left
(`drain`); whatever still runs then is cut, and its lease given back at once
(`give_back`) rather than left to run out (2 x timeout + 5 s), so another process
attempts it right away. Nothing is lost either way: a lease that could not be
given back (storage away) simply runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.backends.storage import Storage
from app.webhooks.endpoints import NEVER

log = logging.getLogger("tracker.webhooks")


async def drain(tasks: set[asyncio.Task[None]], seconds: float) -> None:
    """Wait up to `seconds` for the attempts under way (saying how it went), then cut the
    rest; an attempt cut keeps its lease in the sender's `_held`, for `give_back`."""
    if seconds > 0 and tasks:
        under_way = len(tasks)
        _, left = await asyncio.wait(set(tasks), timeout=seconds)
        log.info("stopping: %d webhook attempts under way finished, %d given back",
                 under_way - len(left), len(left))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def give_back(storage: Storage, held: dict[str, str]) -> None:
    """Release the leases of attempts cut short (delivery id -> claim token)."""
    if not held:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(storage.webhook_deliveries.update_many(
            {"_id": {"$in": list(held)}, "claim": {"$in": list(set(held.values()))}},
            {"$set": {"leaseUntil": NEVER}, "$unset": {"claim": ""}}), 2.0)
