"""The sender: attempts the due webhook deliveries, in every server process.

A batch is claimed with a lease: one `update_many` whose filter holds only while
a delivery is due and nobody's lease runs (`leaseUntil <= now`) sets the lease
and this batch's claim token; the claimed ones are read back by the token. So
with several processes each attempt is made by one, and a process that dies
mid-attempt leaves the delivery to another once the lease ends. The result is
written with the token in the filter: a holder whose lease was taken over
writes nothing.

Attempts in flight are bounded in all (`webhook_concurrency`) and per endpoint
(`webhook_concurrency_per_endpoint`); deliveries of an endpoint at its bound are
left for later, so a slow endpoint does not hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from app import webhooks_payload as payload
from app.backends.storage import Storage
from app.clock import Clock, utc
from app.settings import Settings
from app.webhooks import DELIVERED, FAILED, NEVER, PENDING, Webhooks
from app.webhooks_net import make_client

log = logging.getLogger("tracker.webhooks")

BATCH = 500  # due deliveries read per round trip
BODY_LIMIT = 64 * 1024  # bytes of an answer read, at most
ERROR_LIMIT = 300  # characters of `lastError`
DISABLE_AFTER = timedelta(days=5)  # an endpoint failing everything this long is disabled
KEEP = timedelta(days=30)  # a finished delivery stays in the log this long (TTL index)


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
        self._per_endpoint: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, str] = {}  # delivery id -> claim token, while attempted
        self._starved = False  # the last look stopped at a bound: look again when one ends

    def open(self) -> None:
        if self.client is None:
            self.client = make_client(self.timeout, self.settings.webhook_allow_private,
                                      self.settings.webhook_concurrency)

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
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), self.settings.webhook_poll_seconds)
        finally:
            await self.stop()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._held:
            # Attempts cut short: another process may take them at once, not after the lease.
            held, self._held = self._held, {}
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.storage.webhook_deliveries.update_many(
                    {"_id": {"$in": list(held)}, "claim": {"$in": list(set(held.values()))}},
                    {"$set": {"leaseUntil": NEVER}, "$unset": {"claim": ""}}), 2.0)
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def settle(self) -> None:
        """Until the attempts started so far are done (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def tick(self) -> bool:
        """Claim what is due, within the bounds, and start the attempts. True if more is due."""
        claimed, more = await self.claim()
        if claimed:
            await self._start(claimed)
        return more

    async def claim(self) -> tuple[list[dict[str, Any]], bool]:
        """Lease due deliveries: (the claimed ones, whether more may be due now)."""
        free = self.settings.webhook_concurrency - len(self._tasks)
        cap = self.settings.webhook_concurrency_per_endpoint
        full = [e for e, n in self._per_endpoint.items() if n >= cap]
        self._starved = free <= 0 or bool(full)
        if free <= 0:
            return [], False
        now = self.clock.now()
        query = due(now) | ({"endpointId": {"$nin": full}} if full else {})
        found = await self.storage.webhook_deliveries.find(
            query, {"_id": 1, "shopId": 1, "endpointId": 1}
        ).sort("nextAttemptAt", 1).limit(BATCH).to_list(BATCH)
        picked, counts = [], dict(self._per_endpoint)
        for doc in found:
            if len(picked) < free and counts.get(doc["endpointId"], 0) < cap:
                counts[doc["endpointId"]] = counts.get(doc["endpointId"], 0) + 1
                picked.append(doc["_id"])
        self._starved |= len(picked) < len(found)
        if not picked:
            return [], False
        token = uuid.uuid4().hex
        shops = sorted({d["shopId"] for d in found})
        result = await self.storage.webhook_deliveries.update_many(
            {"_id": {"$in": picked}, "shopId": {"$in": shops}, **due(now)},
            {"$set": {"leaseUntil": now + self.lease, "claim": token}})
        more = len(found) == BATCH and len(picked) < free
        if result.modified_count == 0:
            return [], more
        claimed = await self.storage.webhook_deliveries.find(
            {"_id": {"$in": picked}, "shopId": {"$in": shops}, "claim": token}).to_list(None)
        for doc in claimed:
            self._held[doc["_id"]] = token
        return claimed, more

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
            self._per_endpoint[endpoint_id] = self._per_endpoint.get(endpoint_id, 0) + 1
            task = asyncio.create_task(self._attempt(
                delivery, triggers.get(delivery["triggerId"]),
                endpoints.get((delivery["shopId"], endpoint_id))))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _attempt(self, delivery: dict[str, Any], trigger: dict[str, Any] | None,
                       endpoint: dict[str, Any] | None) -> None:
        cut_short = False
        try:
            if endpoint is None or trigger is None:
                # The endpoint was deleted, or the trigger erased (forgetCustomer).
                await self.storage.webhook_deliveries.delete_one(
                    {"_id": delivery["_id"], "shopId": delivery["shopId"],
                     "claim": delivery["claim"]})
            elif not endpoint.get("enabled"):
                await self._finish(delivery, {
                    "status": FAILED, "nextAttemptAt": None,
                    "lastError": f"endpoint disabled: {endpoint.get('disabledReason')}"[
                        :ERROR_LIMIT]}, attempted=False)
            else:
                status, error = await self.post(endpoint, trigger)
                await self._record(delivery, endpoint, status, error)
        except asyncio.CancelledError:
            cut_short = True  # the lease stays in `_held`, for `stop` to give back
            raise
        except Exception:
            log.exception("webhook delivery %s: recording the attempt failed", delivery["_id"])
        finally:
            if not cut_short:
                self._held.pop(delivery["_id"], None)
            endpoint_id = delivery["endpointId"]
            self._per_endpoint[endpoint_id] -= 1
            if not self._per_endpoint[endpoint_id]:
                del self._per_endpoint[endpoint_id]
            if self._starved:
                self.webhooks.wake.set()

    async def post(self, endpoint: dict[str, Any], trigger: dict[str, Any]
                   ) -> tuple[int | None, str | None]:
        """One attempt: (the status code, None) if delivered, else (code or None, why not)."""
        assert self.client is not None
        content = payload.body(trigger, self.fields)
        timestamp = int(self.clock.now().timestamp())
        headers = payload.headers(endpoint["secret"], trigger["_id"], timestamp, content)
        self.attempts += 1
        try:
            async with asyncio.timeout(self.timeout), self.client.stream(
                    "POST", endpoint["url"], content=content, headers=headers) as response:
                answer = await _read_some(response)
        except TimeoutError:
            return None, f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:ERROR_LIMIT]
        status = response.status_code
        if 200 <= status < 300:
            return status, None
        if 300 <= status < 400:
            return status, f"HTTP {status}: redirects are not followed"
        text = answer.decode("utf-8", "replace").strip()
        return status, (f"HTTP {status}" + (f": {text}" if text else ""))[:ERROR_LIMIT]

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
        await self._finish(delivery, change, attempted=True)
        await self._note_health(delivery["shopId"], endpoint, now, error)

    async def _finish(self, delivery: dict[str, Any], change: dict[str, Any],
                      attempted: bool) -> None:
        now = self.clock.now()
        change = {**change, "leaseUntil": NEVER}
        if attempted:
            change["lastAttemptAt"] = now
        if change.get("status") in (DELIVERED, FAILED):
            change["expireAt"] = now + KEEP
        update: dict[str, Any] = {"$set": change, "$unset": {"claim": ""}}
        if attempted:
            update["$inc"] = {"attempts": 1}
        await self.storage.webhook_deliveries.update_one(
            {"_id": delivery["_id"], "shopId": delivery["shopId"], "claim": delivery["claim"]},
            update)

    async def _note_health(self, shop_id: int, endpoint: dict[str, Any], now: datetime,
                           error: str | None) -> None:
        """Track since when every attempt failed; disable the endpoint after DISABLE_AFTER."""
        since = endpoint.get("failingSince")
        endpoint_id = endpoint["endpointId"]
        if error is None:
            if since is not None:
                endpoint["failingSince"] = None  # the batch's copy: write once
                await self.webhooks.mark_failing(shop_id, endpoint_id, None)
        elif since is None:
            endpoint["failingSince"] = now
            await self.webhooks.mark_failing(shop_id, endpoint_id, now)
        elif now - utc(since) >= DISABLE_AFTER and endpoint.get("enabled"):
            endpoint["enabled"] = False
            await self.webhooks.disable(
                shop_id, endpoint_id, f"every delivery failed since {utc(since).isoformat()} "
                f"(5 days); last error: {error}"[:ERROR_LIMIT])


async def _read_some(response: httpx.Response) -> bytes:
    """Up to BODY_LIMIT bytes of the answer (raw: a compressed bomb is not unpacked)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_LIMIT:
            break
    return b"".join(chunks)[:BODY_LIMIT]
