"""The sender: attempts the due webhook deliveries, in every server process.

A batch is claimed with a lease: one `update_many` whose filter holds only while
a delivery is due and nobody's lease runs (`leaseUntil <= now`) sets the lease
and this batch's claim token; the claimed ones are read back by the token. So
with several processes each attempt is made by one, and a process that dies
mid-attempt leaves the delivery to another once the lease ends. The result is
written with the token in the filter: a holder whose lease was taken over
writes nothing.

Attempts in flight are bounded in all (`webhook_concurrency`), per endpoint
(`webhook_concurrency_per_endpoint`) and per shop (`webhook_concurrency_per_shop`);
deliveries of an endpoint or a shop at its bound are left for later, and the others
are served round-robin across shops (app/webhooks/local.py), so a slow endpoint or a
busy shop does not hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from pymongo import UpdateOne

import app.webhooks.leases as leases
import app.webhooks.payload as payload
from app.backends.metrics import DELIVERIES
from app.backends.storage import Storage
from app.core import Clock
from app.settings import Settings
from app.webhooks.endpoints import DELIVERED, FAILED, NEVER, PENDING, Webhooks
from app.webhooks.local import InFlight
from app.webhooks.net import ERROR_LIMIT, attempt, make_client

log = logging.getLogger("tracker.webhooks")

BATCH = 500  # due deliveries read per round trip
KEEP = timedelta(days=30)  # a finished delivery stays in the log this long (TTL index)
OUTCOMES = {DELIVERED: "delivered", FAILED: "failed", None: "retry"}  # metrics, by status left


def parse_schedule(text: str) -> list[float]:
    """Seconds before each retry: "5,300,1800" -> [5, 300, 1800]."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = [-1.0]
    if any(not 0 <= v <= 31_536_000 for v in values):
        raise ValueError(f"TRACKER_WEBHOOK_SCHEDULE must be comma-separated seconds "
                         f"(0 to 31536000 each), not {text!r}")
    return values


def due(now: datetime) -> dict[str, Any]:
    return {"status": PENDING, "nextAttemptAt": {"$lte": now}, "leaseUntil": {"$lte": now}}


class Sender:
    def __init__(self, storage: Storage, clock: Clock, settings: Settings, webhooks: Webhooks,
                 fields: Sequence[str] = payload.TRIGGER_FIELDS) -> None:
        self.storage = storage
        self.clock = clock
        self.settings = settings
        self.webhooks = webhooks
        self.fields = tuple(fields)
        self.schedule = parse_schedule(settings.webhook_schedule)
        self.timeout = settings.webhook_timeout_seconds
        # Longer than any attempt can take, so a lease ends only when its holder is gone.
        self.lease = timedelta(seconds=2 * self.timeout + 5)
        self.client: httpx.AsyncClient | None = None
        self.attempts = 0  # made by this process (benchmarks read it)
        self._flight = InFlight(settings.webhook_concurrency_per_endpoint,
                                settings.webhook_concurrency_per_shop)
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, str] = {}  # delivery id -> claim token, while attempted
        self._writes: list[UpdateOne] = []  # results of attempts, to be written together
        self._retries: list[tuple[str, int, str, datetime]] = []  # ...and their next attempts
        self._cap = settings.webhook_concurrency_per_endpoint
        self._next_search = 0.0  # time.monotonic() of the next search of storage
        self._backlog = False  # the last search found a full batch: more may be due
        self.local = webhooks.local
        self.drain = 0.0  # seconds the attempts under way get to finish when `run` is cancelled

    def open(self) -> None:
        if self.client is None:
            self.client = make_client(self.timeout, self.settings.webhook_allow_private,
                                      self._cap)

    async def run(self) -> None:
        """Claim and attempt until cancelled; then give the leases held back."""
        self.open()
        wake = self.webhooks.wake
        try:
            while True:
                wake.clear()
                try:
                    more = await self.tick()
                except Exception:
                    # Storage hiccup: the next look retries; a lease taken is not lost.
                    log.exception("webhook deliveries: a look failed; retrying")
                    more = False
                if not more:
                    # Not wait_for: on Python 3.11 it returns, losing the cancellation,
                    # when the stop's cancel meets a wake-up just set (an attempt ended):
                    # the loop would run on and the stop wait for it for ever.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._pause()):
                            await wake.wait()
        finally:
            await self.stop(self.drain)

    def _pause(self) -> float:
        """Until the next look: a search due, or the next retry this process knows of."""
        poll = self.settings.webhook_poll_seconds
        if self._free() <= 0:
            return poll  # an attempt that ends wakes the loop
        if self._backlog and not self.local.ready():
            return 0.0
        pause = max(0.0, self._next_search - time.monotonic())
        retry = self.local.next_due()
        if retry is not None:
            pause = min(pause, max(0.0, (retry - self.clock.now()).total_seconds()))
        return min(pause, poll)

    async def stop(self, drain: float = 0.0) -> None:
        await leases.drain(self._tasks, drain)  # the rest are cut
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._flush(), 2.0)
        held, self._held = self._held, {}
        await leases.give_back(self.storage, held)  # another process may take them at once
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def settle(self) -> None:
        """Until the attempts started so far are done and written (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._flush()

    async def tick(self, search: bool | None = None) -> bool:
        """Write the results of the attempts that ended; claim what is due, within the
        bounds, and start the attempts. True if more is due."""
        await self._flush()
        if self.webhooks.stale():
            await self.webhooks.sync()  # so that storing a trigger need not
        claimed = await self.claim(search)
        if claimed:
            await self._start(claimed)
        return self._free() > 0 and self.local.ready(self._flight)

    def _free(self) -> int:
        return self.settings.webhook_concurrency - len(self._tasks)

    async def claim(self, search: bool | None = None) -> list[dict[str, Any]]:
        """Lease due deliveries, within the bounds: those this process knows of, and
        (`search`; by default now and then) those storage holds. Returns the claimed ones."""
        free = self._free()
        if free <= 0:
            return []
        now = self.clock.now()
        if search is None:
            search = time.monotonic() >= self._next_search or (
                self._backlog and not self.local.ready())
        if search:
            await self._search(now)
        picked = {d[0]: d for d in self.local.take(now, free, self._flight)}
        if not picked:
            return []
        token = uuid.uuid4().hex
        ids, shops = list(picked), sorted({d[1] for d in picked.values()})
        result = await self.storage.webhook_deliveries.update_many(
            {"_id": {"$in": ids}, "shopId": {"$in": shops}, **due(now)},
            {"$set": {"leaseUntil": now + self.lease, "claim": token}})
        if result.modified_count == 0:
            return []  # another process has them, or they are no longer due
        claimed = await self.storage.webhook_deliveries.find(
            {"_id": {"$in": ids}, "shopId": {"$in": shops}, "claim": token}).to_list(None)
        for doc in claimed:
            self._held[doc["_id"]] = token
        return claimed

    async def _search(self, now: datetime) -> None:
        """Find due deliveries in storage (what no process remembers) and remember them.

        How often: every `webhook_poll_seconds`, but never more than a tenth of the time
        (a search of the embedded store reads every delivery it holds); sooner when the
        last one found a full batch and what it found is taken.
        """
        began = time.monotonic()
        query = due(now) | self._flight.full()
        found = await self.storage.webhook_deliveries.find(
            query, {"_id": 1, "shopId": 1, "endpointId": 1}
        ).sort("nextAttemptAt", 1).limit(BATCH).to_list(BATCH)
        for doc in found:
            self.local.add(doc["_id"], doc["shopId"], doc["endpointId"])
        took = time.monotonic() - began
        self._backlog = len(found) == BATCH
        self._next_search = began + max(self.settings.webhook_poll_seconds, 10 * took)

    async def _start(self, claimed: list[dict[str, Any]]) -> None:
        """Read the triggers and the endpoints (fresh: a rotated secret applies at once)."""
        shops = sorted({d["shopId"] for d in claimed})
        triggers = {t["_id"]: t for t in await self.storage.triggers.find(
            {"_id": {"$in": list({d["triggerId"] for d in claimed})}, "shopId": {"$in": shops}}
        ).to_list(None)}
        endpoints = {(doc["_id"], e["endpointId"]): e for doc in await self.storage.webhooks.find(
            {"_id": {"$in": shops}, "shopId": {"$in": shops}}).to_list(None)
            for e in doc.get("endpoints", [])}
        for delivery in claimed:
            endpoint_id = delivery["endpointId"]
            self._flight.started(delivery["shopId"], endpoint_id)
            task = asyncio.create_task(self._attempt(
                delivery, triggers.get(delivery["triggerId"]),
                endpoints.get((delivery["shopId"], endpoint_id))))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _attempt(self, delivery: dict[str, Any], trigger: dict[str, Any] | None,
                       endpoint: dict[str, Any] | None) -> None:
        cut_short = False
        try:
            if endpoint is None or trigger is None:  # deleted, or erased (forgetCustomer)
                DELIVERIES.labels("dropped").inc()
                await self.storage.webhook_deliveries.delete_one(
                    {"_id": delivery["_id"], "shopId": delivery["shopId"],
                     "claim": delivery["claim"]})
            elif not endpoint.get("enabled"):
                self._give_up(delivery, f"endpoint disabled: {endpoint.get('disabledReason')}")
            else:
                status, error = await self.post(endpoint, trigger)
                await self._record(delivery, endpoint, status, error)
        except asyncio.CancelledError:
            cut_short = True  # the lease stays in `_held`, for `stop` to give back
            raise
        except payload.Unbuildable as unbuildable:  # no retry could ever send it
            self._give_up(delivery, f"the body cannot be built: {unbuildable}")
        except Exception:
            log.exception("webhook delivery %s: recording the attempt failed", delivery["_id"])
        finally:
            if not cut_short:
                self._held.pop(delivery["_id"], None)
            self._flight.ended(delivery["shopId"], delivery["endpointId"])
            self.webhooks.wake.set()  # its result is to be written, and a slot is free

    async def post(self, endpoint: dict[str, Any], trigger: dict[str, Any]
                   ) -> tuple[int | None, str | None]:
        """One attempt: (the status code, None) if delivered, else (code or None, why not)."""
        assert self.client is not None
        content = payload.body(trigger, self.fields)
        headers = payload.headers(endpoint["secret"], trigger["_id"],
                                  int(self.clock.now().timestamp()), content)
        self.attempts += 1
        return await attempt(self.client, endpoint["url"], content, headers, self.timeout)

    async def _record(self, delivery: dict[str, Any], endpoint: dict[str, Any],
                      status: int | None, error: str | None) -> None:
        now = self.clock.now()
        attempts = delivery.get("attempts", 0) + 1
        change: dict[str, Any] = {"lastStatusCode": status, "lastError": error}
        if error is None:
            change |= {"status": DELIVERED, "deliveredAt": now, "nextAttemptAt": None}
        elif attempts > len(self.schedule):
            change |= {"status": FAILED, "nextAttemptAt": None}
        else:
            change["nextAttemptAt"] = now + timedelta(seconds=self.schedule[attempts - 1])
        self._finish(delivery, change, attempted=True)
        if change.get("nextAttemptAt"):
            self._retries.append((delivery["_id"], delivery["shopId"], delivery["endpointId"],
                                  change["nextAttemptAt"]))
        await self.webhooks.note_health(delivery["shopId"], endpoint, now, error)

    def _give_up(self, delivery: dict[str, Any], why: str) -> None:  # FAILED, unattempted
        self._finish(delivery, {"status": FAILED, "nextAttemptAt": None,
                                "lastError": why[:ERROR_LIMIT]}, attempted=False)

    def _finish(self, delivery: dict[str, Any], change: dict[str, Any], attempted: bool) -> None:
        """Queue the write of an attempt's result (`_flush` makes it, with the others')."""
        now = self.clock.now()
        DELIVERIES.labels(OUTCOMES[change.get("status")] if attempted else "disabled").inc()
        change = {**change, "leaseUntil": NEVER}
        if attempted:
            change["lastAttemptAt"] = now
        if change.get("status") in (DELIVERED, FAILED):
            change["expireAt"] = now + KEEP
        update: dict[str, Any] = {"$set": change, "$unset": {"claim": ""}}
        if attempted:
            update["$inc"] = {"attempts": 1}
        self._writes.append(UpdateOne(
            {"_id": delivery["_id"], "shopId": delivery["shopId"], "claim": delivery["claim"]},
            update))

    async def _flush(self) -> None:
        """Write the results of the attempts that ended, in one round trip.

        Until written, a delivery stays leased: no process attempts it again. Should the
        write fail, the lease runs out and the delivery is attempted again (at least once).
        """
        if not self._writes:
            return
        writes, self._writes = self._writes, []
        retries, self._retries = self._retries, []
        await self.storage.webhook_deliveries.bulk_write(writes, ordered=False)
        for retry in retries:  # claimable only now that `nextAttemptAt` is written
            self.local.add(*retry)
