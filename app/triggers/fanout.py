"""Fan-out as a job: the triggers and deliveries of one request are bounded (issue 22).

A tracked event stands for one trigger per rule that accepts it (`RuleSet.fan_out`),
and each trigger for one delivery per matching webhook endpoint: 100 custom events x
100 rules x 20 endpoints is 190,000 deliveries. A request makes them itself only
while that stays small (INLINE_TRIGGERS triggers and INLINE_DELIVERIES deliveries);
past that it stores its events' base triggers (at most one per event) as one job in
`triggerFanouts` and is answered. The workers of every process then work the jobs:

- a job is claimed for a step with a lease (`leaseUntil`, `claim` token), so one
  process works it at a time, and another takes over when its holder died; the
  process whose step failed takes the job back at once;
- it is worked in steps of at most STEP_WRITES triggers and deliveries, its progress
  (`done`, the base triggers fanned out so far) written after each step, and a pause
  as long as the step (up to PAUSE) after it: the job takes at most about half of a
  busy process;
- one step per shop per round, the shops in turn: one shop's job does not hold up
  another's.

Exactly once: trigger ids are deterministic (event, rule), storing a trigger again
and queueing its deliveries again change nothing (app/triggers/outbox.py), caps are
claimed under the trigger's id; so a step made again after a failure between its
writes (the triggers, the deliveries, the progress) stores nothing twice. The rules
applied are those of the shop when the step runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from app.backends.storage import Storage
from app.core import Clock
from app.shops import Shops
from app.triggers.caps import admit
from app.triggers.outbox import Outbox
from app.triggers.rule_store import Rules
from app.triggers.rules import RuleSet
from app.webhooks import Webhooks

COLLECTION = "triggerFanouts"
INLINE_TRIGGERS = 200  # a request makes at most this many triggers itself...
INLINE_DELIVERIES = 1_000  # ...and at most this many deliveries; past either, a job
STEP_WRITES = 250  # triggers + deliveries written per step (about 0.15 s on the embedded store)
PAUSE = 0.1  # seconds at most between two steps, as long as the step took
LEASE = timedelta(seconds=30)  # longer than a step; a dead holder's job waits this long
SHOPS_PER_ROUND = 50  # jobs looked at per round, the oldest first, one per shop


def job_id(shop_id: int, bases: list[dict[str, Any]]) -> str:
    """The same batch (a tracker's retry) is the same job."""
    digest = hashlib.sha256("\n".join(sorted(b["_id"] for b in bases)).encode()).hexdigest()
    return f"{shop_id}:{digest[:32]}"


class FanOut:
    def __init__(self, storage: Storage, clock: Clock, shops: Shops, rules: Rules,
                 outbox: Outbox, webhooks: Webhooks) -> None:
        self.storage, self.clock = storage, clock
        self.shops, self.rules, self.outbox, self.webhooks = shops, rules, outbox, webhooks
        self._token = uuid.uuid4().hex  # this process's claims: it may take them back
        self._failed: dict[int, str] = {}  # shop -> its job whose step failed here
        self.pending = 0  # jobs this process queued or holds and has not finished

    @property
    def idle(self) -> bool:
        return self.pending == 0

    async def fire(self, shop_id: int, ruleset: RuleSet, bases: list[dict[str, Any]]) -> None:
        """The triggers of a request's events: made here if few, else queued as a job."""
        fired = [t for base in bases for t in ruleset.fan_out(base)]
        endpoints = len((await self.webhooks.endpoints_of([shop_id]))[shop_id])
        if len(fired) <= INLINE_TRIGGERS and len(fired) * endpoints <= INLINE_DELIVERIES:
            await self._record(fired, ruleset)
            return
        now = self.clock.now()
        await self.storage.triggerFanouts.update_one(
            {"_id": job_id(shop_id, bases), "shopId": shop_id},
            {"$setOnInsert": {"bases": bases, "done": 0, "createdAt": now,
                              "leaseUntil": now}}, upsert=True)
        self.pending += 1

    async def _record(self, fired: list[dict[str, Any]], ruleset: RuleSet) -> None:
        # A retried event claims its caps again under the same trigger ids: they hold.
        admitted = await admit(self.storage, fired, lambda doc: ruleset.cap_of(doc["ruleId"]))
        await self.outbox.record(admitted)

    async def tick(self) -> int:
        """One round: a step of the oldest open job of each shop, and of the jobs whose
        step failed here (this process takes them back at once). Returns the steps made."""
        now = self.clock.now()
        open_jobs = await self.storage.triggerFanouts.find(
            {"leaseUntil": {"$lte": now}}, {"_id": 1, "shopId": 1}
        ).sort("leaseUntil", 1).limit(SHOPS_PER_ROUND).to_list(None)
        firsts: dict[int, str] = dict(self._failed)
        for job in open_jobs:
            firsts.setdefault(job["shopId"], job["_id"])
        steps = 0
        for shop_id, job_id_ in firsts.items():
            self._failed[shop_id] = job_id_  # until its step is written
            began = time.monotonic()
            steps += await self._step(job_id_, shop_id)
            del self._failed[shop_id]
            # Then as long again for whoever else waits, up to PAUSE: the embedded store
            # answers without suspending, so a step holds the event loop while it writes.
            await asyncio.sleep(min(time.monotonic() - began, PAUSE))
        if not firsts:
            self.pending = 0
        return steps

    async def _step(self, job: str, shop_id: int) -> int:
        now = self.clock.now()
        claimed = await self.storage.triggerFanouts.find_one_and_update(
            {"_id": job, "shopId": shop_id,
             "$or": [{"leaseUntil": {"$lte": now}}, {"claim": self._token}]},
            {"$set": {"leaseUntil": now + LEASE, "claim": self._token}})
        if claimed is None:
            return 0  # another process has it
        shop = await self.shops.get(shop_id)
        bases, done = claimed["bases"], claimed["done"]
        if shop is None or done >= len(bases):
            await self.storage.triggerFanouts.delete_one({"_id": job, "shopId": shop_id})
            return 0
        ruleset = await self.rules.ruleset(shop)
        endpoints = len((await self.webhooks.endpoints_of([shop_id]))[shop_id])
        step = _step_size(bases[done:], ruleset.fan_out, 1 + endpoints)
        await self._record([t for b in bases[done:done + step] for t in ruleset.fan_out(b)],
                           ruleset)
        if done + step >= len(bases):
            await self.storage.triggerFanouts.delete_one({"_id": job, "shopId": shop_id})
            self.pending = max(0, self.pending - 1)
        else:
            # The lease covers a step: the job is open again for the next round, here or
            # in another process.
            await self.storage.triggerFanouts.update_one(
                {"_id": job, "shopId": shop_id, "claim": self._token},
                {"$set": {"done": done + step, "leaseUntil": self.clock.now()}})
        return 1


def _step_size(bases: list[dict[str, Any]],
               fan_out: Callable[[dict[str, Any]], list[dict[str, Any]]], writes: int) -> int:
    """How many base triggers make at most STEP_WRITES writes (at least one)."""
    total = 0
    for count, base in enumerate(bases):
        total += len(fan_out(base)) * writes
        if total > STEP_WRITES:
            return max(1, count)
    return len(bases)
