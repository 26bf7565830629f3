"""The audience clock: exits that fall due, and filling new audiences.

Exits. A member's `dueAt` is its exit moment `T0 + H * log2(S / minScore)`, stored
when its score last rose (app/audiences/membership.py). The worker reads memberships with
`dueAt <= now` through the index on `dueAt`, so its cost grows with the exits due, not
with the members kept. For each it computes the exit again from the customer's stored
value as it is now and the shop's frame as it is now (read fresh, not from the cache):
an interaction the hot path did not see, or a longer half-life, moves the exit later
instead of firing it. A due exit is one conditional write (on the membership's `rev`)
that records AUDIENCE_EXITED in `pending`, then the trigger is stored and `pending`
cleared: with several processes, only the write of one wins, and the trigger id
(`<membership>:out:<episode>`) keeps a second copy out of the log.

The same pass drops memberships whose audience was deleted, and finishes changes
whose writer died before storing their triggers.

Filling. A new audience gets a job (collection `audienceJobs`): the customers who
already qualify are read through the index (shopId, kind, itemId, decayed), best
first, in bounded batches, and enter as an interaction would make them. The job
holds its place (a cursor) and a lease (`dueAt`), so another process resumes it
after a crash. It runs twice: at once, and again once every process has the
audience in its shop cache, for customers whose score rose in between in a process
that did not know the audience yet.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from app import triggers
from app.audiences.membership import (
    Change,
    Reading,
    apply,
    audience_trigger,
    item_of,
    new_rev,
    reconcile,
)
from app.core import interest_key, utc
from app.interests import Frame
from app.platform import Platform
from app.shops import Shop

BATCH = 1000  # due memberships read per round trip
MAX_BATCHES = 20  # per tick; what is left waits for the next tick
FILL_BATCH = 500  # qualifying customers entered per write
FILL_BATCHES = 10  # per job and tick
LEASE = timedelta(seconds=30)  # a job another process holds is left alone this long
JOB_WAIT = timedelta(seconds=60)  # a job whose audience never appeared is dropped then


async def tick(platform: Platform) -> int:
    """One run of the worker: due exits, then filling; returns the triggers fired."""
    return await fire_due(platform) + await run_jobs(platform)


async def fresh_shop(platform: Platform, shop_id: int) -> Shop | None:
    """The shop as stored now: the frame and the audiences may have just changed."""
    platform.shops.forget(shop_id)
    return await platform.shops.get(shop_id)


# -- exits ---------------------------------------------------------------------------


async def fire_due(platform: Platform, limit: int | None = None) -> int:
    """Fire the exits that are due; returns how many this process fired."""
    limit = limit or BATCH
    fired = 0
    for _ in range(MAX_BATCHES):
        found, fresh = await _due_batch(platform, limit)
        fired += fresh
        if found < limit:
            break
    return fired


async def _due_batch(platform: Platform, limit: int) -> tuple[int, int]:
    now = platform.clock.now()
    due = await platform.storage.memberships.find({"dueAt": {"$lte": now}}) \
        .sort("dueAt", 1).limit(limit).to_list(limit)
    by_shop: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for doc in due:
        by_shop[doc["shopId"]].append(doc)
    fired = 0
    for shop_id, docs in by_shop.items():
        fired += await _settle(platform, shop_id, docs, now)
    return len(due), fired


async def _settle(platform: Platform, shop_id: int, docs: list[dict[str, Any]],
                  now: datetime) -> int:
    shop = await fresh_shop(platform, shop_id)
    audiences = {a["audienceId"]: a for a in (shop.audiences if shop else [])}
    sources = {d["_id"]: interest_key(shop_id, d["userId"], *item_of(audiences[d["audienceId"]]))
               for d in docs if d.get("member") and d["audienceId"] in audiences}
    stored: dict[str, float] = {}
    if sources:
        stored = {i["_id"]: i.get("decayed", 0.0) for i in await platform.storage.interests.find(
            {"shopId": shop_id, "_id": {"$in": sorted(set(sources.values()))}},
            {"decayed": 1}).to_list(None)}
    changes = []
    for doc in docs:
        audience = audiences.get(doc["audienceId"])
        if shop is None or audience is None:
            changes.append(Change(doc["_id"], doc["rev"], delete=True))
        elif doc.get("member"):
            changes.append(_member_due(shop_id, shop.interest_frame, audience, doc,
                                       stored.get(sources[doc["_id"]], 0.0), now))
        else:
            changes.append(Change(doc["_id"], doc["rev"], {}, due=None))
    _, fresh = await apply(platform, shop_id, changes, {d["_id"]: d for d in docs})
    return len(fresh)


def _member_due(shop_id: int, frame: Frame, audience: dict[str, Any], doc: dict[str, Any],
                stored: float, now: datetime) -> Change:
    """A member whose exit may be due: it leaves, or its exit moves later."""
    exit_at = frame.falls_below(stored, audience["minScore"])
    if frame.holds(stored, audience["minScore"], now):
        return Change(doc["_id"], doc["rev"], {"stored": stored, "exitAt": exit_at}, due=exit_at)
    left = audience_trigger(shop_id, doc["_id"], False, doc["episode"], audience, doc["userId"],
                            doc.get("visitorId", ""), now, frame.score(stored, now),
                            max(exit_at, utc(doc["exitAt"])) if stored else utc(doc["exitAt"]))
    return Change(doc["_id"], doc["rev"], {"member": False, "exitAt": None, "stored": stored},
                  [left], due=None)


# -- filling a new audience --------------------------------------------------------------


def backfill_job(shop_id: int, audience: dict[str, Any]) -> dict[str, Any]:
    return {"_id": f"{shop_id}:{audience['audienceId']}", "shopId": shop_id,
            "audienceId": audience["audienceId"], "createdAt": audience["createdAt"],
            "dueAt": audience["createdAt"], "pass": 1, "after": None, "rev": new_rev()}


async def run_jobs(platform: Platform, limit: int = 10) -> int:
    """Run the filling jobs that are due; returns the AUDIENCE_ENTERED triggers fired."""
    now = platform.clock.now()
    jobs = await platform.storage.audienceJobs.find({"dueAt": {"$lte": now}}) \
        .sort("dueAt", 1).limit(limit).to_list(limit)
    return sum([await _run_job(platform, job) for job in jobs])


async def _run_job(platform: Platform, job: dict[str, Any]) -> int:
    jobs, clock = platform.storage.audienceJobs, platform.clock
    mine = {"_id": job["_id"], "shopId": job["shopId"]}
    rev = new_rev()
    claimed = await jobs.update_one({**mine, "rev": job["rev"]},
                                    {"$set": {"rev": rev, "dueAt": clock.now() + LEASE}})
    if not claimed.matched_count:
        return 0  # another process has it
    mine["rev"] = rev
    shop = await fresh_shop(platform, job["shopId"])
    audience = next((a for a in (shop.audiences if shop else [])
                     if a["audienceId"] == job["audienceId"]), None)
    if shop is None or audience is None:
        if shop is None or clock.now() - utc(job["createdAt"]) > JOB_WAIT:
            await jobs.delete_one(mine)
        else:  # created a moment ago: the audience is on its way
            await jobs.update_one(mine, {"$set": {"dueAt": clock.now() + timedelta(seconds=1)}})
        return 0
    after, entered = job.get("after"), 0
    for _ in range(FILL_BATCHES):
        found = await _qualifying(platform, shop, audience, after)
        fresh = await reconcile(platform, shop, [Reading(audience, d["userId"], d["decayed"])
                                                 for d in found])
        entered += sum(1 for t in fresh if t["type"] == triggers.AUDIENCE_ENTERED)
        if len(found) < FILL_BATCH:
            await _pass_done(platform, job, mine)
            return entered
        after = [found[-1]["decayed"], found[-1]["_id"]]
        saved = await jobs.update_one(mine, {"$set": {"after": after,
                                                      "dueAt": clock.now() + LEASE}})
        if not saved.matched_count:
            return entered  # the lease ran out and another process took over
    await jobs.update_one(mine, {"$set": {"dueAt": clock.now()}})  # more at the next tick
    return entered


async def _qualifying(platform: Platform, shop: Shop, audience: dict[str, Any],
                      after: list[Any] | None) -> list[dict[str, Any]]:
    """The next customers, best first, whose score is at least minScore now."""
    kind, item_id = item_of(audience)
    lowest = shop.interest_frame.threshold(audience["minScore"], platform.clock.now())
    query: dict[str, Any] = {"shopId": shop.shop_id, "kind": kind, "itemId": item_id,
                             "decayed": {"$gte": lowest}}
    if after:
        query["$or"] = [{"decayed": {"$lt": after[0]}},
                        {"decayed": after[0], "_id": {"$gt": after[1]}}]
    return await platform.storage.interests.find(query, {"userId": 1, "decayed": 1}) \
        .sort([("decayed", -1), ("_id", 1)]).limit(FILL_BATCH).to_list(FILL_BATCH)


async def _pass_done(platform: Platform, job: dict[str, Any], mine: dict[str, Any]) -> None:
    jobs = platform.storage.audienceJobs
    if job.get("pass", 1) == 1:
        # Again once every process has the audience (the shop cache's lifetime), for
        # customers whose score rose meanwhile in a process that did not know it yet.
        again = utc(job["createdAt"]) + timedelta(seconds=platform.shops.ttl + 1)
        await jobs.update_one(mine, {"$set": {"pass": 2, "after": None, "dueAt": again}})
    else:
        await jobs.delete_one(mine)
