"""What the webhook tests share: endpoints over the API, the delivery log, fast settings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.support.live import DEADLINE, LiveServer
from tests.support.webhook_receiver import Receiver

# Workers that look often, a fast retry schedule and a short timeout: the tests wait on
# conditions, never on the clock, and these only make the conditions come sooner.
FAST = {"webhook_allow_private": True, "webhook_poll_seconds": 0.05,
        "webhook_schedule": "0.2,0.2", "webhook_timeout_seconds": 1.0}

ADD = """mutation($s: Int!, $url: String!, $types: [TriggerType!], $names: [String!]) {
  addWebhookEndpoint(shopId: $s, url: $url, types: $types, names: $names) {
    secret endpoint { endpointId url types names enabled disabledReason createdAt } } }"""
DELIVERIES = """query($s: Int!, $e: ID, $st: [DeliveryStatus!], $first: Int, $after: String) {
  webhookDeliveries(shopId: $s, endpointId: $e, status: $st, first: $first, after: $after) {
    nodes { deliveryId endpointId triggerId status attempts lastAttemptAt nextAttemptAt
            lastStatusCode lastError deliveredAt }
    pageInfo { hasNextPage endCursor } } }"""


async def add_endpoint(server: LiveServer, key: str, receiver: Receiver, name: str,
                       answers: list[int] | None = None, shop_id: int = 1,
                       **filters: Any) -> str:
    """An endpoint at the receiver's `/hooks/<name>`; the receiver verifies with its secret."""
    data = await server.graphql(ADD, {"s": shop_id, "url": receiver.url(name), **filters},
                                key=key)
    created = data["addWebhookEndpoint"]
    receiver.expect(name, created["secret"], answers)
    return str(created["endpoint"]["endpointId"])


async def deliveries(server: LiveServer, key: str, endpoint_id: str | None = None,
                     shop_id: int = 1) -> list[dict[str, Any]]:
    """Every delivery of the log, as a client pages through it."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await server.graphql(DELIVERIES, {"s": shop_id, "e": endpoint_id,
                                                  "first": 100, "after": after},
                                     key=key))["webhookDeliveries"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


async def settled(server: LiveServer, key: str, count: int,
                  endpoint_id: str | None = None) -> bool:
    """True once `count` deliveries are logged and none is pending."""
    logged = await deliveries(server, key, endpoint_id)
    return len(logged) >= count and all(d["status"] != "PENDING" for d in logged)


async def until(condition: Callable[[], Awaitable[bool]], what: str,
                deadline: float = DEADLINE) -> None:
    """Wait until the async `condition()` holds; fail naming `what` after `deadline` s."""
    end = time.monotonic() + deadline
    while not await condition():
        assert time.monotonic() < end, f"gave up waiting until {what}"
        await asyncio.sleep(0.05)
