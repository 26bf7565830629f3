"""A bare GraphQL WebSocket client for tests that look at the protocol itself:
close codes, refusals, one message at a time (the `gql` client hides all that)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.live import DEADLINE, GRAPHQL_TRANSPORT_WS

__all__ = ["ConnectionClosed", "WsClient"]


class WsClient:
    def __init__(self, url: str, protocol: str = GRAPHQL_TRANSPORT_WS) -> None:
        self.url = url
        self.protocol = protocol
        self.ws: Any = None

    async def __aenter__(self) -> WsClient:
        self.ws = await websockets.connect(self.url, subprotocols=[self.protocol])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.ws.close()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self) -> dict[str, Any]:
        """The next message that is not a keep-alive."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), DEADLINE))
            if message.get("type") != "ka":
                return message

    async def init(self, key: str | None) -> dict[str, Any]:
        """Send connection_init with the key; the server's answer."""
        await self.send({"type": "connection_init",
                         "payload": {"authorization": f"Bearer {key}"} if key else {}})
        return await self.recv()

    async def closed(self) -> tuple[int | None, str]:
        """Wait until the server closes the connection: its close code and reason."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), DEADLINE)
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return (frame.code, frame.reason) if frame else (None, "")

    async def run(self, op_id: str, query: str,
                  variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One query or mutation over graphql-transport-ws: the payload of its result."""
        await self.send({"id": op_id, "type": "subscribe",
                         "payload": {"query": query, "variables": variables or {}}})
        result = await self.recv()
        assert result["id"] == op_id, result
        if result["type"] == "error":  # refused before it ran; nothing follows
            return {"data": None, "errors": result["payload"]}
        assert result["type"] == "next", result
        done = await self.recv()
        assert done == {"id": op_id, "type": "complete"}, done
        return result["payload"]
