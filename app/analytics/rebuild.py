"""Rebuilding a shop's traffic rollups from its raw events, over a range of days.

For events the rollups never counted: tracked before they existed (no `rolled` field)
or with them off, inserted directly (an import), or to repair them. `rebuild` works
on the whole UTC days covering [start, end), oldest first, under the shop's rebuild
lease (leases.py), which live folds respect (rollups.fold skips the shop):

0. take the lease, then wait GRACE once: a folder reads the leases before each page,
   so one that read them just before the lease may still claim, count and apply that
   one page; GRACE outlasts a page's work (a claim, a read, two bulk writes, an
   update), and after it no one but this rebuild folds the shop's events;
then for each day, the lease renewed before each step:
1. fold the shop's pending events (the rebuild's own fold, passing the lease): what
   was tracked before, and batches other folders claimed and left, are completed, so
   that no claim is left among the day's events;
2. delete the day's rollups (kinds h, d, p, c with `at` in the day) and its presences
   (`rollupSeen` with `at` in the day: visitors per hour and day, and the funnel's,
   keyed by the session's start);
3. if an event of the day is claimed by a batch after all, a folder outlasted GRACE
   and may have counted it into what step 2 deleted: wait GRACE and do the day again
   from step 1 (at most REDO times, then fail);
4. every event of the day is pending again (`rolled: false`, and neither `idRolled`
   nor `rollSteps`): identified visitors come from the events whose `userId` is set,
   so nothing is filed again;
5. fold them (the rebuild's own fold, whose batches carry its lease in their name: a
   batch is named by the events it holds, and the presences a live batch of the very
   same events left elsewhere must not count again for the refold).
Days go oldest first, so a step taken after midnight by a session of the day before
is counted again into that session's day when its own day is folded. After the last
day, the tail: the funnel steps of sessions started in the range and taken after it
(found through the sessions' `lastEventAt`) count again (`rollSteps`: their events
were counted whole; only their sessions' presences were deleted). Events inserted
without their sessions have no `lastEventAt`: such steps count again when the days
they were taken are rebuilt too.

What it repairs. A crash leaves the lease, which ends LEASE after its last renewal
(then live folds count the shop again), and a day in one of these states: before step
2, nothing changed; after 2, the day's figures are missing (reports show less) and
the events are marked counted; after 4, they are pending, and whoever folds next
counts them (right figures even if nobody runs the command again); in the tail, the
same. Running the command again does steps 1-5 on every day: the same figures
whatever state a day was left in, because step 2 deletes all the day had and step 4
makes all its events pending. Running it twice gives the same documents.

While it runs, tracking goes on: a new event is pending, and the day's step 5, the next
day's step 1, or the next live fold after the lease counts it. Reports during a
rebuild show the figures of the moment: a day being rebuilt reads low until its step 5,
and the shop's newest events wait for the lease's end to be counted.

Sessions and triggers per hour are counted by the performance rollups
(app/attribution/rollups.py) into the shop's hourly buckets (kind "t"), from the sessions
and triggers, not from events; each day's step 4 also sets, per hour, the count of those
folded before such buckets existed (an older version: no `inShopHours` mark) into
buckets of kind "t0", which the reports add (`Run.baseline`). Orders folded before the
purchases had day buckets are made pending again (`Run.purchases`): the performance fold
adds their purchases.
A rebuild counts the events that are stored: a day whose anonymous events retention
has deleted loses their counts (rollups outlive raw events; a rebuild cannot).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne

import app.analytics.leases as leases
from app.analytics.ranges import CART_ADD, CHECKOUT, PRODUCT_VIEW
from app.analytics.rollups import STEPS_ONLY, day_of, fold, performance_id
from app.core import PENDING_EXPIRY, BadInput, Clock, to_ms, utc

GRACE = 5.0  # seconds: longer than a folder's work on one page (see step 0)
REDO = 3  # a day done again at most this many times when a claim is found in step 3
DAY = timedelta(days=1)
KINDS = ["h", "d", "p", "c"]
CLAIMS = ("foldBatch", "idBatch")
STEP_TYPES = [PRODUCT_VIEW, CART_ADD, CHECKOUT]

Progress = Callable[[int, int], None]  # (days done, days in all)


class StillClaimed(Exception):
    """Events of a day stayed claimed by another folder through REDO attempts."""


def days_of(start: datetime, end: datetime) -> list[datetime]:
    """The whole UTC days covering [start, end)."""
    start, end = utc(start), utc(end)
    if start >= end:
        raise BadInput("from must be before to", field="from")
    out, day = [], day_of(start)
    while day < end:
        out.append(day)
        day += DAY
    return out


async def rebuild(storage: Any, shop_id: int, start: datetime, end: datetime, clock: Clock,
                  progress: Progress | None = None, grace: float = GRACE) -> int:
    """Rebuild the shop's rollups of the days covering [start, end) from its events;
    how many events were counted again (see the module's docstring)."""
    days = days_of(start, end)
    run = Run(storage, shop_id, clock, f"rebuild-{uuid.uuid4().hex[:16]}", grace)
    await run.renew()
    try:
        await asyncio.sleep(grace)
        counted = 0
        for done, day in enumerate(days, 1):
            counted += await run.day(day)
            if progress is not None:
                progress(done, len(days))
        return counted + await run.tail(days[0], days[-1] + DAY)
    finally:
        await leases.release(storage, shop_id, run.owner)


class Run:
    """One rebuild of one shop: its lease, and the steps of a day."""

    def __init__(self, storage: Any, shop_id: int, clock: Clock, owner: str,
                 grace: float) -> None:
        self.storage, self.shop_id, self.clock = storage, shop_id, clock
        self.owner, self.grace = owner, grace

    async def renew(self) -> None:
        await leases.take(self.storage, self.shop_id, self.owner, self.clock.now())

    async def fold(self) -> int:
        await self.renew()
        return await fold(self.storage, self.clock.now(), self.shop_id, lease=self.owner)

    async def day(self, day: datetime) -> int:
        within = {"shopId": self.shop_id,
                  "occurredAt": {"$gte": _naive(day), "$lt": _naive(day + DAY)}}
        for attempt in range(REDO + 1):
            await self.fold()  # step 1
            await self.renew()  # steps 2 to 4 within one lease
            await self.forget(day)  # step 2
            if not await self.storage.events.count_documents(  # step 3
                    {**within, "$or": [{c: {"$exists": True}} for c in CLAIMS]}):
                break
            if attempt == REDO:
                raise StillClaimed(f"events of shop {self.shop_id} on {day:%Y-%m-%d} stay "
                                   "claimed by another folder; run the command again")
            await asyncio.sleep(self.grace)
        await self.storage.events.update_many(  # step 4
            {**within, **{c: {"$exists": False} for c in CLAIMS}},
            {"$set": {"rolled": False}, "$unset": {"idRolled": "", STEPS_ONLY: ""},
             "$rename": {"expireAt": PENDING_EXPIRY}})  # uncounted: no TTL deletes it
        await self.baseline(day)
        await self.purchases(day)
        return await self.fold()  # step 5

    async def purchases(self, day: datetime) -> None:
        """Orders of the day counted before purchases had day buckets (their `counted`
        without "p", app/attribution/contributions.py) are pending again: the performance
        fold adds what they lack, the difference of what they add now and what they
        added then, as for any changed order."""
        await self.storage.orders.update_many(
            {"shopId": self.shop_id, "completedAt": {"$gte": _naive(day), "$lt": _naive(day + DAY)},
             "rolled": True, "counted": {"$exists": True}, "counted.p": {"$exists": False},
             "foldBatch": {"$exists": False}},
            {"$set": {"rolled": False}})

    async def baseline(self, day: datetime) -> None:
        """Sessions and triggers counted before the shop's hourly buckets existed (kind "t",
        app/attribution/rollups.py counts every one folded since, and marks it
        `inShopHours`): per hour of the day, into the buckets of kind "t0". Such facts are
        never folded again, so the counts are final and setting them is idempotent."""
        hours: dict[datetime, dict[str, int]] = {}
        for name, field in (("sessions", "startedAt"), ("triggers", "firedAt")):
            for doc in await getattr(self.storage, name).find(
                    {"shopId": self.shop_id, field: {"$gte": _naive(day),
                                                     "$lt": _naive(day + DAY)},
                     "rolled": {"$ne": False}, "inShopHours": {"$exists": False}},
                    {field: 1}).to_list(None):
                hour = utc(doc[field]).replace(minute=0, second=0, microsecond=0)
                counts = hours.setdefault(hour, {"n.sessions": 0, "n.triggers": 0})
                counts[f"n.{name}"] += 1
        await self.storage.performance.delete_many(
            {"shopId": self.shop_id, "kind": "t0",
             "hour": {"$gte": _naive(day), "$lt": _naive(day + DAY)}})
        ops = [UpdateOne({"_id": performance_id(self.shop_id, "t0", "all", to_ms(hour)),
                          "shopId": self.shop_id},
                         {"$set": {**counts, "kind": "t0", "key": "all", "hour": hour}},
                         upsert=True)
               for hour, counts in sorted(hours.items())]
        if ops:
            await self.storage.performance.bulk_write(ops, ordered=False)

    async def forget(self, day: datetime) -> None:
        """Step 2: the day's counters and presences."""
        at = {"$gte": _naive(day), "$lt": _naive(day + DAY)}
        await self.storage.rollups.delete_many({"shopId": self.shop_id, "kind": {"$in": KINDS},
                                                "at": at})
        await self.storage.rollupSeen.delete_many({"shopId": self.shop_id, "at": at})

    async def tail(self, first: datetime, end: datetime) -> int:
        """The funnel steps taken after the range by sessions started in it."""
        sessions = await self.storage.sessions.find(
            {"shopId": self.shop_id, "startedAt": {"$gte": _naive(first), "$lt": _naive(end)},
             "lastEventAt": {"$gte": _naive(end)}},
            {"sessionId": 1, "visitorId": 1, "lastEventAt": 1}).to_list(None)
        if not sessions:
            return 0
        await self.renew()
        await self.storage.events.update_many(
            {"shopId": self.shop_id, "visitorId": {"$in": sorted({s["visitorId"]
                                                                   for s in sessions})},
             "occurredAt": {"$gte": _naive(end),
                            "$lte": max(_naive(s["lastEventAt"]) for s in sessions)},
             "sessionId": {"$in": [s["sessionId"] for s in sessions]},
             "type": {"$in": STEP_TYPES}, "rolled": {"$exists": False}},
            {"$set": {"rolled": False, STEPS_ONLY: True},
             "$rename": {"expireAt": PENDING_EXPIRY}})
        return await self.fold()


def _naive(value: datetime) -> datetime:
    return utc(value).replace(tzinfo=None)
