"""Requests held open: their body is sent only when the test lets it go, so they are
under way (accepted, read in part) at a moment the test chooses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app.server.fastpath import TRACKER_DOCUMENT


class Gate:
    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.started = 0  # requests whose first bytes of body are sent

    async def body(self, payload: bytes) -> AsyncIterator[bytes]:
        half = len(payload) // 2
        yield payload[:half]
        self.started += 1
        await self.opened.wait()
        yield payload[half:]


def batch(shop_id: int, visitor: str, count: int) -> dict[str, Any]:
    return {"query": TRACKER_DOCUMENT, "variables": {"e": [
        {"type": "PRODUCT_VIEW", "productId": f"p{n}", "categoryId": "c1",
         "context": {"shopId": shop_id, "visitorId": visitor, "eventId": f"{visitor}-{n}"}}
        for n in range(count)]}}


async def held_request(base_url: str, gate: Gate, payload: dict[str, Any]) -> httpx.Response:
    """POST /graphql on a connection of its own, the body's second half held at the gate."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.post("/graphql", content=gate.body(json.dumps(payload).encode()),
                                 headers={"content-type": "application/json"})
