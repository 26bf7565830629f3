"""Webhook endpoints of a shop, and the deliveries queued for every trigger.

A shop's endpoints live in one document (`webhooks`, `_id` = the shop id), so the
limit of MAX_ENDPOINTS is one conditional `$push`. Every process keeps the
endpoints of every shop that has some in memory, and brings them up to date
(`sync`: the documents changed lately, one round trip) when they are older than
`webhook_poll_seconds`. The sender does that in the background, so storing a
trigger reads nothing, and a change made by another process applies within that
time; changes made by this process apply at once.

Deliveries are an outbox of the trigger outbox: `Webhooks.queue` is called by
`Outbox` in the step that stores triggers, before any is published, and stores a
delivery per (trigger, matching endpoint) with the id `"<triggerId>:<endpointId>"`,
so that queueing the same triggers again (a retry, the sweeper) adds nothing.
The sender (app/webhooks/sender.py) attempts them; the log and replay are in
app/webhooks/deliveries.py.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import BulkWriteError, DuplicateKeyError

from app.backends.storage import Storage, duplicate_indexes
from app.core import BadInput, Clock, NotFound, utc
from app.settings import Settings
from app.webhooks.local import LocalQueue
from app.webhooks.net import check_destination, check_url

MAX_ENDPOINTS = 20
MAX_NAMES = 100
MAX_NAME = 256
SECRET_BYTES = 24  # as Svix: 192 bits
DISABLE_AFTER = timedelta(days=5)  # an endpoint failing everything this long is disabled
LOOKBACK = timedelta(seconds=30)  # a sync reads again what changed this long before the last
PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # `leaseUntil` of a delivery nobody holds


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def delivery_id(trigger_id: str, endpoint_id: str) -> str:
    return f"{trigger_id}:{endpoint_id}"


def matches(endpoint: dict[str, Any], trigger: dict[str, Any]) -> bool:
    """An enabled endpoint takes a trigger of one of its types and names (empty = all)."""
    return bool(endpoint.get("enabled")) \
        and (not endpoint.get("types") or trigger.get("type") in endpoint["types"]) \
        and (not endpoint.get("names") or trigger.get("name") in endpoint["names"])


def new_delivery(trigger: dict[str, Any], endpoint_id: str, now: datetime) -> dict[str, Any]:
    return {
        "_id": delivery_id(trigger["_id"], endpoint_id),
        "shopId": trigger["shopId"],
        "endpointId": endpoint_id,
        "triggerId": trigger["_id"],
        "status": PENDING,
        "attempts": 0,
        "createdAt": now,
        "nextAttemptAt": now,
        "leaseUntil": NEVER,
        "lastAttemptAt": None,
        "lastStatusCode": None,
        "lastError": None,
        "deliveredAt": None,
    }


def _names(names: Iterable[str] | None) -> list[str]:
    given = list(names or ())
    if len(given) > MAX_NAMES or any(not 0 < len(n) <= MAX_NAME for n in given):
        raise BadInput(f"names: at most {MAX_NAMES}, each 1 to {MAX_NAME} characters",
                       field="names")
    return list(dict.fromkeys(given))


class Webhooks:
    """The shops' endpoints (read through a short cache) and the deliveries queue."""

    def __init__(self, storage: Storage, clock: Clock, settings: Settings) -> None:
        self.storage = storage
        self.clock = clock
        self.settings = settings
        self._shops: dict[int, list[dict[str, Any]]] = {}  # every shop with endpoints
        self._synced_at: datetime | None = None  # when the last sync began (our clock)
        self.wake = asyncio.Event()  # set when this process queued deliveries
        self.local = LocalQueue()  # ...and which: the sender takes them from here

    # -- the hot path -----------------------------------------------------------------

    async def queue(self, triggers: list[dict[str, Any]]) -> int:
        """Store a delivery per (trigger, matching endpoint); how many were new.

        No round trip when the triggers' shops have no endpoint (once cached), one
        insert otherwise. Deliveries already queued are duplicates and stay as they are.
        """
        if not triggers:
            return 0
        endpoints = await self.endpoints_of({t["shopId"] for t in triggers})
        now = self.clock.now()
        deliveries = [new_delivery(t, e["endpointId"], now) for t in triggers
                      for e in endpoints.get(t["shopId"], ()) if matches(e, t)]
        if not deliveries:
            return 0
        fresh = len(deliveries)
        try:
            await self.storage.webhook_deliveries.insert_many(deliveries, ordered=False)
        except BulkWriteError as error:
            fresh -= len(duplicate_indexes(error))
        for delivery in deliveries:
            self.local.add(delivery["_id"], delivery["shopId"], delivery["endpointId"])
        self.wake.set()
        return fresh

    async def endpoints_of(self, shop_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """The endpoints of each shop, from memory: the sender keeps it up to date, so
        storing a trigger reads nothing (but the first time, if no sync was made yet)."""
        if self._synced_at is None:
            await self.sync()
        return {shop_id: self._shops.get(shop_id, []) for shop_id in shop_ids}

    def stale(self) -> bool:
        return self._synced_at is None or self.clock.now() - self._synced_at >= timedelta(
            seconds=self.settings.webhook_poll_seconds)

    async def sync(self) -> None:
        """Read the endpoints changed since the last sync (all of them the first time)."""
        now = self.clock.now()
        query = {} if self._synced_at is None else {
            "updatedAt": {"$gte": self._synced_at - LOOKBACK}}
        for doc in await self.storage.webhooks.find(query).to_list(None):
            self._remember(doc["_id"], doc.get("endpoints") or [])
        self._synced_at = now

    def _remember(self, shop_id: int, endpoints: list[dict[str, Any]]) -> None:
        if endpoints:
            self._shops[shop_id] = endpoints
        else:
            self._shops.pop(shop_id, None)

    # -- endpoints --------------------------------------------------------------------

    async def list(self, shop_id: int) -> list[dict[str, Any]]:
        doc = await self.storage.webhooks.find_one({"_id": shop_id, "shopId": shop_id})
        endpoints = list((doc or {}).get("endpoints") or [])
        self._remember(shop_id, endpoints)
        return endpoints

    async def get(self, shop_id: int, endpoint_id: str) -> dict[str, Any]:
        for endpoint in await self.list(shop_id):
            if endpoint["endpointId"] == endpoint_id:
                return endpoint
        raise NotFound(f"shop {shop_id} has no webhook endpoint {endpoint_id!r}",
                       field="endpointId")

    async def add(
        self, shop_id: int, url: str, types: list[str] | None, names: list[str] | None
    ) -> tuple[dict[str, Any], str]:
        """A new endpoint and its secret (shown once)."""
        url = check_url(url)
        names = _names(names)
        await check_destination(url, self.settings.webhook_allow_private)
        secret = new_secret()
        endpoint = {
            "endpointId": "ep_" + secrets.token_hex(8),
            "url": url,
            "types": list(dict.fromkeys(types or ())),
            "names": names,
            "enabled": True,
            "disabledReason": None,
            "createdAt": self.clock.now(),
            "secret": secret,
            "failingSince": None,
        }
        try:
            # The filter holds only while the shop has fewer than MAX_ENDPOINTS: a full
            # shop's document does not match, and the upsert then collides on `_id`.
            await self.storage.webhooks.update_one(
                {"_id": shop_id, "shopId": shop_id, f"endpoints.{MAX_ENDPOINTS - 1}":
                    {"$exists": False}},
                {"$push": {"endpoints": endpoint}, "$set": {"updatedAt": self.clock.now()}},
                upsert=True)
        except DuplicateKeyError:
            raise BadInput(f"a shop has at most {MAX_ENDPOINTS} webhook endpoints",
                           field="url") from None
        await self.list(shop_id)  # remembered at once
        return endpoint, secret

    async def update(
        self, shop_id: int, endpoint_id: str, *, url: str | None = None,
        types: list[str] | None = None, names: list[str] | None = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Change what is given; enabling clears the reason it was disabled."""
        changes: dict[str, Any] = {}
        if url is not None:
            changes["url"] = check_url(url)
        if types is not None:
            changes["types"] = list(dict.fromkeys(types))
        if names is not None:
            changes["names"] = _names(names)
        if enabled is not None:
            changes["enabled"] = enabled
            changes["disabledReason"] = None if enabled else "disabled by the shop"
            changes["failingSince"] = None
        if "url" in changes:
            await check_destination(changes["url"], self.settings.webhook_allow_private)
        return await self._set(shop_id, endpoint_id, changes)

    async def rotate(self, shop_id: int, endpoint_id: str) -> tuple[dict[str, Any], str]:
        """A new secret, used for every attempt from now on."""
        secret = new_secret()
        return await self._set(shop_id, endpoint_id, {"secret": secret}), secret

    async def disable(self, shop_id: int, endpoint_id: str, reason: str) -> None:
        await self._set(shop_id, endpoint_id, {"enabled": False, "disabledReason": reason})

    async def mark_failing(self, shop_id: int, endpoint_id: str, since: datetime | None) -> None:
        """Record since when every delivery to the endpoint failed (None: one succeeded).

        A start is written only over none, so that two processes noting failures keep
        the earlier one."""
        match: dict[str, Any] = {"endpointId": endpoint_id}
        if since is not None:
            match["failingSince"] = None
        await self.storage.webhooks.update_one(
            {"_id": shop_id, "shopId": shop_id, "endpoints": {"$elemMatch": match}},
            {"$set": {"endpoints.$.failingSince": since}})

    async def note_health(self, shop_id: int, endpoint: dict[str, Any], now: datetime,
                          error: str | None) -> None:
        """After an attempt: track since when every attempt failed (`endpoint` is the
        sender's copy, kept up to date so a batch writes once); disable the endpoint
        once that is DISABLE_AFTER ago."""
        since = endpoint.get("failingSince")
        endpoint_id = endpoint["endpointId"]
        if error is None:
            if since is not None:
                endpoint["failingSince"] = None
                await self.mark_failing(shop_id, endpoint_id, None)
        elif since is None:
            endpoint["failingSince"] = now
            await self.mark_failing(shop_id, endpoint_id, now)
        elif now - utc(since) >= DISABLE_AFTER and endpoint.get("enabled"):
            endpoint["enabled"] = False
            reason = (f"every delivery failed since {utc(since).isoformat()} (5 days); "
                      f"last error: {error}")
            await self.disable(shop_id, endpoint_id, reason[:300])

    async def delete(self, shop_id: int, endpoint_id: str) -> bool:
        """Remove the endpoint and its deliveries; NotFound if the shop has no such endpoint
        (the filter names it: `$set` alone would count as a change of the shop's document)."""
        result = await self.storage.webhooks.update_one(
            {"_id": shop_id, "shopId": shop_id, "endpoints.endpointId": endpoint_id},
            {"$pull": {"endpoints": {"endpointId": endpoint_id}},
             "$set": {"updatedAt": self.clock.now()}})
        await self.list(shop_id)
        # Deliveries queued meanwhile by a process that still had the endpoint cached
        # are dropped by the sender when it finds no endpoint for them. Deleted even when
        # the endpoint is gone already: a retry finishes what a failed call began.
        await self.storage.webhook_deliveries.delete_many(
            {"shopId": shop_id, "endpointId": endpoint_id})
        if result.matched_count == 0:
            raise NotFound(f"shop {shop_id} has no webhook endpoint {endpoint_id!r}",
                           field="endpointId")
        return True

    async def _set(self, shop_id: int, endpoint_id: str, changes: dict[str, Any]
                   ) -> dict[str, Any]:
        # update_one, then a read: the embedded store's find_one_and_update ignores the
        # positional `$` and would change the first endpoint instead.
        if changes:
            result = await self.storage.webhooks.update_one(
                {"_id": shop_id, "shopId": shop_id, "endpoints.endpointId": endpoint_id},
                {"$set": {"updatedAt": self.clock.now(),
                          **{f"endpoints.$.{k}": v for k, v in changes.items()}}})
            if result.matched_count == 0:
                raise NotFound(f"shop {shop_id} has no webhook endpoint {endpoint_id!r}",
                               field="endpointId")
        return await self.get(shop_id, endpoint_id)
